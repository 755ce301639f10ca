import { Type } from '@sinclair/typebox';
import type { WebhookDelivery, WebhookEndpoint } from '../db/schema.ts';
import { ResourceEnv, Uuid } from '../http/schemas.ts';
import { WEBHOOK_EVENT_TYPES } from './events.ts';

const DateTime = Type.String({ format: 'date-time' });
const NullableDateTime = Type.Union([DateTime, Type.Null()]);
const DeliveryErrorSchema = Type.Object({ code: Type.String(), message: Type.String() });

/** Job events and the lifecycle events of SPEC 7: the bounded list an endpoint subscribes from. */
export const EventTypeName = Type.Union(WEBHOOK_EVENT_TYPES.map((type) => Type.Literal(type)));

export const NewWebhookEndpointBody = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 2048 }),
    events: Type.Array(EventTypeName, { minItems: 1, maxItems: 16 }),
  },
  { additionalProperties: false },
);

/** The endpoint as every read shows it: never the secret. */
export const WebhookEndpointSchema = Type.Object({
  id: Uuid,
  env: ResourceEnv,
  url: Type.String(),
  events: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  /** Start of the current run of failed attempts; null when the last attempt succeeded. */
  failingSince: NullableDateTime,
  disabledAt: NullableDateTime,
  disabledReason: Type.Union([Type.String(), Type.Null()]),
  createdAt: DateTime,
  updatedAt: DateTime,
}, { title: 'WebhookEndpoint' });

/** Only the answer to POST /v1/webhook-endpoints carries the signing secret. */
export const CreatedWebhookEndpointSchema = Type.Intersect([WebhookEndpointSchema, Type.Object({ secret: Type.String() })], { title: 'CreatedWebhookEndpoint' });

export const WebhookDeliverySchema = Type.Object({
  id: Uuid,
  env: ResourceEnv,
  endpointId: Uuid,
  webhookId: Type.String(),
  eventType: Type.String(),
  jobId: Type.Union([Uuid, Type.Null()]),
  status: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]),
  attempts: Type.Integer(),
  lastStatusCode: Type.Union([Type.Integer(), Type.Null()]),
  lastError: Type.Union([DeliveryErrorSchema, Type.Null()]),
  nextAttemptAt: NullableDateTime,
  lastAttemptAt: NullableDateTime,
  occurredAt: DateTime,
  createdAt: DateTime,
  updatedAt: DateTime,
  completedAt: NullableDateTime,
}, { title: 'WebhookDelivery' });

export const TestOutcomeSchema = Type.Object({
  delivered: Type.Boolean(),
  statusCode: Type.Union([Type.Integer(), Type.Null()]),
  latencyMs: Type.Integer(),
  error: Type.Union([DeliveryErrorSchema, Type.Null()]),
  webhookId: Type.String(),
}, { title: 'WebhookTestResult' });

const iso = (at: Date | null) => at?.toISOString() ?? null;

export function presentWebhookEndpoint(row: WebhookEndpoint) {
  return {
    id: row.id,
    env: row.env,
    url: row.url,
    events: row.events,
    enabled: row.enabled,
    failingSince: iso(row.failing_since),
    disabledAt: iso(row.disabled_at),
    disabledReason: row.disabled_reason,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export function presentWebhookDelivery(row: WebhookDelivery) {
  return {
    id: row.id,
    env: row.env,
    endpointId: row.endpoint_id,
    webhookId: row.webhook_id,
    eventType: row.event_type,
    jobId: row.job_id,
    status: row.status,
    attempts: row.attempts,
    lastStatusCode: row.last_status_code,
    lastError: row.last_error ? { code: row.last_error.code, message: row.last_error.message } : null,
    nextAttemptAt: iso(row.next_attempt_at),
    lastAttemptAt: iso(row.last_attempt_at),
    occurredAt: row.occurred_at.toISOString(),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    completedAt: iso(row.completed_at),
  };
}
