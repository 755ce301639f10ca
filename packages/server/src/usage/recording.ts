import type { FastifyReply, FastifyRequest } from 'fastify';
import { performance } from 'node:perf_hooks';
import type { Kysely } from 'kysely';
import type { EndpointClass } from '../config.ts';
import type { Database } from '../db/schema.ts';
import { UsageCounter, type KeyOfCount } from './counter.ts';
import { CpuPressure } from './cpu-pressure.ts';
import { RequestLogBuffer } from './request-log-buffer.ts';
import { sweepExpired } from './repository.ts';
import type { UsageSink } from './sink.ts';

const DAY_MS = 86_400_000;

/**
 * How far one write of the request log goes: everything (a flush); on from its first statement only while whole
 * statements wait (the timer's); or its first statement alone (the timer's, while answering is short of CPU).
 */
type WriteMode = 'all' | 'whole statements after the first' | 'one statement, then yield';

/** SPEC 8.7 retention: minutes 2 days, hours 90 days, days 2 years (730 days). */
export const USAGE_RETENTION_DAYS = { minute: 2, hour: 90, day: 730 } as const;

export interface UsageRecordingOptions {
  sink: UsageSink;
  /** Where retention sweeps run (the sink writes; sweeping is the store's own business). */
  db: Kysely<Database>;
  now: () => number;
  /** GATEHOUSE_REQUEST_LOG_DAYS. */
  requestLogDays: number;
  onError: (error: unknown, what: string) => void;
  /** How often counted usage is written (default 5 s). */
  usageFlushMs?: number;
  /**
   * Past this many keys counted since the last write (default 2,000), the timer writes usage only every
   * `usageFlushManyKeysMs` (default 60 s): every key counted costs three upserts per write, so with many keys in use
   * a write every 5 s would cost the store twelve times what one a minute does, for the same counts.
   */
  usageManyKeys?: number;
  usageFlushManyKeysMs?: number;
  /**
   * How often the request log's timer looks at its buffer (default 100 ms). It writes when a whole statement's rows
   * wait, or when `requestLogMaxWaitMs` went by since the last write. So under load the store gets the whole
   * statements that waited every tick, spread evenly (a write once a second was sixty statements in a burst at 30,000
   * requests a second: a pause in answers at saturation), and a quiet server still writes once a second, not ten times.
   */
  requestLogFlushMs?: number;
  /** The longest a row waits for a write while fewer than a statement's rows wait (default 1 s). */
  requestLogMaxWaitMs?: number;
  /** Rows the request log may hold in memory before it drops (default 50,000). */
  requestLogCapacity?: number;
  /** Rows per statement (default 500). */
  requestLogBatch?: number;
  /** How often expired rows are swept (default 10 minutes). */
  sweepMs?: number;
  /**
   * Whether answering is short of CPU now (default: a CpuPressure reading). While it is, the timer's writes are one
   * statement each and take at most `requestLogShareWhileShort` of the time (a flush is never held back); the buffer
   * takes the rest and drops and counts past its capacity. The log's rows cost the store some 12 µs each on PostgreSQL and 19 on the embedded
   * store: at the highest rate two cores sustain, a third of a core taken from answering, and p99 with it.
   */
  cpuShort?: () => boolean;
  /**
   * Share of the time the request log's writes may take while answering is short of CPU (default 0.01). At 96
   * connections on PostgreSQL, 0.05 cost 5 to 10% of throughput where writing nothing cost none; 0.01 keeps rows
   * trickling into the store while a saturated server's buffer stays full.
   */
  requestLogShareWhileShort?: number;
}

/**
 * Usage counters and the request log of this instance: counted and buffered in memory on the request path, written
 * behind by timers, swept by retention. Nothing here touches the store while a request is answered.
 */
export class UsageRecording {
  readonly counter = new UsageCounter();
  readonly requestLog: RequestLogBuffer;
  /** Usage batches the store refused (given back to the counter and retried). */
  usageFlushFailures = 0;
  private timers: NodeJS.Timeout[] = [];
  private usageFlushing: Promise<void> | undefined;
  private logFlushing: Promise<void> | undefined;
  private readonly batch: number;
  private lastUsageWriteAt: number;
  /** When a write of the request log last began (performance.now(): real time, whatever clock `now` is). */
  private lastLogWriteAt = performance.now();
  /** While answering is short of CPU, the timer's next write waits until then (performance.now()). */
  private yieldUntil = 0;
  private readonly cpuShort: () => boolean;
  /** Whether the timer last found answering short of CPU: its writes yield (a gauge in /metrics). */
  requestLogYielding = false;

  constructor(private readonly options: UsageRecordingOptions) {
    this.requestLog = new RequestLogBuffer(options.requestLogCapacity ?? 50_000);
    this.batch = options.requestLogBatch ?? 500;
    this.lastUsageWriteAt = options.now();
    if (options.cpuShort) this.cpuShort = options.cpuShort;
    else {
      const pressure = new CpuPressure();
      this.cpuShort = () => pressure.isShort();
    }
  }

  start(): void {
    const every = (ms: number, run: () => Promise<unknown>, what: string) => {
      const timer = setInterval(() => void run().catch((error: unknown) => this.options.onError(error, what)), ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(this.options.usageFlushMs ?? 5_000, () => this.flushUsageWhenDue(), 'usage flush');
    every(this.options.requestLogFlushMs ?? 100, () => this.flushRequestLogWhenDue(), 'request log flush');
    every(this.options.sweepMs ?? 600_000, () => this.sweep(), 'usage retention sweep');
  }

  /** On the request path: memory only (one counter step and one row object). */
  record(key: KeyOfCount | undefined, request: FastifyRequest, reply: FastifyReply, route: string | null, endpointClass: EndpointClass | null): void {
    const at = this.options.now();
    const status = reply.statusCode;
    if (key && endpointClass) this.counter.count(key, endpointClass, status, at);
    this.requestLog.append({
      requestId: request.id,
      at,
      organizationId: key?.organizationId ?? null,
      apiKeyId: key?.apiKeyId ?? null,
      env: key?.env ?? 'live',
      method: request.method,
      route,
      status,
      errorCode: request.errorCode ?? null,
      endpointClass,
      durationMs: reply.elapsedTime,
      clientAddress: request.ip ?? null,
    });
  }

  /** Writes everything counted and buffered so far (tests, and shutdown). */
  async flush(): Promise<void> {
    await Promise.all([this.flushUsage(), this.flushRequestLog()]);
  }

  /**
   * The timer's write: every tick while few keys were counted; once many were, only when the last write is
   * `usageFlushManyKeysMs` old, so that with many keys in use a write covers many requests of each.
   */
  flushUsageWhenDue(): Promise<void> {
    const many = this.counter.trackedKeys > (this.options.usageManyKeys ?? 2_000);
    if (many && this.options.now() - this.lastUsageWriteAt < (this.options.usageFlushManyKeysMs ?? 60_000)) return Promise.resolve();
    return this.flushUsage();
  }

  flushUsage(): Promise<void> {
    // One write at a time: a slow store never piles up overlapping writes.
    this.usageFlushing ??= this.writeUsage().finally(() => {
      this.usageFlushing = undefined;
    });
    return this.usageFlushing;
  }

  /** Writes all that waits, a statement at a time, after any write under way; one writer at a time. */
  flushRequestLog(): Promise<void> {
    if (this.logFlushing) {
      const afterIt = () => this.flushRequestLog();
      return this.logFlushing.then(afterIt, afterIt);
    }
    return this.writeLog('all');
  }

  /**
   * The timer's tick: a write when a statement's rows wait or the oldest may have waited long enough. Past its first
   * statement the write goes on only while whole statements wait: rows that arrive while it writes wait for a later
   * tick. Writing them at once, as they came, made a statement of whatever a write's round trip let in: 42 rows on
   * average at 8,000 whoami a second on PostgreSQL, where every statement costs the store a commit and this thread
   * a checkout, a COPY and their replies. Whole statements took 15 µs a response off this thread and 14 off the
   * store's processes (interleaved on one database: 104.5 against 119.6 µs here, 6.6 against 20.5 in PostgreSQL).
   */
  flushRequestLogWhenDue(): Promise<void> {
    if (this.logFlushing) return this.logFlushing;
    const size = this.requestLog.size;
    if (size === 0) return Promise.resolve();
    const waitedMs = performance.now() - this.lastLogWriteAt;
    if (size < this.batch && waitedMs < (this.options.requestLogMaxWaitMs ?? 1_000)) return Promise.resolve();
    this.requestLogYielding = this.cpuShort();
    if (!this.requestLogYielding) return this.writeLog('whole statements after the first');
    if (performance.now() < this.yieldUntil) return Promise.resolve();
    return this.writeLog('one statement, then yield');
  }

  private writeLog(mode: WriteMode): Promise<void> {
    this.logFlushing = this.writeRequestLog(mode).finally(() => {
      this.logFlushing = undefined;
    });
    return this.logFlushing;
  }

  /** Retention on the injected clock: what each granularity and the request log no longer keep goes. */
  sweep(): Promise<number> {
    const now = this.options.now();
    const before = (days: number) => new Date(now - days * DAY_MS);
    return sweepExpired(this.options.db, {
      minute: before(USAGE_RETENTION_DAYS.minute),
      hour: before(USAGE_RETENTION_DAYS.hour),
      day: before(USAGE_RETENTION_DAYS.day),
      requestLog: before(this.options.requestLogDays),
    });
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    await this.flush().catch((error: unknown) => this.options.onError(error, 'final usage flush'));
  }

  private async writeUsage(): Promise<void> {
    this.lastUsageWriteAt = this.options.now();
    const batch = this.counter.drain();
    if (batch.length === 0) return;
    try {
      await this.options.sink.addUsage(batch);
    } catch (error) {
      // The batch was not stored (the write is one transaction): it goes out again with the next one.
      this.counter.restore(batch);
      this.usageFlushFailures++;
      throw error;
    }
  }

  private async writeRequestLog(mode: WriteMode): Promise<void> {
    const startedAt = performance.now();
    this.lastLogWriteAt = startedAt;
    try {
      for (let first = true; this.requestLog.size > 0; first = false) {
        if (!first && mode === 'one statement, then yield') return;
        if (!first && mode === 'whole statements after the first') {
          if (this.requestLog.size < this.batch) return;
          // Catching up on a full buffer takes seconds: it stops once answering is short of CPU again.
          this.requestLogYielding = this.cpuShort();
          if (this.requestLogYielding) return;
        }
        const rows = this.requestLog.take(this.batch);
        try {
          await this.options.sink.appendRequests(rows);
          this.requestLog.written += rows.length;
        } catch (error) {
          // The buffer stays bounded: rows that could not be written are dropped and counted, not retried forever.
          this.requestLog.dropped += rows.length;
          throw error;
        }
      }
    } finally {
      if (mode === 'one statement, then yield') {
        // A write that took d ms is followed by d × (1/share − 1) ms without one: writes take `share` of the time.
        const tookMs = performance.now() - startedAt;
        this.yieldUntil = performance.now() + tookMs * (1 / (this.options.requestLogShareWhileShort ?? 0.01) - 1);
      }
    }
  }
}
