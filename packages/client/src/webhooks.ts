/**
 * Verifying Gatehouse webhooks on the receiving side (Standard Webhooks, symmetric `v1` signatures). Uses only
 * WebCrypto (`crypto.subtle`), `TextEncoder` and `atob`, so it runs unchanged in Node 20+, browsers, Deno, Bun and
 * edge runtimes.
 */

export type WebhookVerificationFailure =
  | 'missing_headers'
  | 'invalid_timestamp'
  | 'timestamp_too_old'
  | 'timestamp_too_new'
  | 'invalid_secret'
  | 'no_matching_signature'
  | 'invalid_payload';

export class WebhookVerificationError extends Error {
  constructor(
    readonly reason: WebhookVerificationFailure,
    message: string,
  ) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}

/** A fetch `Headers` object, or a plain record such as Node's `IncomingMessage.headers` (any letter case). */
export type WebhookHeaderSource = { get(name: string): string | null } | Record<string, string | string[] | undefined>;

export interface VerifyWebhookOptions {
  /** The request body exactly as received: the raw text or bytes, never JSON parsed and serialized again. */
  payload: string | Uint8Array;
  headers: WebhookHeaderSource;
  /** The endpoint's signing secret, `whsec_...`, as shown when the endpoint was created. */
  secret: string;
  /** How far `webhook-timestamp` may be from now, either way, in seconds (clock skew, and the replay window). */
  toleranceSeconds?: number;
  /** The current time (for tests); defaults to the clock. */
  now?: Date | number;
}

/**
 * The signed body. A job event's `data` is the job as `jobs.get` shows it (`verifyWebhook<Job>(...)`); a key event's
 * is a KeyEventData; every event's `data` carries `env`.
 */
export interface WebhookEvent<Data = unknown> {
  /** A WebhookEventType: `job.*`, `key.*`, `credits.low`, `organization.access_changed`, or `test.ping`. */
  type: string;
  /** When the event happened (ISO 8601); an attempt's own time is in `timestamp` of the result. */
  timestamp: string;
  data: Data;
}

export interface VerifiedWebhook<Data = unknown> {
  /** `webhook-id`: the same on every retry of one event. Process each id once: verification alone does not stop a
   *  replay made within the tolerance. */
  webhookId: string;
  /** `webhook-timestamp`, unix seconds: when this attempt was signed. */
  timestamp: number;
  event: WebhookEvent<Data>;
}

const SECRET_PREFIX = 'whsec_';
const DEFAULT_TOLERANCE_SECONDS = 300;

/**
 * Checks a delivery's signature and timestamp and returns the parsed event; throws WebhookVerificationError
 * (with a `reason`) otherwise. The signature is base64 HMAC-SHA256 over `<webhook-id>.<webhook-timestamp>.<body>`,
 * keyed by the secret's base64-decoded bytes; `webhook-signature` may hold several space-separated `v1,<sig>`
 * entries (secret rotation), and any one that matches is enough.
 */
export async function verifyWebhook<Data = unknown>(options: VerifyWebhookOptions): Promise<VerifiedWebhook<Data>> {
  const webhookId = headerOf(options.headers, 'webhook-id');
  const timestampText = headerOf(options.headers, 'webhook-timestamp');
  const signatures = headerOf(options.headers, 'webhook-signature');
  if (!webhookId || !timestampText || !signatures) {
    throw new WebhookVerificationError('missing_headers', 'The webhook-id, webhook-timestamp and webhook-signature headers are required.');
  }
  if (!/^\d{1,12}$/.test(timestampText.trim())) throw new WebhookVerificationError('invalid_timestamp', 'The webhook-timestamp header is not a unix time.');
  const timestamp = Number(timestampText.trim());
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const nowMs = options.now === undefined ? Date.now() : typeof options.now === 'number' ? options.now : options.now.getTime();
  const nowSeconds = Math.floor(nowMs / 1000);
  if (nowSeconds - timestamp > tolerance) throw new WebhookVerificationError('timestamp_too_old', 'The webhook timestamp is too old.');
  if (timestamp - nowSeconds > tolerance) throw new WebhookVerificationError('timestamp_too_new', 'The webhook timestamp is too far in the future.');

  const body = typeof options.payload === 'string' ? new TextEncoder().encode(options.payload) : options.payload;
  const expected = await hmacSha256(secretBytes(options.secret), concat(new TextEncoder().encode(`${webhookId}.${timestamp}.`), body));
  const matched = signatures
    .split(' ')
    .map((entry) => entry.split(','))
    .some(([version, signature]) => version === 'v1' && signature !== undefined && constantTimeEqual(decodeBase64(signature), expected));
  if (!matched) throw new WebhookVerificationError('no_matching_signature', 'No signature matches the payload.');

  try {
    return { webhookId, timestamp, event: JSON.parse(new TextDecoder().decode(body)) as WebhookEvent<Data> };
  } catch {
    throw new WebhookVerificationError('invalid_payload', 'The signed payload is not JSON.');
  }
}

function headerOf(headers: WebhookHeaderSource, name: string): string | undefined {
  if (typeof headers.get === 'function') return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  for (const [key, value] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value.join(' ') : value;
  }
  return undefined;
}

function secretBytes(secret: string): Uint8Array<ArrayBuffer> {
  const key = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const bytes = decodeBase64(key);
  if (bytes.length === 0) throw new WebhookVerificationError('invalid_secret', 'The signing secret is not a whsec_ secret.');
  return bytes;
}

/** Standard base64; junk decodes to nothing, which then matches nothing. */
function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  try {
    return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
  } catch {
    return new Uint8Array(0);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}

async function hmacSha256(key: Uint8Array<ArrayBuffer>, data: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const cryptoKey = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', cryptoKey, data));
}

/** Compares every byte whatever the first difference, so the time taken says nothing about where it was. */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}
