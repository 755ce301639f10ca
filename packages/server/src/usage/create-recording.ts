import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Store } from '../db/create-db.ts';
import type { Metrics } from '../observability/metrics.ts';
import { UsageRecording } from './recording.ts';
import { postgresUsageSink } from './repository.ts';

/** Usage counting and the request log of this instance, started; undefined when GATEHOUSE_USAGE_RECORDING is off. */
export function createUsageRecording(parts: {
  config: Config;
  store: Store;
  logger: Logger;
  metrics: Metrics;
  now: () => number;
  /** false: no timers; written when flushed (and at stop). */
  autoFlush: boolean;
}): UsageRecording | undefined {
  if (parts.config.usageRecording === false) return undefined;
  const recording = new UsageRecording({
    sink: postgresUsageSink(parts.store.db, parts.store.copyIn),
    db: parts.store.db,
    now: parts.now,
    requestLogDays: parts.config.requestLogDays ?? 7,
    onError: (error, what) => parts.logger.warn({ err: error }, `${what} failed`),
    // The embedded store copies rows in on this thread (some 20 µs of CPU a row): 50 rows keep each pause near 1 ms,
    // short beside a saturated server's p99. PostgreSQL's COPY runs in its own process; here a row costs about a
    // microsecond of building its line.
    requestLogBatch: parts.store.kind === 'pglite' ? 50 : 500,
    // And they take the time requests leave idle, at least 2.5% of it: past that, rows are dropped and counted.
    ...(parts.store.kind === 'pglite' ? { requestLogLeastLoopShare: 0.025 } : {}),
  });
  parts.metrics.observeUsage({
    requestLogDropped: () => recording.requestLog.dropped,
    requestLogWritten: () => recording.requestLog.written,
    requestLogBuffered: () => recording.requestLog.size,
    usageFlushFailures: () => recording.usageFlushFailures,
  });
  if (parts.autoFlush) recording.start();
  return recording;
}
