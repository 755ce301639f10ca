import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Deps } from '../deps.ts';
import {
  deleteWebhookEndpoint,
  findWebhookEndpoint,
  insertFinishedDelivery,
  insertWebhookEndpoint,
  reenableWebhookEndpoint,
  type DeliveryError,
} from './repository.ts';
import type { Database, Tenant, WebhookEndpoint } from '../db/schema.ts';

type Db = Kysely<Database>;
import { ApiError, notFound } from '../http/errors.ts';
import { pingBody, TEST_EVENT_TYPE, type WebhookEventType } from './events.ts';
import { sendWebhook } from './sender.ts';
import { generateWebhookSecret, newWebhookId } from './signing.ts';
import { webhookUrlProblem } from './url-policy.ts';

/** The new endpoint and its signing secret, which exists in plain text in this answer and nowhere else it is shown. */
export async function createWebhookEndpoint(
  db: Db,
  deps: Pick<Deps, 'config' | 'webhookSecrets'>,
  tenant: Tenant,
  input: { url: string; events: WebhookEventType[] },
): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
  const problem = webhookUrlProblem(input.url, deps.config.upstreams.allowPrivate);
  if (problem) throw new ApiError('VALIDATION_FAILED', 'The request is not valid.', { issues: [{ path: 'body.url', message: problem }] });
  const secret = generateWebhookSecret();
  const id = randomUUID();
  const sealed = deps.webhookSecrets.seal(id, secret);
  const endpoint = await insertWebhookEndpoint(db, { id, tenant, url: input.url, events: [...new Set(input.events)], sealed });
  return { endpoint, secret };
}

/** The organization's endpoint: 404 when it has none with this id, exactly as for another organization's (SPEC 8). */
export async function webhookEndpointOf(db: Db, tenant: Tenant, id: string): Promise<WebhookEndpoint> {
  const endpoint = await findWebhookEndpoint(db, tenant, id);
  if (!endpoint) throw notFound('Webhook endpoint');
  return endpoint;
}

export async function removeWebhookEndpoint(db: Db, tenant: Tenant, id: string): Promise<void> {
  if (!(await deleteWebhookEndpoint(db, tenant, id))) throw notFound('Webhook endpoint');
}

const FOREIGN_KEY_VIOLATION = '23503';

export interface TestOutcome {
  delivered: boolean;
  statusCode: number | null;
  latencyMs: number;
  error: DeliveryError | null;
  webhookId: string;
}

export interface SentPing {
  endpoint: WebhookEndpoint;
  webhookId: string;
  occurredAt: Date;
  body: string;
  result: Awaited<ReturnType<typeof sendWebhook>>;
}

/**
 * Sends a signed test.ping now, under the same rules as every delivery: an outbound call, so it is made before the
 * unit of work's transaction opens (SPEC 6), and `recordTestPing` logs it inside. An organization has at most
 * `testPingConcurrency` pings out at once per instance: a receiver that never answers holds each for the whole
 * timeout, so more are refused at once (429) rather than piled up.
 */
export async function sendTestPing(deps: Pick<Deps, 'store' | 'webhooks' | 'config' | 'now' | 'webhookSecrets'>, tenant: Tenant, id: string): Promise<SentPing> {
  const release = deps.webhooks.testPings.tryTake(tenant.organizationId);
  if (!release) {
    const limit = deps.webhooks.testPings.limit;
    throw new ApiError(
      'RATE_LIMITED',
      `This organization already has ${limit} test pings waiting for an answer; retry when one has finished.`,
      { reason: 'test_pings_in_flight', limit },
      { 'retry-after': String(Math.ceil(deps.webhooks.settings.timeoutMs / 1000)) },
    );
  }
  try {
    const endpoint = await webhookEndpointOf(deps.store.db, tenant, id);
    const occurredAt = new Date(deps.now());
    const webhookId = newWebhookId();
    const body = pingBody(endpoint.id, endpoint.env, occurredAt);
    const result = await sendWebhook({ url: endpoint.url, secret: deps.webhookSecrets.open(endpoint) }, { webhookId, body }, {
      timeoutMs: deps.webhooks.settings.timeoutMs,
      allowPrivate: deps.config.upstreams.allowPrivate,
      now: deps.now,
    });
    return { endpoint, webhookId, occurredAt, body, result };
  } finally {
    release();
  }
}

/**
 * Logs a test ping as a one-attempt delivery. It is never retried and never counts against the endpoint's health; a
 * success re-enables a disabled endpoint, which is how a partner brings one back after fixing the receiver.
 */
export async function recordTestPing(db: Db, organizationId: string, ping: SentPing): Promise<TestOutcome> {
  const { endpoint, result, webhookId } = ping;
  const error = result.delivered ? null : result.error;
  const logged = insertFinishedDelivery(db, {
    organizationId,
    endpointId: endpoint.id,
    webhookId,
    eventType: TEST_EVENT_TYPE,
    occurredAt: ping.occurredAt,
    body: ping.body,
    status: result.delivered ? 'delivered' : 'failed',
    statusCode: result.statusCode,
    error,
  });
  // Deleted while the ping was out: the foreign key refuses the log row, and the endpoint is simply gone.
  await logged.catch((failure: unknown) => {
    throw (failure as { code?: string }).code === FOREIGN_KEY_VIOLATION ? notFound('Webhook endpoint') : failure;
  });
  if (result.delivered && !endpoint.enabled) await reenableWebhookEndpoint(db, endpoint.id);
  return { delivered: result.delivered, statusCode: result.statusCode, latencyMs: result.latencyMs, error, webhookId };
}
