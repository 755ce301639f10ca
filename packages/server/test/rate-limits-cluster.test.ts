import type { LightMyRequestResponse } from 'fastify';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { freePort } from './fixtures/own-servers.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RATE_LIMITS, type RateLimitTable } from '../src/config.ts';
import type { Store } from '../src/db/create-db.ts';
import { createOrganization, issueKey, withKey } from './factories.ts';
import { createTestStore, redisTestUrl, startTestApp, usingPostgres, type TestApp } from './harness.ts';

/** SPEC 5 across instances, on the real clock (the script reads Redis TIME): 10 per minute is one every 6 s. */
const LIMIT = 10;
const RATE_LIMITS: RateLimitTable = { ...DEFAULT_RATE_LIMITS, standard: { 'read-light': LIMIT, 'write-light': 3, 'long-running': 2 } };


/** A Redis of the test's own, so that it can be killed without touching anyone else's. */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], {
    stdio: 'ignore',
  });
  const probe = new Redis({ port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  probe.on('error', () => undefined);
  try {
    for (let attempt = 0; attempt < 100; attempt++) {
      try {
        await probe.connect();
        await probe.ping();
        return child;
      } catch {
        await sleep(50);
      }
    }
    throw new Error(`redis-server did not start on port ${port}`);
  } finally {
    probe.disconnect();
  }
}

async function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'exit');
}

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

/** Requests for one key, alternating between instances and all in flight at once. */
async function spread(instances: TestApp[], key: string, count: number): Promise<{ responses: LightMyRequestResponse[]; admittedBy: number[] }> {
  const responses = await Promise.all(
    Array.from({ length: count }, (_, i) => instances[i % instances.length]!.app.inject({ url: '/v1/whoami', headers: withKey(key) })),
  );
  const admittedBy = instances.map((_, which) => responses.filter((r, i) => i % instances.length === which && r.statusCode === 200).length);
  return { responses, admittedBy };
}

const sharedGauge = async (t: TestApp) => (await t.deps.metrics.limiterBackend.get()).values[0]?.value;

describe.runIf(usingPostgres)('rate limits across instances', () => {
  let store: Store;
  const apps: TestApp[] = [];
  const instancesOn = async (redisUrl: string): Promise<TestApp[]> => {
    const prefix = `gh_test:${randomBytes(6).toString('hex')}:`;
    const pair = [];
    for (let i = 0; i < 2; i++) {
      const app = await startTestApp({ store, config: { rateLimits: RATE_LIMITS, redisUrl, redisCommandTimeoutMs: 250 }, deps: { rateLimitKeyPrefix: prefix } });
      apps.push(app);
      pair.push(app);
    }
    return pair;
  };
  const newKey = async (app: TestApp) => issueKey(app.app, (await createOrganization(app.app, { rateLimitTier: 'standard' })).id);

  beforeAll(async () => {
    store = await createTestStore();
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await store.close();
  });

  it('admits no more than the limit in total across two instances over one Redis', async () => {
    const instances = await instancesOn(redisTestUrl);
    const key = await newKey(instances[0]!);
    const started = Date.now();
    // One request on each first, so that both have verified the key before the burst races them.
    const warmUp = await Promise.all(instances.map((instance) => instance.app.inject({ url: '/v1/whoami', headers: withKey(key.key) })));
    expect(warmUp.map((r) => r.headers['x-ratelimit-remaining']).sort()).toEqual([String(LIMIT - 2), String(LIMIT - 1)]);
    const { responses, admittedBy } = await spread(instances, key.key, 40);
    const refills = Math.floor((Date.now() - started) / (60_000 / LIMIT));
    const admitted = 2 + admittedBy[0]! + admittedBy[1]!;
    expect(admitted).toBeGreaterThanOrEqual(LIMIT);
    expect(admitted).toBeLessThanOrEqual(LIMIT + refills);
    expect(responses.every((r) => r.statusCode === 200 || r.statusCode === 429)).toBe(true);
    expect(responses.filter((r) => r.statusCode === 429).every((r) => r.headers['x-ratelimit-remaining'] === '0' && r.headers['retry-after'])).toBe(true);
  });

  describe('when Redis dies and comes back', () => {
    let redis: ChildProcess | undefined;
    const stopIfRunning = async () => {
      if (redis) await stopRedis(redis);
      redis = undefined;
    };
    afterEach(stopIfRunning);

    it('keeps answering, limits per instance meanwhile, and shares the limits again', async () => {
      const port = await freePort();
      redis = await startRedis(port);
      const instances = await instancesOn(`redis://127.0.0.1:${port}`);
      expect(await Promise.all(instances.map(sharedGauge))).toEqual([1, 1]);
      const before = await spread(instances, (await newKey(instances[0]!)).key, 30);
      expect(before.admittedBy[0]! + before.admittedBy[1]!).toBe(LIMIT);

      await stopRedis(redis);
      const keyDuringOutage = (await newKey(instances[0]!)).key;
      const started = Date.now();
      const during = await spread(instances, keyDuringOutage, 30);
      // Nothing waited on the dead connection, nothing failed, and each instance applied the limit on its own.
      expect(Date.now() - started).toBeLessThan(2000);
      expect(during.responses.every((r) => r.statusCode === 200 || r.statusCode === 429)).toBe(true);
      expect(during.admittedBy).toEqual([LIMIT, LIMIT]);
      expect(await Promise.all(instances.map(sharedGauge))).toEqual([0, 0]);
      for (const instance of instances) expect(instance.logs.text).toContain('rate limits fall back to in-memory buckets');

      redis = await startRedis(port);
      await waitFor(() => instances.every((instance) => instance.deps.limiter.shared));
      expect(await Promise.all(instances.map(sharedGauge))).toEqual([1, 1]);
      const after = await spread(instances, (await newKey(instances[0]!)).key, 30);
      expect(after.admittedBy[0]! + after.admittedBy[1]!).toBe(LIMIT);
      for (const instance of instances) expect(instance.logs.text).toContain('rate limits are shared through Redis');
    });

    it('stops waiting on a Redis that hangs, and shares again when it answers', async () => {
      const port = await freePort();
      redis = await startRedis(port);
      const instances = await instancesOn(`redis://127.0.0.1:${port}`);
      expect((await spread(instances, (await newKey(instances[0]!)).key, 2)).admittedBy).toEqual([1, 1]);
      expect(instances.map((instance) => instance.deps.limiter.shared)).toEqual([true, true]);

      // The connection stays open but nothing answers: the command timeout trips the circuit.
      redis.kill('SIGSTOP');
      const started = Date.now();
      const during = await spread(instances, (await newKey(instances[0]!)).key, 30);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(during.admittedBy).toEqual([LIMIT, LIMIT]);
      expect(instances.map((instance) => instance.deps.limiter.shared)).toEqual([false, false]);

      redis.kill('SIGCONT');
      await waitFor(() => instances.every((instance) => instance.deps.limiter.shared));
      const after = await spread(instances, (await newKey(instances[0]!)).key, 30);
      expect(after.admittedBy[0]! + after.admittedBy[1]!).toBe(LIMIT);
    });
  });
});

describe('rate limits when Redis is unreachable from the start', () => {
  it('serves requests at once from in-memory buckets', async () => {
    const port = await freePort();
    const t = await startTestApp({ config: { rateLimits: RATE_LIMITS, redisUrl: `redis://127.0.0.1:${port}` } });
    try {
      expect(t.deps.limiter.shared).toBe(false);
      expect(await sharedGauge(t)).toBe(0);
      const key = await newKeyOn(t);
      const started = Date.now();
      const responses = [];
      for (let i = 0; i < LIMIT + 1; i++) responses.push((await t.app.inject({ url: '/v1/whoami', headers: withKey(key) })).statusCode);
      expect(Date.now() - started).toBeLessThan(1000);
      expect(responses).toEqual([...Array<number>(LIMIT).fill(200), 429]);
      expect(t.logs.text).toContain('rate limits fall back to in-memory buckets');
    } finally {
      await t.close();
    }
  });
});

async function newKeyOn(t: TestApp): Promise<string> {
  return (await issueKey(t.app, (await createOrganization(t.app, { rateLimitTier: 'standard' })).id)).key;
}
