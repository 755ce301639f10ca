import type { Env, JobRow } from '../db/schema.ts';
import { presentJob } from '../jobs/present.ts';

/** The events an endpoint can subscribe to; the trigger in migration 0006 names them `job.<final status>`. */
export const JOB_EVENT_TYPES = ['job.succeeded', 'job.failed', 'job.canceled'] as const;
export type JobEventType = (typeof JOB_EVENT_TYPES)[number];
/** SPEC 7: what happens to a key (lifecycle-events.ts writes them). */
export const KEY_EVENT_TYPES = ['key.created', 'key.revoked', 'key.rolled', 'key.killed', 'key.unkilled', 'key.expiring', 'key.leaked'] as const;
export type KeyEventType = (typeof KEY_EVENT_TYPES)[number];
/** SPEC 7: what happens to the organization (credits.low is written by the trigger of migrations 0019/0021). */
export const ORGANIZATION_EVENT_TYPES = ['credits.low', 'organization.access_changed'] as const;
export type OrganizationEventType = (typeof ORGANIZATION_EVENT_TYPES)[number];
/** Every event an endpoint may subscribe to: the bounded list POST /v1/webhook-endpoints accepts. */
export const WEBHOOK_EVENT_TYPES = [...JOB_EVENT_TYPES, ...KEY_EVENT_TYPES, ...ORGANIZATION_EVENT_TYPES] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
/** Sent only by POST /v1/webhook-endpoints/:id/test; nobody subscribes to it. */
export const TEST_EVENT_TYPE = 'test.ping';

/** Standard Webhooks payload: `type`, `timestamp` (when the event happened, not the attempt) and `data`. */
export function eventBody(type: string, occurredAt: Date, data: unknown): string {
  return JSON.stringify({ type, timestamp: occurredAt.toISOString(), data });
}

/** A job event carries the job exactly as GET /v1/jobs/:jobId shows it. */
export const jobEventBody = (type: string, occurredAt: Date, job: JobRow): string => eventBody(type, occurredAt, presentJob(job));

/** SPEC 12: every event carries its env (a job event through the job record). */
export const pingBody = (endpointId: string, env: Env, occurredAt: Date): string =>
  eventBody(TEST_EVENT_TYPE, occurredAt, { webhookEndpointId: endpointId, env, message: 'This is a test event from Gatehouse.' });
