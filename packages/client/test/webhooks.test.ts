import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyWebhook, WebhookVerificationError } from '../src/index.ts';

// The signing example of the Standard Webhooks reference library: the same secret, id, time and body must give
// this signature in every conforming implementation.
const vector = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  payload: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};
const at = (seconds: number) => seconds * 1000;
const headers = (overrides: Record<string, string> = {}) => ({
  'webhook-id': vector.id,
  'webhook-timestamp': String(vector.timestamp),
  'webhook-signature': vector.signature,
  ...overrides,
});

async function reason(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(WebhookVerificationError);
  return (error as WebhookVerificationError).reason;
}

describe('verifyWebhook', () => {
  it('accepts the Standard Webhooks reference signature and returns the id, time and parsed event', async () => {
    const verified = await verifyWebhook({ payload: vector.payload, headers: headers(), secret: vector.secret, now: at(vector.timestamp) });
    expect(verified).toEqual({ webhookId: vector.id, timestamp: vector.timestamp, event: { test: 2432232314 } });
  });

  it('takes the body as bytes, headers as a fetch Headers object or in any letter case, and a Date for now', async () => {
    const bytes = new TextEncoder().encode(vector.payload);
    await expect(verifyWebhook({ payload: bytes, headers: new Headers(headers()), secret: vector.secret, now: new Date(at(vector.timestamp)) })).resolves.toBeTruthy();
    const shouting = { 'Webhook-Id': vector.id, 'WEBHOOK-TIMESTAMP': String(vector.timestamp), 'Webhook-Signature': vector.signature };
    await expect(verifyWebhook({ payload: vector.payload, headers: shouting, secret: vector.secret, now: at(vector.timestamp) })).resolves.toBeTruthy();
  });

  it('fails when the body, the id or the timestamp is changed, or the secret is another', async () => {
    const now = at(vector.timestamp);
    expect(await reason(verifyWebhook({ payload: '{"test": 2432232315}', headers: headers(), secret: vector.secret, now }))).toBe('no_matching_signature');
    expect(await reason(verifyWebhook({ payload: vector.payload, headers: headers({ 'webhook-id': 'msg_other' }), secret: vector.secret, now }))).toBe('no_matching_signature');
    const later = headers({ 'webhook-timestamp': String(vector.timestamp + 1) });
    expect(await reason(verifyWebhook({ payload: vector.payload, headers: later, secret: vector.secret, now }))).toBe('no_matching_signature');
    const other = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;
    expect(await reason(verifyWebhook({ payload: vector.payload, headers: headers(), secret: other, now }))).toBe('no_matching_signature');
  });

  it('tolerates clock skew up to the tolerance either way and refuses anything beyond it (replays included)', async () => {
    const verify = (nowSeconds: number, toleranceSeconds?: number) =>
      verifyWebhook({ payload: vector.payload, headers: headers(), secret: vector.secret, now: at(nowSeconds), ...(toleranceSeconds ? { toleranceSeconds } : {}) });
    await expect(verify(vector.timestamp + 300)).resolves.toBeTruthy();
    await expect(verify(vector.timestamp - 300)).resolves.toBeTruthy();
    expect(await reason(verify(vector.timestamp + 301))).toBe('timestamp_too_old');
    expect(await reason(verify(vector.timestamp - 301))).toBe('timestamp_too_new');
    expect(await reason(verify(vector.timestamp + 61, 60))).toBe('timestamp_too_old');
  });

  it('accepts any matching v1 entry among several (secret rotation) and ignores other versions', async () => {
    const now = at(vector.timestamp);
    const rotating = `v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v1a,abc ${vector.signature}`;
    await expect(verifyWebhook({ payload: vector.payload, headers: headers({ 'webhook-signature': rotating }), secret: vector.secret, now })).resolves.toBeTruthy();
    const wrongVersion = vector.signature.replace('v1,', 'v2,');
    expect(await reason(verifyWebhook({ payload: vector.payload, headers: headers({ 'webhook-signature': wrongVersion }), secret: vector.secret, now }))).toBe(
      'no_matching_signature',
    );
    for (const junk of ['v1,', 'v1', 'v1,%%%', vector.signature.slice(0, 20)]) {
      expect(await reason(verifyWebhook({ payload: vector.payload, headers: headers({ 'webhook-signature': junk }), secret: vector.secret, now }))).toBe(
        'no_matching_signature',
      );
    }
  });

  it('names what is missing or malformed', async () => {
    const now = at(vector.timestamp);
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const partial: Record<string, string> = headers();
      delete partial[name];
      expect(await reason(verifyWebhook({ payload: vector.payload, headers: partial, secret: vector.secret, now }))).toBe('missing_headers');
    }
    expect(await reason(verifyWebhook({ payload: vector.payload, headers: headers({ 'webhook-timestamp': 'soon' }), secret: vector.secret, now }))).toBe(
      'invalid_timestamp',
    );
    expect(await reason(verifyWebhook({ payload: vector.payload, headers: headers(), secret: 'whsec_', now }))).toBe('invalid_secret');
  });

  it('refuses a signed body that is not JSON only after the signature checks out', async () => {
    const secret = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
    const body = 'not json';
    const signature = createHmac('sha256', Buffer.alloc(32, 1)).update(`${vector.id}.${vector.timestamp}.${body}`).digest('base64');
    const signed = headers({ 'webhook-signature': `v1,${signature}` });
    expect(await reason(verifyWebhook({ payload: body, headers: signed, secret, now: at(vector.timestamp) }))).toBe('invalid_payload');
  });
});
