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
  });
  parts.metrics.observeUsage({
    requestLogDropped: () => recording.requestLog.dropped,
    requestLogWritten: () => recording.requestLog.written,
    requestLogBuffered: () => recording.requestLog.size,
    requestLogYielding: () => (recording.requestLogYielding ? 1 : 0),
    usageFlushFailures: () => recording.usageFlushFailures,
  });
  if (parts.autoFlush) recording.start();
  return recording;
}
