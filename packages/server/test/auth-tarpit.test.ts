import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tarpit } from '../src/auth/tarpit.ts';
import { generateKey } from '../src/keys/format.ts';
import { partnerWithKey, withKey } from './factories.ts';
import { startTestApp, type TestApp } from './harness.ts';

const HOLD_MS = 400;

describe('tarpit', () => {
  it('holds up to its bound, then declines until a place frees up', async () => {
    const tarpit = new Tarpit(50, 2);
    const first = tarpit.hold();
    const second = tarpit.hold();
    expect(first).toBeInstanceOf(Promise);
    expect(second).toBeInstanceOf(Promise);
    expect(tarpit.hold()).toBeUndefined();
    expect(tarpit.size).toBe(2);
    await Promise.all([first, second]);
    expect(tarpit.size).toBe(0);
    expect(tarpit.hold()).toBeInstanceOf(Promise);
  });

  it('holds nothing when the hold is 0', () => {
    expect(new Tarpit(0).hold()).toBeUndefined();
  });
});

/** A guesser over its failures waits for each 429; past the tarpit's bound it is refused at once and disconnected. */
describe('throttled authentication failures in the tarpit', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ config: { authFailuresPerMinute: 2, authThrottleHoldMs: HOLD_MS }, deps: { tarpit: new Tarpit(HOLD_MS, 2) } });
  });
  afterAll(async () => t.close());

  const from = (remoteAddress: string, key: string) => t.app.inject({ url: '/v1/whoami', remoteAddress, headers: withKey(key) });
  const guess = () => generateKey('lp', 'live').key;

  it('answers a throttled guess after the hold, while a verified key from elsewhere is answered at once', async () => {
    const { key } = await partnerWithKey(t.app);
    expect((await from('10.1.0.2', key.key)).statusCode).toBe(200);
    for (let i = 0; i < 2; i++) expect((await from('10.1.0.1', guess())).statusCode).toBe(401);

    const started = performance.now();
    const held = from('10.1.0.1', guess()).then((response) => ({ response, ms: performance.now() - started }));
    const verified = await from('10.1.0.2', key.key);
    const verifiedMs = performance.now() - started;
    const { response, ms } = await held;

    expect(verified.statusCode).toBe(200);
    expect(verifiedMs).toBeLessThan(HOLD_MS);
    expect(response.statusCode).toBe(429);
    expect(ms).toBeGreaterThanOrEqual(HOLD_MS - 5);
    expect(response.headers['retry-after']).toBe('60');
    expect(response.headers.connection).not.toBe('close');
    expect(response.json().error.code).toBe('RATE_LIMITED');
  });

  it('refuses at once and closes the connection when every place is taken', async () => {
    for (let i = 0; i < 2; i++) await from('10.1.0.3', guess());
    const started = performance.now();
    // inject() sends when its result is awaited; these two are sent now and left waiting.
    const occupying = [from('10.1.0.3', guess()), from('10.1.0.3', guess())].map((sent) => Promise.resolve(sent));
    while (t.deps.tarpit.size < 2) await new Promise((resolve) => setImmediate(resolve));
    const overflow = await from('10.1.0.3', guess());
    expect(performance.now() - started).toBeLessThan(HOLD_MS);
    expect(overflow.statusCode).toBe(429);
    expect(overflow.headers.connection).toBe('close');
    expect(overflow.headers['retry-after']).toBe('60');
    for (const response of await Promise.all(occupying)) expect(response.statusCode).toBe(429);
    expect(t.deps.tarpit.size).toBe(0);
  });
});
