import type { Deps } from '../deps.ts';
import {
  deleteWebhookEndpoint,
  findWebhookEndpoint,
  insertFinishedDelivery,
  insertWebhookEndpoint,
  reenableWebhookEndpoint,
  type DeliveryError,
} from '../db/repositories/webhooks.ts';
import type { WebhookEndpoint } from '../db/schema.ts';
import { ApiError, notFound } from '../http/errors.ts';
import { pingBody, TEST_EVENT_TYPE, type JobEventType } from './events.ts';
import { sendWebhook } from './sender.ts';
import { generateWebhookSecret, newWebhookId } from './signing.ts';
import { webhookUrlProblem } from './url-policy.ts';

/** The new endpoint and its signing secret, which exists in plain text in this answer and nowhere else it is shown. */
export async function createWebhookEndpoint(
  deps: Deps,
  organizationId: string,
  input: { url: string; events: JobEventType[] },
): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
  const problem = webhookUrlProblem(input.url, deps.config.upstreams.allowPrivate);
  if (problem) throw new ApiError('VALIDATION_FAILED', 'The request is not valid.', { issues: [{ path: 'body.url', message: problem }] });
  const secret = generateWebhookSecret();
  const endpoint = await insertWebhookEndpoint(deps.store.db, { organizationId, url: input.url, events: [...new Set(input.events)], secret });
  return { endpoint, secret };
}

/** Another organization's endpoint is 404 exactly like a missing one (SPEC 8). */
export async function webhookEndpointOf(deps: Deps, organizationId: string, id: string): Promise<WebhookEndpoint> {
  const endpoint = await findWebhookEndpoint(deps.store.db, organizationId, id);
  if (!endpoint) throw notFound('Webhook endpoint');
  return endpoint;
}

export async function removeWebhookEndpoint(deps: Deps, organizationId: string, id: string): Promise<void> {
  if (!(await deleteWebhookEndpoint(deps.store.db, organizationId, id))) throw notFound('Webhook endpoint');
}

const FOREIGN_KEY_VIOLATION = '23503';

export interface TestOutcome {
  delivered: boolean;
  statusCode: number | null;
  latencyMs: number;
  error: DeliveryError | null;
  webhookId: string;
}

/**
 * Sends a signed test.ping now, under the same rules as every delivery, and logs it as a one-attempt delivery. It
 * is never retried and never counts against the endpoint's health; a success re-enables a disabled endpoint, which
 * is how a partner brings one back after fixing the receiver.
 */
export async function testWebhookEndpoint(deps: Deps, organizationId: string, id: string): Promise<TestOutcome> {
  const endpoint = await webhookEndpointOf(deps, organizationId, id);
  const occurredAt = new Date(deps.now());
  const webhookId = newWebhookId();
  const body = pingBody(endpoint.id, occurredAt);
  const result = await sendWebhook(endpoint, { webhookId, body }, {
    timeoutMs: deps.webhooks.settings.timeoutMs,
    allowPrivate: deps.config.upstreams.allowPrivate,
    now: deps.now,
  });
  const error = result.delivered ? null : result.error;
  const logged = insertFinishedDelivery(deps.store.db, {
    organizationId,
    endpointId: endpoint.id,
    webhookId,
    eventType: TEST_EVENT_TYPE,
    occurredAt,
    body,
    status: result.delivered ? 'delivered' : 'failed',
    statusCode: result.statusCode,
    error,
  });
  // Deleted while the ping was out: the foreign key refuses the log row, and the endpoint is simply gone.
  await logged.catch((failure: unknown) => {
    throw (failure as { code?: string }).code === FOREIGN_KEY_VIOLATION ? notFound('Webhook endpoint') : failure;
  });
  if (result.delivered && !endpoint.enabled) await reenableWebhookEndpoint(deps.store.db, endpoint.id);
  return { delivered: result.delivered, statusCode: result.statusCode, latencyMs: result.latencyMs, error, webhookId };
}
