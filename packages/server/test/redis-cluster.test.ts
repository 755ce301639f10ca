import type { LightMyRequestResponse } from 'fastify';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RATE_LIMITS, type RateLimitTable } from '../src/config.ts';
import type { Store } from '../src/db/create-db.ts';
import { slotOfKey } from '../src/limits/redis-limiter.ts';
import { nodeOfSlot } from '../src/redis/connect.ts';
import { admin, createOrganization, issueKey, withKey, type KeyFixture } from './factories.ts';
import { startRedisCluster, type OwnRedisCluster } from './fixtures/own-servers.ts';
import { createTestStore, startTestApp, usingPostgres, type TestApp } from './harness.ts';

/** `standard` is the tier the exactness test counts on; `partner` is high enough that the traffic test never hits it. */
const LIMIT = 20;
const RATE_LIMITS: RateLimitTable = { ...DEFAULT_RATE_LIMITS, standard: { 'read-light': LIMIT, 'write-light': 3, 'long-running': 2 }, partner: { 'read-light': 1_000_000, 'write-light': 1_000, 'long-running': 1_000 } };

// Starts a Redis Cluster of its own (three masters) under two instances on one PostgreSQL: the PostgreSQL pass.
describe.runIf(usingPostgres)('Redis Cluster (GATEHOUSE_REDIS_CLUSTER): shared limits, invalidations, a master lost and back', () => {
  let cluster: OwnRedisCluster;
  let store: Store;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    store = await createTestStore();
    const prefix = `gatehouse:test:${randomBytes(4).toString('hex')}:`;
    const instance = () =>
      startTestApp({ store, config: { redisUrl: cluster.url, redisCluster: true, redisCommandTimeoutMs: 500, rateLimits: RATE_LIMITS }, deps: { rateLimitKeyPrefix: prefix } });
    // One after the other: two migrations of one fresh database at once would wait on each other.
    a = await instance();
    b = await instance();
  }, 60_000);
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await store?.close();
    await cluster?.destroy();
  });

  const whoami = (app: TestApp, key: string): Promise<LightMyRequestResponse> => app.app.inject({ url: '/v1/whoami', headers: withKey(key) });
  /** Keys until every master holds the buckets of at least one (buckets are spread by API key id). */
  async function keysOnEveryShard(tier: string): Promise<KeyFixture[]> {
    const organization = await createOrganization(a.app, { rateLimitTier: tier });
    const keys: KeyFixture[] = [];
    const shards = new Set<string>();
    while (shards.size < cluster.ports.length || keys.length < 6) {
      const key = await issueKey(a.app, organization.id);
      keys.push(key);
      shards.add(shardOf(key.id));
      if (keys.length > 60) throw new Error('keys never reached every shard');
    }
    return keys;
  }
  const shardOf = (apiKeyId: string) => nodeOfSlot((a.deps.limiter as unknown as { options: { client: never } }).options.client, slotOfKey(apiKeyId)) ?? 'unmapped';
  const localShards = async (app: TestApp) => Number(/gatehouse_rate_limiter_local_shards (\d+)/.exec(await app.deps.metrics.registry.getSingleMetricAsString('gatehouse_rate_limiter_local_shards'))?.[1]);

  it('limits are exact across two instances: no more admitted in total than the limit, on every shard', async () => {
    const keys = await keysOnEveryShard('standard');
    const admitted = new Map<string, number>();
    await Promise.all(
      keys.map(async (key) => {
        for (let i = 0; i < LIMIT * 2; i++) {
          const response = await whoami(i % 2 === 0 ? a : b, key.key);
          expect([200, 429]).toContain(response.statusCode);
          if (response.statusCode === 200) admitted.set(key.id, (admitted.get(key.id) ?? 0) + 1);
        }
      }),
    );
    // A bucket refills one request every 3 s: a run of a few seconds may admit one or two more than the burst.
    for (const key of keys) {
      expect(admitted.get(key.id)).toBeGreaterThanOrEqual(LIMIT);
      expect(admitted.get(key.id)).toBeLessThanOrEqual(LIMIT + 2);
    }
    expect(a.deps.limiter.shared && b.deps.limiter.shared).toBe(true);
  });

  it('a revocation on one instance is in force on the other in under a second', async () => {
    const organization = await createOrganization(a.app, { rateLimitTier: 'partner' });
    for (let round = 0; round < 3; round++) {
      const key = await issueKey(a.app, organization.id);
      expect((await whoami(b, key.key)).statusCode).toBe(200);
      const started = performance.now();
      expect((await admin(a.app, 'POST', `/admin/v1/keys/${key.id}/revoke`)).statusCode).toBe(200);
      while ((await whoami(b, key.key)).statusCode !== 401) {
        if (performance.now() - started > 1_000) throw new Error('revocation not in force on B within a second');
        await sleep(10);
      }
      expect(performance.now() - started).toBeLessThan(1_000);
    }
  });

  it('a master stopped and started again under traffic: no request fails, only its buckets go local, then shared again', async () => {
    const keys = await keysOnEveryShard('partner');
    const victim = `127.0.0.1:${cluster.ports[0]}`;
    expect(keys.some((key) => shardOf(key.id) === victim)).toBe(true);
    const statuses: number[] = [];
    let traffic = true;
    const loops = [a, b].map(async (app) => {
      for (let i = 0; traffic; i++) {
        statuses.push((await whoami(app, keys[i % keys.length]!.key)).statusCode);
        if (i % 20 === 0) await sleep(1);
      }
    });
    await sleep(300);
    await cluster.stop(0);
    for (const deadline = Date.now() + 5_000; (await localShards(a)) !== 1 || (await localShards(b)) !== 1; ) {
      if (Date.now() > deadline) throw new Error(`the lost shard was not reported: ${await localShards(a)}, ${await localShards(b)}`);
      await sleep(50);
    }
    await sleep(500);
    // Exactly one shard is local; the others' buckets stay shared.
    expect([await localShards(a), await localShards(b)]).toEqual([1, 1]);
    await cluster.start(0);
    for (const deadline = Date.now() + 15_000; (await localShards(a)) !== 0 || (await localShards(b)) !== 0; ) {
      if (Date.now() > deadline) throw new Error('the shard did not come back into use');
      await sleep(100);
    }
    await sleep(300);
    traffic = false;
    await Promise.all(loops);

    expect(statuses.length).toBeGreaterThan(50);
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    expect(a.logs.text).toContain('Redis Cluster shard unreachable');
    expect(a.logs.text).toContain(victim);
    expect(a.logs.text).toContain('shared again');
    expect(a.deps.limiter.shared && b.deps.limiter.shared).toBe(true);
  });
});
