import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey } from '../src/keys/format.ts';
import { partnerWithKey, withKey } from './factories.ts';
import { startTestApp, type TestApp } from './harness.ts';

/** Issue 3, last bullet: failed authentication is limited per client address, with a 429 before any hashing. */
describe('failed authentication attempts per client address', () => {
  let nowMs = 1_800_000_000_000;
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ config: { authFailuresPerMinute: 3 }, deps: { now: () => nowMs } });
  });
  afterAll(async () => t.close());

  const from = (remoteAddress: string, key: string) => t.app.inject({ url: '/v1/whoami', remoteAddress, headers: withKey(key) });
  const hashes = async () => (await t.deps.metrics.hashVerifications.get()).values.reduce((sum, v) => sum + v.value, 0);
  /** Checksum-valid, so it gets past parsing to the lookup. */
  const guess = (keyId?: string) => generateKey('lp', 'live', keyId).key;

  it('answers 429 to an address over its failures, without hashing, and leaves other addresses alone', async () => {
    const { key } = await partnerWithKey(t.app);
    for (let i = 0; i < 3; i++) expect((await from('10.0.0.1', guess())).statusCode).toBe(401);
    const hashesBefore = await hashes();

    // A wrong secret for a real key_id costs an HMAC, never bcrypt, and the address over its failures is told 429.
    const refused = await from('10.0.0.1', guess(key.keyId));
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe('60');
    expect(refused.json().error).toMatchObject({ code: 'RATE_LIMITED', details: { endpointClass: 'read-light', retryAfterMs: 60_000 } });
    expect(await hashes()).toBe(hashesBefore);
    // A correct key is never refused for the failures of others from its address (issue 13, finding 4).
    expect((await from('10.0.0.1', key.key)).statusCode).toBe(200);
    expect(await hashes()).toBe(hashesBefore);

    const elsewhere = await from('10.0.0.2', guess(key.keyId));
    expect(elsewhere.statusCode).toBe(401);

    // The window is a minute; after it the address may try (and fail) again.
    nowMs += 60_000;
    expect((await from('10.0.0.1', guess(key.keyId))).statusCode).toBe(401);
    expect(await hashes()).toBe(hashesBefore);
  });

  it('never throttles a key an address has already verified', async () => {
    const { key } = await partnerWithKey(t.app);
    expect((await from('10.0.0.3', key.key)).statusCode).toBe(200);
    for (let i = 0; i < 5; i++) await from('10.0.0.3', guess());
    expect((await from('10.0.0.3', guess())).statusCode).toBe(429);
    expect((await from('10.0.0.3', key.key)).statusCode).toBe(200);
  });
});
