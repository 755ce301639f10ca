import type { Migration } from 'kysely';
import * as core from './0001_core.ts';
import * as projects from './0002_projects.ts';
import * as idempotency from './0003_idempotency.ts';
import * as jobs from './0004_jobs.ts';
import * as webhooks from './0006_webhooks.ts';
import * as keyDigests from './0010_key_digests.ts';
import * as usage from './0013_usage.ts';
import * as usageBucketIndex from './0013a_usage_bucket_index.ts';
import * as jobsApiKey from './0013b_jobs_api_key.ts';
import * as people from './0014_people.ts';
import * as whoIsCalling from './0019_who_is_calling.ts';
import * as testMode from './0020_test_mode.ts';
import * as lifecycleEvents from './0021_lifecycle_events.ts';
import * as leakedKeys from './0022_leaked_keys.ts';
import * as requestLogKeyErrors from './0023_request_log_key_errors.ts';
import * as updatedAtStartsAtCreatedAt from './0024_updated_at_starts_at_created_at.ts';
import * as requestLogSweptByOrganization from './0025_request_log_swept_by_organization.ts';

/** Every migration, in order. Names sort in the order they run; add new ones at the end. */
export const migrations: Record<string, Migration> = {
  '0001_core': core,
  '0002_projects': projects,
  '0003_idempotency': idempotency,
  '0004_jobs': jobs,
  '0006_webhooks': webhooks,
  '0010_key_digests': keyDigests,
  '0013_usage': usage,
  '0013a_usage_bucket_index': usageBucketIndex,
  '0013b_jobs_api_key': jobsApiKey,
  '0014_people': people,
  '0019_who_is_calling': whoIsCalling,
  '0020_test_mode': testMode,
  '0021_lifecycle_events': lifecycleEvents,
  '0022_leaked_keys': leakedKeys,
  '0023_request_log_key_errors': requestLogKeyErrors,
  '0024_updated_at_starts_at_created_at': updatedAtStartsAtCreatedAt,
  '0025_request_log_swept_by_organization': requestLogSweptByOrganization,
};
