import autocannon from 'autocannon';
import type { ServerHandle } from './server-process.ts';
import { median, percentile, round } from './stats.ts';

export interface LoadSpec {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  connections: number;
  /** Seconds; ignored when `amount` is set. */
  duration?: number;
  amount?: number;
  /** Rewrites each request before it is sent (cycling keys, fresh Idempotency-Keys). */
  setupRequest?: (request: autocannon.Request) => autocannon.Request;
}

export interface LoadResult {
  /** Responses per second over the run (all statuses). */
  rps: number;
  responses: number;
  durationSec: number;
  /** Latency of 2xx responses in milliseconds (to 0.01 ms from runLoad; whole milliseconds from a flood child). */
  p50: number;
  p99: number;
  max: number;
  statusCounts: Record<string, number>;
  errors: number;
  timeouts: number;
  /** Server CPU time (user + system, all threads) per response, in microseconds, when the arm knows its server. */
  cpuUsPerResponse?: number;
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const options: autocannon.Options = {
    url: spec.url,
    method: spec.method ?? 'GET',
    headers: spec.headers ?? {},
    ...(spec.body === undefined ? {} : { body: spec.body }),
    connections: spec.connections,
    pipelining: 1,
    ...(spec.amount === undefined ? { duration: spec.duration ?? 5 } : { amount: spec.amount }),
    ...(spec.setupRequest ? { requests: [{ setupRequest: spec.setupRequest }] } : {}),
    timeout: 30,
  };
  const startedAt = performance.now();
  let lastResponseAt = startedAt;
  // autocannon's own histogram keeps whole milliseconds; its response events carry the exact time.
  const latencies: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(options, (error, done) => (error ? reject(error) : resolve(done)));
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      lastResponseAt = performance.now();
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
    });
  });
  const summary = { ...summarize(result), ...(latencies.length > 0 ? { p50: round(percentile(latencies, 50), 2), p99: round(percentile(latencies, 99), 2) } : {}) };
  // autocannon ends a run of `amount` requests on its next one-second tick; the rate runs to the last response.
  if (spec.amount === undefined) return summary;
  const durationSec = (lastResponseAt - startedAt) / 1000;
  return { ...summary, durationSec, rps: summary.responses / durationSec };
}

export function summarize(result: autocannon.Result): LoadResult {
  const statusCounts: Record<string, number> = {};
  for (const [status, stat] of Object.entries(result.statusCodeStats ?? {})) statusCounts[status] = Number(stat.count ?? 0);
  const responses = Object.values(statusCounts).reduce((sum, count) => sum + count, 0);
  const durationSec = (result.finish.getTime() - result.start.getTime()) / 1000;
  return {
    rps: responses / durationSec,
    responses,
    durationSec,
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    statusCounts,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

export const share = (result: LoadResult, status: string): number => (result.responses === 0 ? 0 : (result.statusCounts[status] ?? 0) / result.responses);

/** One arm of an interleaved comparison: something that runs for `durationSec` and reports a LoadResult. */
export interface Arm {
  name: string;
  run(durationSec: number): Promise<LoadResult>;
  /** The server's CPU probe, so that a run can wait for every server to be idle before it starts. */
  cpu?: CpuProbe;
}

/** Reads a server's process CPU seconds (prom-client's process_cpu_seconds_total on /metrics). */
export type CpuProbe = () => Promise<number | undefined>;

/**
 * Runs `load` and, given the server's CPU probe, charges the server CPU it used to each response: on a shared
 * machine throughput moves with whatever else runs, while CPU per request mostly does not.
 */
export async function measured(load: () => Promise<LoadResult>, cpu?: CpuProbe): Promise<LoadResult> {
  const before = await cpu?.();
  const result = await load();
  const after = await cpu?.();
  if (before === undefined || after === undefined || result.responses === 0) return result;
  return { ...result, cpuUsPerResponse: ((after - before) * 1e6) / result.responses };
}

export const loadArm = (name: string, spec: Omit<LoadSpec, 'duration' | 'amount'>, cpu?: CpuProbe): Arm => ({
  name,
  cpu,
  run: (duration) => measured(() => runLoad({ ...spec, duration }), cpu),
});

const SETTLE_WINDOW_MS = 200;
/** A server using less than a tenth of a core over the window counts as idle. */
const IDLE_CPU_SECONDS = (SETTLE_WINDOW_MS / 1000) * 0.1;
const SETTLE_MAX_MS = 5_000;

/**
 * Waits until no server of the run is busy. A server finishes work after its load ends (the request log and usage
 * are written behind, and on the embedded store in the loop's idle time): on two shared cores that work would be
 * charged to whichever arm runs next. Returns how long it waited.
 */
async function settle(arms: Arm[]): Promise<number> {
  const probes = [...new Set(arms.flatMap((arm) => (arm.cpu ? [arm.cpu] : [])))];
  const started = performance.now();
  while (performance.now() - started < SETTLE_MAX_MS) {
    const before = await Promise.all(probes.map((probe) => probe()));
    await new Promise((resolve) => setTimeout(resolve, SETTLE_WINDOW_MS));
    const after = await Promise.all(probes.map((probe) => probe()));
    if (after.every((seconds, i) => seconds === undefined || before[i] === undefined || seconds - before[i]! < IDLE_CPU_SECONDS)) break;
  }
  return performance.now() - started;
}

export interface ArmSummary {
  name: string;
  runs: LoadResult[];
  rps: number;
  p99: number;
  p50: number;
  cpuUsPerResponse: number;
}

/**
 * Warms every arm up, then runs them interleaved (A B C, B C A, C A B) so drift on a shared machine (another
 * process, a thermal change, the JIT) and the place in a round land on every arm alike; reports per-arm medians.
 */
export async function interleave(
  arms: Arm[],
  options: { rounds: number; durationSec: number; warmupSec: number; log: (message: string) => void },
): Promise<Record<string, ArmSummary>> {
  for (const arm of arms) {
    if (options.warmupSec > 0) {
      const warm = await arm.run(options.warmupSec);
      options.log(`  warm-up ${arm.name}: ${Math.round(warm.rps)} req/s`);
    }
  }
  const runs = new Map<string, LoadResult[]>(arms.map((arm) => [arm.name, []]));
  for (let round = 1; round <= options.rounds; round++) {
    // Each round starts one arm later, so no arm always runs in the same place after the same other arm: in a fixed
    // order the arm that followed the healthz floor ran 6 to 12% faster than the next, whichever server it measured
    // (bench tracing, 2026-12-01, the two whoami arms swapped), which is a ratio's whole margin.
    for (const arm of arms.map((_, index) => arms[(index + round - 1) % arms.length]!)) {
      const waited = await settle(arms);
      if (waited >= SETTLE_MAX_MS) options.log(`  (a server was still busy after ${SETTLE_MAX_MS} ms; ${arm.name} starts anyway)`);
      const result = await arm.run(options.durationSec);
      runs.get(arm.name)!.push(result);
      logRound(options.log, round, arm.name, result);
    }
  }
  return summariesOf(runs);
}

/** One measured run's line in the bench's progress log. */
export function logRound(log: (message: string) => void, round: number, name: string, result: LoadResult): void {
  const cpu = result.cpuUsPerResponse === undefined ? '' : `, ${result.cpuUsPerResponse.toFixed(1)} µs CPU/response`;
  log(`  round ${round} ${name}: ${Math.round(result.rps)} req/s, p99 ${result.p99} ms${cpu} ${JSON.stringify(result.statusCounts)}`);
}

/** Each arm's runs and their medians. */
export function summariesOf(runs: ReadonlyMap<string, LoadResult[]>): Record<string, ArmSummary> {
  const summary: Record<string, ArmSummary> = {};
  for (const [name, results] of runs) {
    summary[name] = {
      name,
      runs: results,
      rps: median(results.map((result) => result.rps)),
      p99: median(results.map((result) => result.p99)),
      p50: median(results.map((result) => result.p50)),
      cpuUsPerResponse: median(results.flatMap((result) => result.cpuUsPerResponse ?? [])),
    };
  }
  return summary;
}

/** GET /v1/whoami, each run with a key of `group` verified just before it (see ServerHandle.freshKey). */
export function whoamiArm(name: string, server: ServerHandle, connections: number, group?: string): Arm {
  return {
    name,
    run: async (duration) => {
      const key = await server.freshKey(group);
      return measured(() => runLoad({ url: `${server.baseUrl}/v1/whoami`, headers: { 'x-api-key': key }, connections, duration }), server.cpuSeconds);
    },
    cpu: server.cpuSeconds,
  };
}
