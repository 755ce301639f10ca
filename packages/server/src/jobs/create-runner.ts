import type { Logger } from 'pino';
import type { InvalidationBus } from '../auth/invalidation.ts';
import type { Config } from '../config.ts';
import type { Store } from '../db/create-db.ts';
import type { Metrics } from '../observability/metrics.ts';
import { ingestAppstore } from './ingest-appstore.ts';
import { ingestGithub } from './ingest-github.ts';
import { ingestWebsite } from './ingest-website.ts';
import type { JobHandler, JobKind } from './kinds.ts';
import { JobRunner, type JobRunnerOptions } from './runner.ts';
import { TEST_MODE_HANDLERS } from './test-mode.ts';

// The runner and its handlers, apart from the routes (jobs/index.ts), so deps.ts builds it without registering any.
export const JOB_HANDLERS: Record<JobKind, JobHandler> = {
  ingest_appstore: ingestAppstore,
  ingest_website: ingestWebsite,
  ingest_github: ingestGithub,
};

export function createJobRunner(parts: {
  config: Config;
  store: Store;
  logger: Logger;
  metrics: Metrics;
  bus: InvalidationBus;
  onCreditsCharged?: JobRunnerOptions['onCreditsCharged'];
  now?: () => number;
}): JobRunner {
  return new JobRunner({ ...parts, db: parts.store.db, handlers: JOB_HANDLERS, testModeHandlers: TEST_MODE_HANDLERS, settings: parts.config.jobs });
}

