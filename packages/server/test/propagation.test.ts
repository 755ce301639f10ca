import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalInvalidationBus, type Invalidation, type InvalidationBus } from '../src/auth/invalidation.ts';
import { PgInvalidationBus } from '../src/auth/pg-invalidation-bus.ts';
import { RedisInvalidationBus } from '../src/auth/redis-invalidation-bus.ts';
import type { Store } from '../src/db/create-db.ts';
import { createLogger } from '../src/observability/logger.ts';
import { admin, createOrganization, issueKey, withKey, type KeyFixture } from './factories.ts';
import { createTestStore, LogCapture, redisTestUrl, startTestApp, usingPostgres, type TestApp } from './harness.ts';

/** SPEC 7: in force on every instance within one second. */
const GOAL_MS = 1000;
const POLL_MS = 10;
/** After an outage: reconnect attempts are at most 500 ms apart, then the handshake; far below the 60 s backstop. */
const RECONNECT_LIMIT_MS = 3000;

/**
 * A TCP relay the test can cut or stall. Cut: it drops every open connection and refuses new ones. Stalled: it keeps
 * every connection open but moves no bytes (a network that silently eats packets). A network outage between one
 * instance and Redis or PostgreSQL, with nothing of the product's code replaced.
 */
class TcpProxy {
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  private mode: 'up' | 'cut' | 'stalled' = 'up';
  private constructor(private readonly server: net.Server) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const server = net.createServer();
    const proxy = new TcpProxy(server);
    server.on('connection', (client) => {
      if (proxy.mode === 'cut') return client.destroy();
      const upstream = net.connect(target.port, target.host);
      const pair: [net.Socket, net.Socket] = [client, upstream];
      proxy.pairs.add(pair);
      for (const [from, to] of [pair, [upstream, client]] as const) {
        from.on('error', () => to.destroy());
        from.on('close', () => {
          proxy.pairs.delete(pair);
          to.destroy();
        });
      }
      if (proxy.mode === 'up') TcpProxy.flow(pair);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  private static flow([client, upstream]: [net.Socket, net.Socket]): void {
    client.pipe(upstream);
    upstream.pipe(client);
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  cut(): void {
    this.mode = 'cut';
    for (const [client, upstream] of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
  }

  stall(): void {
    this.mode = 'stalled';
    for (const [client, upstream] of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  restore(): void {
    const wasStalled = this.mode === 'stalled';
    this.mode = 'up';
    if (wasStalled) for (const pair of this.pairs) TcpProxy.flow(pair);
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const viaProxy = (url: string, proxy: TcpProxy): string => {
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(proxy.port);
  return proxied.toString();
};
const targetOf = (url: string) => {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port || (parsed.protocol.startsWith('redis') ? 6379 : 5432)) };
};

const busLogs = new LogCapture();
const busLogger = createLogger('info', busLogs);
const channel = () => `gh_test_${randomBytes(6).toString('hex')}:invalidation`;
/** A pair of instances shares one channel; each pair gets its own, so parallel runs never hear each other. */
const redisBus = (channelName: string, url = redisTestUrl, connectionName?: string, heartbeatMs?: number) =>
  RedisInvalidationBus.start({ url, channel: channelName, logger: busLogger, connectionName, heartbeatMs });

async function whoami(app: FastifyInstance, key: string) {
  const response = await app.inject({ url: '/v1/whoami', headers: withKey(key) });
  return { status: response.statusCode, body: response.json() };
}

/** Polls `check` every ~10 ms; the milliseconds from `since` until it first holds, or Infinity after `limitMs`. */
async function timeUntil(since: number, check: () => Promise<boolean>, limitMs: number): Promise<number> {
  while (performance.now() - since < limitMs) {
    if (await check()) return performance.now() - since;
    await sleep(POLL_MS);
  }
  return Number.POSITIVE_INFINITY;
}

interface Flip {
  name: string;
  /** Issued on instance A. */
  change: () => Promise<unknown>;
  /** Read on instance B: true once the change is in force there. */
  inForce: () => Promise<boolean>;
}

/**
 * Each flip: B answers (so its caches hold the state from before), A makes the change, then B is polled until it
 * answers the new state. `ms` counts from A's answer (the change is committed and published before A answers);
 * `totalMs` from the moment A was asked, so it also includes A's own handling of the request.
 */
async function measureFlips(flips: Flip[]): Promise<FlipResult[]> {
  const results = [];
  for (const flip of flips) {
    expect(await flip.inForce(), `${flip.name}: already in force before the change`).toBe(false);
    const asked = performance.now();
    await flip.change();
    const answered = performance.now();
    const totalMs = await timeUntil(asked, flip.inForce, 5000);
    results.push({ name: flip.name, ms: round(totalMs - (answered - asked)), totalMs: round(totalMs) });
  }
  return results;
}

interface FlipResult {
  name: string;
  ms: number;
  totalMs: number;
}
const round = (ms: number) => Math.round(ms * 10) / 10;

/** The 20 flips of the issue: key kill and un-kill, organization switch, tier, plan, global switch, revoke, expiry. */
async function twentyFlips(a: FastifyInstance, b: FastifyInstance): Promise<Flip[]> {
  const organization = await createOrganization(a, { rateLimitTier: 'standard' });
  const key = await issueKey(a, organization.id, { name: 'watched' });
  const manager = await issueKey(a, organization.id, { name: 'manager' });
  const spares: KeyFixture[] = [];
  for (let i = 0; i < 2; i++) spares.push(await issueKey(a, organization.id, { name: `spare ${i}` }));
  const on = (path: string, value: unknown) => async () => (await whoami(b, key.key)).body?.[path] === value;
  const statusOf = async (fullKey: string) => (await b.inject({ url: '/v1/api-keys', headers: withKey(fullKey) })).statusCode;
  const flips: Flip[] = [];
  const killPair = (via: 'admin' | 'self') => {
    flips.push({
      name: `key kill (${via})`,
      change: () => (via === 'admin' ? admin(a, 'POST', `/admin/v1/keys/${key.id}/kill`) : a.inject({ method: 'POST', url: `/v1/api-keys/${key.id}/kill`, headers: withKey(manager.key) })),
      inForce: on('killSwitch', true),
    });
    flips.push({ name: 'key un-kill', change: () => admin(a, 'POST', `/admin/v1/keys/${key.id}/unkill`), inForce: on('killSwitch', false) });
  };
  killPair('admin');
  killPair('self');
  flips.push({ name: 'organization apiAccessRevoked on', change: () => admin(a, 'PATCH', `/admin/v1/organizations/${organization.id}`, { apiAccessRevoked: true }), inForce: on('apiAccessRevoked', true) });
  flips.push({ name: 'organization apiAccessRevoked off', change: () => admin(a, 'PATCH', `/admin/v1/organizations/${organization.id}`, { apiAccessRevoked: false }), inForce: on('apiAccessRevoked', false) });
  flips.push({ name: 'tier to pilot', change: () => admin(a, 'PATCH', `/admin/v1/organizations/${organization.id}`, { rateLimitTier: 'pilot' }), inForce: on('rateLimitTier', 'pilot') });
  flips.push({ name: 'tier to partner', change: () => admin(a, 'PATCH', `/admin/v1/organizations/${organization.id}`, { rateLimitTier: 'partner' }), inForce: on('rateLimitTier', 'partner') });
  flips.push({ name: 'plan to free', change: () => admin(a, 'PATCH', `/admin/v1/organizations/${organization.id}`, { plan: 'free' }), inForce: async () => (await whoami(b, key.key)).status === 402 });
  flips.push({ name: 'plan to partner', change: () => admin(a, 'PATCH', `/admin/v1/organizations/${organization.id}`, { plan: 'partner' }), inForce: async () => (await whoami(b, key.key)).status === 200 });
  flips.push({ name: 'global kill switch on', change: () => admin(a, 'PUT', '/admin/v1/kill-switch', { enabled: true }), inForce: async () => (await whoami(b, key.key)).status === 503 });
  flips.push({ name: 'global kill switch off', change: () => admin(a, 'PUT', '/admin/v1/kill-switch', { enabled: false }), inForce: async () => (await whoami(b, key.key)).status === 200 });
  flips.push({
    name: 'revoke (self-service)',
    change: () => a.inject({ method: 'DELETE', url: `/v1/api-keys/${spares[0]!.id}`, headers: withKey(manager.key) }),
    inForce: async () => (await statusOf(spares[0]!.key)) === 401,
  });
  flips.push({
    name: 'roll, overlap 0 (expiry)',
    change: () => a.inject({ method: 'POST', url: `/v1/api-keys/${spares[1]!.id}/roll`, headers: withKey(manager.key), payload: { overlapSeconds: 0 } }),
    inForce: async () => (await statusOf(spares[1]!.key)) === 401,
  });
  for (let i = 0; i < 3; i++) killPair(i % 2 === 0 ? 'admin' : 'self');
  expect(flips).toHaveLength(20);
  return flips;
}

function report(label: string, results: FlipResult[]): number {
  const max = Math.max(...results.map((result) => result.ms));
  const maxTotal = Math.max(...results.map((result) => result.totalMs));
  console.log(
    `[propagation] ${label}: max ${max} ms after A answered (max ${maxTotal} ms from the request to A) over ${results.length} flips; ` +
      results.map((result) => `${result.name} ${result.ms}/${result.totalMs}`).join(', '),
  );
  return max;
}

async function pair(store: Store, busA: InvalidationBus, busB: InvalidationBus, nowB?: () => number): Promise<[TestApp, TestApp]> {
  const a = await startTestApp({ store, deps: { bus: busA } });
  const b = await startTestApp({ store, deps: { bus: busB, ...(nowB ? { now: nowB } : {}) } });
  return [a, b];
}

/** Everything B's bus hands to B's caches, to show which path (message, resync, backstop) delivered a change. */
function record(bus: InvalidationBus): Invalidation[] {
  const events: Invalidation[] = [];
  bus.subscribe((event) => events.push(event));
  return events;
}

describe.runIf(usingPostgres)('propagation across two instances on one PostgreSQL', () => {
  let store: Store & { databaseUrl?: string };
  const closers: Array<() => Promise<unknown>> = [];
  beforeAll(async () => {
    store = await createTestStore();
  });
  afterAll(async () => {
    for (const close of closers.reverse()) await close();
    await store.close();
  });
  const track = <T extends { close(): Promise<unknown> }>(thing: T): T => {
    closers.push(() => thing.close());
    return thing;
  };

  /** Two instances, a key, and B holding that key's state in its cache; `events` is what B's bus delivers. */
  async function watchedKey(busA: InvalidationBus, busB: InvalidationBus, nowB?: () => number) {
    const [a, b] = await pair(store, track(busA), track(busB), nowB);
    track(a);
    track(b);
    const events = record(busB);
    const organization = await createOrganization(a.app);
    const key = await issueKey(a.app, organization.id);
    const killSwitchOnB = async () => (await whoami(b.app, key.key)).body.killSwitch as boolean;
    expect(await killSwitchOnB()).toBe(false);
    const operator = (action: 'kill' | 'unkill') => admin(a.app, 'POST', `/admin/v1/keys/${key.id}/${action}`);
    return { events, killSwitchOnB, operator };
  }

  it('control: with in-process buses only, B keeps serving a killed key from its cache', async () => {
    const [a, b] = await pair(store, track(new LocalInvalidationBus()), track(new LocalInvalidationBus()));
    track(a);
    track(b);
    const organization = await createOrganization(a.app);
    const key = await issueKey(a.app, organization.id);
    expect((await whoami(b.app, key.key)).body.killSwitch).toBe(false);
    await admin(a.app, 'POST', `/admin/v1/keys/${key.id}/kill`);
    expect((await whoami(a.app, key.key)).body.killSwitch).toBe(true);
    await sleep(1500);
    // Stale on B: without a bus that crosses instances nothing tells it (until the 60 s backstop).
    expect((await whoami(b.app, key.key)).body.killSwitch).toBe(false);
  });

  it('Redis pub/sub: kill, un-kill, organization switch, tier, plan, global switch, revoke and expiry are in force on B within one second', async () => {
    const name = channel();
    const [a, b] = await pair(store, track(await redisBus(name)), track(await redisBus(name)));
    track(a);
    track(b);
    const results = await measureFlips(await twentyFlips(a.app, b.app));
    const max = report('Redis pub/sub', results);
    expect(max).toBeLessThan(GOAL_MS);
  });

  it('PostgreSQL LISTEN/NOTIFY (the default without REDIS_URL): the same 20 flips within one second', async () => {
    // No bus passed: createDeps picks LISTEN/NOTIFY because the store is PostgreSQL.
    const a = track(await startTestApp({ store }));
    const b = track(await startTestApp({ store }));
    expect(b.deps.bus).toBeInstanceOf(PgInvalidationBus);
    const results = await measureFlips(await twentyFlips(a.app, b.app));
    const max = report('PostgreSQL LISTEN/NOTIFY', results);
    expect(max).toBeLessThan(GOAL_MS);
  });

  it('REDIS_URL set: createDeps picks the Redis bus, and it crosses instances', async () => {
    const a = track(await startTestApp({ store, config: { redisUrl: redisTestUrl } }));
    const b = track(await startTestApp({ store, config: { redisUrl: redisTestUrl } }));
    expect(b.deps.bus).toBeInstanceOf(RedisInvalidationBus);
    const organization = await createOrganization(a.app);
    const key = await issueKey(a.app, organization.id);
    expect((await whoami(b.app, key.key)).body.killSwitch).toBe(false);
    const started = performance.now();
    await admin(a.app, 'POST', `/admin/v1/keys/${key.id}/kill`);
    expect(await timeUntil(started, async () => (await whoami(b.app, key.key)).body.killSwitch === true, 5000)).toBeLessThan(GOAL_MS);
  });

  describe('with the notification connection cut', () => {
    it('Redis, cut and kept down: the 60-second backstop ends it (B\'s clock moved on)', async () => {
      let clockB = Date.now();
      const name = channel();
      const proxy = track(await TcpProxy.start(targetOf(redisTestUrl)));
      const busB = await redisBus(name, viaProxy(redisTestUrl, proxy));
      const { killSwitchOnB, operator } = await watchedKey(await redisBus(name), busB, () => clockB);

      proxy.cut();
      await timeUntil(performance.now(), async () => !busB.connected, 2000);
      expect(busB.connected).toBe(false);
      await operator('kill');
      await sleep(1500);
      clockB += 59_000;
      expect(await killSwitchOnB()).toBe(false);
      // B read the state just before the cut, so it is the backstop, not a message, that ends it.
      clockB += 1_000;
      expect(await killSwitchOnB()).toBe(true);
      expect(busB.connected).toBe(false);
      proxy.restore();
    });

    it('Redis, cut then restored: the message sent during the outage is lost, the resync on reconnect applies it', async () => {
      const name = channel();
      const proxy = track(await TcpProxy.start(targetOf(redisTestUrl)));
      const busB = await redisBus(name, viaProxy(redisTestUrl, proxy));
      const { events, killSwitchOnB, operator } = await watchedKey(await redisBus(name), busB);

      proxy.cut();
      await timeUntil(performance.now(), async () => !busB.connected, 2000);
      await operator('kill');
      await sleep(1500);
      // Lost: B still serves its cached state (the lifetime is the full 60 s here).
      expect(await killSwitchOnB()).toBe(false);
      expect(events).toEqual([]);

      const restored = performance.now();
      proxy.restore();
      const ms = await timeUntil(restored, killSwitchOnB, 5000);
      console.log(`[propagation] Redis reconnect: resync put the kill in force on B ${Math.round(ms)} ms after the network came back`);
      expect(ms).toBeLessThan(RECONNECT_LIMIT_MS);
      expect(events).toContainEqual({ kind: 'all' });
      expect(busLogs.text).toContain('Redis subscriber disconnected');
    });

    it('Redis, connection silently stalled (no reset): the heartbeat notices, and the reconnect resyncs', async () => {
      const name = channel();
      const proxy = track(await TcpProxy.start(targetOf(redisTestUrl)));
      const busB = await redisBus(name, viaProxy(redisTestUrl, proxy), undefined, 300);
      const { events, killSwitchOnB, operator } = await watchedKey(await redisBus(name), busB);

      proxy.stall();
      const noticed = await timeUntil(performance.now(), async () => !busB.connected, 3000);
      console.log(`[propagation] Redis stalled: heartbeat noticed the dead subscriber after ${Math.round(noticed)} ms`);
      expect(noticed).toBeLessThan(3000);
      await operator('kill');

      const restored = performance.now();
      proxy.restore();
      const ms = await timeUntil(restored, killSwitchOnB, 5000);
      expect(ms).toBeLessThan(RECONNECT_LIMIT_MS);
      // The kill may come by the resync or, late, out of the dropped connection's buffers; the resync comes anyway.
      expect(await timeUntil(restored, async () => events.some((event) => event.kind === 'all'), 3000)).toBeLessThan(3000);
      expect(busB.connected).toBe(true);
    });

    it('Redis, CLIENT KILL of the subscriber: it reconnects, resynchronises, and changes keep arriving', async () => {
      const name = channel();
      const connectionName = `gh_test_sub_${randomBytes(4).toString('hex')}`;
      const busB = await redisBus(name, redisTestUrl, connectionName);
      const { events, killSwitchOnB, operator } = await watchedKey(await redisBus(name), busB);

      const redisAdmin = new Redis(redisTestUrl);
      try {
        const clients = (await redisAdmin.client('LIST')) as string;
        const id = clients.split('\n').find((line) => line.includes(` name=${connectionName} `))?.match(/^id=(\d+)/)?.[1];
        expect(id).toBeDefined();
        await redisAdmin.client('KILL', 'ID', id!);
      } finally {
        redisAdmin.disconnect();
      }
      expect(await timeUntil(performance.now(), async () => events.some((event) => event.kind === 'all'), 3000)).toBeLessThan(3000);

      // B caches the key's state again; only a message can change it now.
      expect(await killSwitchOnB()).toBe(false);
      const started = performance.now();
      await operator('kill');
      expect(await timeUntil(started, killSwitchOnB, 5000)).toBeLessThan(GOAL_MS);
    });

    it('PostgreSQL, cut then restored: the resync on reconnect applies what NOTIFY lost', async () => {
      const proxy = track(await TcpProxy.start(targetOf(store.databaseUrl!)));
      const busB = await PgInvalidationBus.start({ pool: store.pgPool!, clientConfig: { connectionString: viaProxy(store.databaseUrl!, proxy) }, logger: busLogger });
      const busA = await PgInvalidationBus.start({ pool: store.pgPool!, logger: busLogger });
      const { events, killSwitchOnB, operator } = await watchedKey(busA, busB);

      // Before the cut, NOTIFY reaches B through the proxied listener.
      let started = performance.now();
      await operator('kill');
      expect(await timeUntil(started, killSwitchOnB, 5000)).toBeLessThan(GOAL_MS);

      proxy.cut();
      await timeUntil(performance.now(), async () => !busB.connected, 2000);
      expect(busB.connected).toBe(false);
      events.length = 0;
      await operator('unkill');
      await sleep(1500);
      expect(await killSwitchOnB()).toBe(true);

      started = performance.now();
      proxy.restore();
      const ms = await timeUntil(started, async () => !(await killSwitchOnB()), 5000);
      console.log(`[propagation] PostgreSQL reconnect: resync put the un-kill in force on B ${Math.round(ms)} ms after the network came back`);
      expect(ms).toBeLessThan(RECONNECT_LIMIT_MS);
      expect(events).toContainEqual({ kind: 'all' });
    });
  });
});
