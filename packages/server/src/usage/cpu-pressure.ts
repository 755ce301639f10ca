import { cpus } from 'node:os';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';

/** A reading covers at least this long: /proc/stat counts in 10 ms ticks, so 100 ms on two cores is 5% a tick. */
const MIN_WINDOW_MS = 500;

export interface CpuPressureOptions {
  /** The CPU is short when less than this share of all cores' time went idle (default 0.1). */
  minIdleShare?: number;
  /**
   * The CPU is short when this process's event loop was busy more than this share of the time (default 0.8). On two
   * shared cores, whoami at 16 connections already answered as many requests a second as at 96, with the loop some
   * 86% busy and 20% of the machine still idle: at 0.9 the writer yielded in some runs and not in others, and where it
   * wrote at its full pace the server answered 0.84× as many (the median of ten paired rounds; 0.95 at 0.8).
   */
  maxLoopUtilization?: number;
}

/** Idle and total CPU time of every core of the machine, in milliseconds since boot. */
function machineTimes(): { idle: number; total: number } {
  let idle = 0;
  let total = 0;
  for (const { times } of cpus()) {
    idle += times.idle;
    total += times.user + times.nice + times.sys + times.idle + times.irq;
  }
  return { idle, total };
}

/**
 * Whether answering requests is short of CPU, for work that can wait (the request log's writer yields while it is).
 * Two readings over the same window: the share of all the machine's cores that went idle, which shows whatever else
 * competes with this process (the store's processes or thread, a load balancer, another instance); and this process's
 * event-loop utilization, which shows the process at its limit where the machine is not (a container's CPU quota, a
 * store on another machine).
 */
export class CpuPressure {
  private readonly minIdleShare: number;
  private readonly maxLoopUtilization: number;
  private lastTimes = machineTimes();
  private lastLoop: EventLoopUtilization = performance.eventLoopUtilization();
  private lastReadAt = performance.now();
  private short = false;
  /** The last window's idle share of the machine's cores and busy share of this event loop (for metrics). */
  idleShare = 1;
  loopUtilization = 0;

  constructor(options: CpuPressureOptions = {}) {
    this.minIdleShare = options.minIdleShare ?? 0.1;
    this.maxLoopUtilization = options.maxLoopUtilization ?? 0.8;
  }

  /** Whether the CPU was short over the last window; a new window is read once the last is MIN_WINDOW_MS old. */
  isShort(): boolean {
    if (performance.now() - this.lastReadAt < MIN_WINDOW_MS) return this.short;
    this.lastReadAt = performance.now();
    const times = machineTimes();
    const total = times.total - this.lastTimes.total;
    if (total > 0) this.idleShare = (times.idle - this.lastTimes.idle) / total;
    this.lastTimes = times;
    const loop = performance.eventLoopUtilization();
    this.loopUtilization = performance.eventLoopUtilization(loop, this.lastLoop).utilization;
    this.lastLoop = loop;
    this.short = this.idleShare < this.minIdleShare || this.loopUtilization > this.maxLoopUtilization;
    return this.short;
  }
}
