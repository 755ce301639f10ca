import { createHmac, randomBytes, randomUUID } from 'node:crypto';

/** Standard Webhooks secret serialization: `whsec_` and the base64 of the key bytes (at least 24; we use 32). */
export const SECRET_PREFIX = 'whsec_';
const SECRET_BYTES = 32;

export function generateWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(SECRET_BYTES).toString('base64');
}

/** Message ids never contain `.`, which delimits the signed content. */
export function newWebhookId(): string {
  return `msg_${randomUUID().replaceAll('-', '')}`;
}

/**
 * Standard Webhooks symmetric signature: base64 HMAC-SHA256, keyed by the secret's decoded bytes, over
 * `<webhook-id>.<webhook-timestamp>.<body>`; the header carries it as `v1,<signature>`.
 */
export function signWebhook(secret: string, webhookId: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
  const signature = createHmac('sha256', key).update(`${webhookId}.${timestampSeconds}.${body}`).digest('base64');
  return `v1,${signature}`;
}

/** The headers of one attempt: the timestamp is the attempt's own, so a retry is signed afresh under the same id. */
export function webhookHeaders(secret: string, webhookId: string, body: string, nowMs: number): Record<string, string> {
  const timestamp = Math.floor(nowMs / 1000);
  return {
    'content-type': 'application/json',
    'webhook-id': webhookId,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signWebhook(secret, webhookId, timestamp, body),
  };
}
