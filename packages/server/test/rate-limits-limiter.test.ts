import fc from 'fast-check';
import { Redis } from 'ioredis';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { EndpointClass } from '../src/config.ts';
import type { LimitDecision, RateLimiter } from '../src/limits/limiter.ts';
import { MemoryLimiter } from '../src/limits/memory-limiter.ts';
import { RedisLimiter } from '../src/limits/redis-limiter.ts';
import { redisTestUrl, usingPostgres } from './harness.ts';

/** The one suite both limiters pass (SPEC 5); Redis runs with the cluster suite. */
const START = 1_800_000_000_000;
let nowMs = START;
const clock = () => nowMs;
beforeEach(() => {
  nowMs = START;
});

const redisClients: Redis[] = [];
afterAll(() => {
  for (const client of redisClients) client.disconnect();
});

function redisLimiter(options: { injectedClock: boolean }): RedisLimiter {
  const client = new Redis(redisTestUrl);
  redisClients.push(client);
  return new RedisLimiter(client, { keyPrefix: `gh_test:${randomBytes(6).toString('hex')}:`, now: options.injectedClock ? clock : undefined });
}

const implementations: { name: string; make: () => RateLimiter }[] = [
  { name: 'memory', make: () => new MemoryLimiter(clock) },
  ...(usingPostgres ? [{ name: 'redis', make: () => redisLimiter({ injectedClock: true }) }] : []),
];

const pick = ({ allowed, remaining, resetMs, retryAfterMs }: LimitDecision) => ({ allowed, remaining, resetMs, retryAfterMs });

describe.each(implementations)('$name limiter', ({ make }) => {
  const limiter = make();
  const take = async (key: string, limit: number, endpointClass: EndpointClass = 'read-light') => pick(await limiter.consume(key, endpointClass, limit));

  it('admits a burst of exactly the limit from a full bucket, then refuses', async () => {
    const key = randomUUID();
    const decisions = [];
    for (let i = 0; i < 7; i++) decisions.push(await take(key, 5));
    // 5 per minute: one request every 12 s, a bucket of 5.
    expect(decisions).toEqual([
      { allowed: true, remaining: 4, resetMs: 12_000, retryAfterMs: 0 },
      { allowed: true, remaining: 3, resetMs: 24_000, retryAfterMs: 0 },
      { allowed: true, remaining: 2, resetMs: 36_000, retryAfterMs: 0 },
      { allowed: true, remaining: 1, resetMs: 48_000, retryAfterMs: 0 },
      { allowed: true, remaining: 0, resetMs: 60_000, retryAfterMs: 12_000 },
      { allowed: false, remaining: 0, resetMs: 60_000, retryAfterMs: 12_000 },
      { allowed: false, remaining: 0, resetMs: 60_000, retryAfterMs: 12_000 },
    ]);
  });

  it('peeks at what consume would decide without taking a request from the bucket (explain)', async () => {
    const key = randomUUID();
    const peek = async () => pick(await limiter.peek(key, 'read-light', 5));
    expect(await peek()).toEqual({ allowed: true, remaining: 4, resetMs: 12_000, retryAfterMs: 0 });
    expect(await peek()).toEqual({ allowed: true, remaining: 4, resetMs: 12_000, retryAfterMs: 0 });
    for (let i = 0; i < 4; i++) await take(key, 5);
    expect(await peek()).toEqual(await take(key, 5));
    expect(await peek()).toEqual({ allowed: false, remaining: 0, resetMs: 60_000, retryAfterMs: 12_000 });
    expect(await take(key, 5)).toMatchObject({ allowed: false });
  });

  it('decides requests made at once in the order they were made, across keys', async () => {
    const [first, second] = [randomUUID(), randomUUID()];
    const decisions = await Promise.all(Array.from({ length: 14 }, (_, i) => limiter.consume(i % 2 ? second : first, 'read-light', 5)));
    const remainingOf = (key: number) => decisions.filter((_, i) => i % 2 === key).map((d) => (d.allowed ? d.remaining : 'refused'));
    expect(remainingOf(0)).toEqual([4, 3, 2, 1, 0, 'refused', 'refused']);
    expect(remainingOf(1)).toEqual([4, 3, 2, 1, 0, 'refused', 'refused']);
  });

  it('gives a retryAfterMs that is exact: 1 ms earlier is refused, on time passes', async () => {
    const key = randomUUID();
    for (let i = 0; i < 5; i++) await take(key, 5);
    const refused = await take(key, 5);
    expect(refused.retryAfterMs).toBe(12_000);
    nowMs += refused.retryAfterMs - 1;
    expect(await take(key, 5)).toEqual({ allowed: false, remaining: 0, resetMs: 48_001, retryAfterMs: 1 });
    nowMs += 1;
    expect(await take(key, 5)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('rounds an interval that is not a whole millisecond up, never down', async () => {
    const key = randomUUID();
    for (let i = 0; i < 7; i++) expect((await take(key, 7)).allowed).toBe(true);
    const refused = await take(key, 7);
    // 60 s / 7 = 8571.43 ms: waiting 8571 ms would be early.
    expect(refused).toMatchObject({ allowed: false, retryAfterMs: 8572 });
    nowMs += 8571;
    expect((await take(key, 7)).allowed).toBe(false);
    nowMs += 1;
    expect((await take(key, 7)).allowed).toBe(true);
  });

  it('never admits more than the limit per minute plus the burst, over ten minutes of steady pressure', async () => {
    const key = randomUUID();
    let admitted = 0;
    for (let step = 0; step <= 1200; step++, nowMs += 500) if ((await take(key, 7)).allowed) admitted++;
    // A burst of 7, then one per interval: 70 intervals of 60 s / 7 make 600 s, but rounded up to the microsecond
    // they end 30 µs after the last request, so 69 refills.
    expect(admitted).toBe(7 + 69);
  });

  it('keeps one bucket per key and per class', async () => {
    const key = randomUUID();
    for (let i = 0; i < 3; i++) await take(key, 3, 'write-light');
    expect((await take(key, 3, 'write-light')).allowed).toBe(false);
    expect(await take(key, 3, 'read-light')).toMatchObject({ allowed: true, remaining: 2 });
    expect(await take(key, 3, 'long-running')).toMatchObject({ allowed: true, remaining: 2 });
    expect(await take(randomUUID(), 3, 'write-light')).toMatchObject({ allowed: true, remaining: 2 });
  });

  it('refills at the limit per minute', async () => {
    const key = randomUUID();
    for (let i = 0; i < 10; i++) await take(key, 10);
    nowMs += 30_000;
    const afterHalfAMinute = [];
    for (let i = 0; i < 6; i++) afterHalfAMinute.push((await take(key, 10)).allowed);
    expect(afterHalfAMinute).toEqual([true, true, true, true, true, false]);
    nowMs += 60_000;
    expect(await take(key, 10)).toMatchObject({ allowed: true, remaining: 9 });
  });

  it('applies a new limit at once, keeping how full the bucket is', async () => {
    const key = randomUUID();
    for (let i = 0; i < 3; i++) await take(key, 5);
    // 3 of 5 used is 36 s of the minute; at 20 per minute (3 s each) that leaves 8, this request included.
    expect(await take(key, 20)).toMatchObject({ allowed: true, remaining: 7 });
    for (let i = 0; i < 7; i++) expect((await take(key, 20)).allowed).toBe(true);
    expect(await take(key, 20)).toMatchObject({ allowed: false, retryAfterMs: 3000 });
    expect(await take(key, 5)).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 12_000 });
  });
});

describe.runIf(usingPostgres)('redis limiter only', () => {
  it('reads Redis TIME when no clock is injected', async () => {
    const limiter = redisLimiter({ injectedClock: false });
    const key = randomUUID();
    const decisions = [];
    for (let i = 0; i < 6; i++) decisions.push(await limiter.consume(key, 'read-light', 5));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false]);
    expect(decisions[5]!.retryAfterMs).toBeGreaterThan(11_000);
    expect(decisions[5]!.retryAfterMs).toBeLessThanOrEqual(12_000);
  });

  it('splits a turn of more requests than one script takes, keeping their order', async () => {
    const limiter = redisLimiter({ injectedClock: true });
    const key = randomUUID();
    const decisions = await Promise.all(Array.from({ length: 600 }, () => limiter.consume(key, 'read-light', 500)));
    expect(decisions.map((d) => (d.allowed ? d.remaining : -1))).toEqual([...Array.from({ length: 500 }, (_, i) => 499 - i), ...Array<number>(100).fill(-1)]);
  });

  it('decides exactly as the in-memory limiter does, for any sequence of requests', async () => {
    const step = fc.record({
      advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 20_000 })),
      endpointClass: fc.constantFrom<EndpointClass>('read-light', 'write-light', 'long-running'),
      limit: fc.constantFrom(1, 2, 5, 7, 60, 600, 6000),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), async (steps) => {
        nowMs = START;
        const memory = new MemoryLimiter(clock);
        const redis = redisLimiter({ injectedClock: true });
        const key = randomUUID();
        for (const { advanceMs, endpointClass, limit } of steps) {
          nowMs += advanceMs;
          const expected = pick(memory.consume(key, endpointClass, limit));
          expect(pick(await redis.consume(key, endpointClass, limit))).toEqual(expected);
          expect(expected.remaining).toBeGreaterThanOrEqual(0);
        }
      }),
      { numRuns: 25 },
    );
  });
});

describe('memory limiter: what it holds', () => {
  it('one bucket per key and class in use, and none once every bucket is full again (swept every 10 s)', () => {
    nowMs = START;
    const memory = new MemoryLimiter(clock);
    const keys = Array.from({ length: 1000 }, () => randomUUID());
    for (const key of keys) memory.consume(key, 'read-light', 60);
    memory.consume(keys[0]!, 'write-light', 60);
    expect(memory.size).toBe(1001);
    // A bucket of 60 a minute refills one request in a second: 10 s on, the next request sweeps, and only the bucket
    // it took from remains.
    nowMs += 10_001;
    memory.consume(keys[1]!, 'long-running', 60);
    expect(memory.size).toBe(1);
    expect(memory.peek(keys[0]!, 'read-light', 60).remaining).toBe(59);
  });
});
