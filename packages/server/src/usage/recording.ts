import type { FastifyReply, FastifyRequest } from 'fastify';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import type { EndpointClass } from '../config.ts';
import type { Database } from '../db/schema.ts';
import { UsageCounter, type KeyOfCount } from './counter.ts';
import { RequestLogBuffer } from './request-log-buffer.ts';
import { sweepExpired } from './repository.ts';
import type { UsageSink } from './sink.ts';

const DAY_MS = 86_400_000;
/** The share of the event loop the request log's writer leaves idle, when it has to share the loop with requests. */
const LOOP_HEADROOM = 0.1;

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
   * wait, or when `requestLogMaxWaitMs` went by since the last write. So under load the store gets a full statement
   * every few milliseconds, spread evenly (a write once a second was sixty statements in a burst at 30,000 requests a
   * second: a pause in answers at saturation), and a quiet server still writes once a second, not ten times.
   */
  requestLogFlushMs?: number;
  /** The longest a row waits for a write while fewer than a statement's rows wait (default 1 s). */
  requestLogMaxWaitMs?: number;
  /** Rows the request log may hold in memory before it drops (default 50,000). */
  requestLogCapacity?: number;
  /**
   * Rows per statement (default 500). Between two statements the writer lets the event loop run: on the embedded
   * store the insert runs on this thread, so a statement is that long a pause for every request in flight.
   */
  requestLogBatch?: number;
  /**
   * Unset: the timer's write of the request log writes all that waits. Set (the embedded store, whose inserts run on
   * this thread: createUsageRecording): it writes for as long as requests left the event loop idle since the last
   * write, less a tenth, and at least this share of the time since (0.025: 2.5 ms of every 100); what it leaves waits
   * in the buffer, which drops and counts past its capacity. So at the highest rate the machine sustains, requests come
   * first and the log counts what it could not keep; below it, the log keeps up.
   */
  requestLogLeastLoopShare?: number;
  /** The event loop's utilization since `since` (tests replace it). */
  loopUtilization?: (since?: EventLoopUtilization) => EventLoopUtilization;
  /** How often expired rows are swept (default 10 minutes). */
  sweepMs?: number;
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
  private readonly loopUtilization: (since?: EventLoopUtilization) => EventLoopUtilization;
  private loopAtLastLogWrite: EventLoopUtilization;
  /** When the timer last wrote the request log (performance.now(): real time, whatever clock `now` is). */
  private lastLogWriteAt = performance.now();
  /** Milliseconds the request log's statements took since the last timer write (on this thread, for PGlite). */
  private logWriteMs = 0;

  constructor(private readonly options: UsageRecordingOptions) {
    this.requestLog = new RequestLogBuffer(options.requestLogCapacity ?? 50_000);
    this.batch = options.requestLogBatch ?? 500;
    this.lastUsageWriteAt = options.now();
    this.loopUtilization = options.loopUtilization ?? ((since) => performance.eventLoopUtilization(since));
    this.loopAtLastLogWrite = this.loopUtilization();
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

  flushRequestLog(): Promise<void> {
    return this.startRequestLogWrite(Number.POSITIVE_INFINITY);
  }

  /** The timer's tick: a write when a statement's rows wait or the oldest may have waited long enough. */
  flushRequestLogWhenDue(): Promise<void> {
    const size = this.requestLog.size;
    if (size === 0) return Promise.resolve();
    const waitedMs = performance.now() - this.lastLogWriteAt;
    if (size < this.batch && waitedMs < (this.options.requestLogMaxWaitMs ?? 1_000)) return Promise.resolve();
    return this.flushRequestLogWithinBudget();
  }

  /** The timer's write: all that waits, or as long as requests left the loop idle (see requestLogLeastLoopShare). */
  flushRequestLogWithinBudget(): Promise<void> {
    this.lastLogWriteAt = performance.now();
    const loop = this.loopUtilization(this.loopAtLastLogWrite);
    this.loopAtLastLogWrite = this.loopUtilization();
    const writerMs = this.logWriteMs;
    this.logWriteMs = 0;
    const leastShare = this.options.requestLogLeastLoopShare;
    if (leastShare === undefined) return this.startRequestLogWrite(Number.POSITIVE_INFINITY);
    // The loop's busy time, less the writer's own, is what requests took; the rest of the interval was theirs to spare.
    const elapsedMs = loop.idle + loop.active;
    const requestsMs = Math.max(0, loop.active - writerMs);
    const spareMs = elapsedMs * (1 - LOOP_HEADROOM) - requestsMs;
    return this.startRequestLogWrite(Math.max(elapsedMs * leastShare, spareMs));
  }

  private startRequestLogWrite(budgetMs: number): Promise<void> {
    this.logFlushing ??= this.writeRequestLog(budgetMs).finally(() => {
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

  private async writeRequestLog(budgetMs: number): Promise<void> {
    let spentMs = 0;
    while (this.requestLog.size > 0 && spentMs < budgetMs) {
      const rows = this.requestLog.take(this.batch);
      const started = performance.now();
      try {
        await this.options.sink.appendRequests(rows);
        this.requestLog.written += rows.length;
      } catch (error) {
        // The buffer stays bounded: rows that could not be written are dropped and counted, not retried forever.
        this.requestLog.dropped += rows.length;
        throw error;
      } finally {
        const tookMs = performance.now() - started;
        spentMs += tookMs;
        this.logWriteMs += tookMs;
      }
      // Requests first, then the next batch. PGlite answers a query without a turn of the event loop (its await is
      // a resolved promise), so without this a second's rows would go out in one pause of the loop, however batched.
      if (this.requestLog.size > 0) await yieldToEventLoop();
    }
  }
}
