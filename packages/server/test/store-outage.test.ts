import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore, type Store } from '../src/db/create-db.ts';
import { partnerWithKey, withKey } from './factories.ts';
import { sendJson, sleep, startFakeUpstream, type FakeUpstream } from './fixtures/fake-upstream.ts';
import { insertProject } from './fixtures/jobs.ts';
import { startOwnPostgres, type OwnPostgres } from './fixtures/own-servers.ts';
import { UNCAPPED_TIER } from './fixtures/uncapped-rate-limits.ts';
import { startReceiver, type Receiver } from './fixtures/webhook-receiver.ts';
import { startTestApp, usingPostgres, type TestApp } from './harness.ts';
import { DEFAULT_RATE_LIMITS } from '../src/config.ts';

/** What SPEC 11 allows a request that needs the store while it is down: 503 UNAVAILABLE, within 2 s. */
const OUTAGE_ANSWER_MS = 2_000;

interface Observed {
  path: string;
  status: number;
  code?: string;
  ms: number;
  phase: string;
}

// It stops and starts a PostgreSQL server of its own, so it runs once, in the PostgreSQL pass.
describe.runIf(usingPostgres)('PostgreSQL stopped and started again under traffic (SPEC 11, outages)', () => {
  let postgres: OwnPostgres;
  let store: Store;
  let api: TestApp;
  let baseUrl: string;
  let upstream: FakeUpstream;
  let receiver: Receiver;

  beforeAll(async () => {
    postgres = await startOwnPostgres();
    // Each App Store lookup takes 1.5 s: a job is mid-fetch when the store goes away.
    upstream = await startFakeUpstream(async (_request, response, url) => {
      await sleep(1_500);
      sendJson(response, 200, { resultCount: 1, results: [{ trackName: `App ${url.searchParams.get('bundleId')}`, trackViewUrl: 'https://apps.example/x' }] });
    });
    receiver = await startReceiver(() => ({ status: 204 }));
    store = await createStore({ databaseUrl: postgres.url, poolSize: 5, timeoutMs: 1_000 });
    api = await startTestApp({
      store,
      config: {
        upstreams: { appstoreLookupUrl: `${upstream.origin}/lookup`, playstoreUrl: upstream.origin, githubApiUrl: upstream.origin, allowPrivate: true },
        jobs: { concurrency: 2, pollMs: 100, startDelayMs: 0, leaseMs: 2_000 },
        webhooks: { pollMs: 100, backoffBaseMs: 200, backoffFactor: 2, jitter: 0, timeoutMs: 2_000 },
        // The traffic loop answers cached keys in well under a millisecond while the store is down: on a quiet machine
        // it outruns the partner tier's limit, and a 429 is not what this test looks for.
        rateLimits: { ...DEFAULT_RATE_LIMITS, partner: UNCAPPED_TIER },
      },
    });
    baseUrl = await api.app.listen({ port: 0, host: '127.0.0.1' });
  }, 120_000);
  afterAll(async () => {
    await api?.close();
    await store?.close();
    await postgres?.destroy();
    await upstream?.close();
    await receiver?.close();
  });

  it('readyz 503, 503 UNAVAILABLE within 2 s, cached keys served; after the restart it serves, runs the queued jobs and delivers their webhooks', async () => {
    const { organization, key } = await partnerWithKey(api.app, { rateLimitTier: 'partner' });
    const projectId = await insertProject(api.deps, organization.id);
    const endpoint = await api.app.inject({ method: 'POST', url: '/v1/webhook-endpoints', headers: withKey(key.key), payload: { url: `${receiver.origin}/hooks`, events: ['job.succeeded'] } });
    expect(endpoint.statusCode, endpoint.body).toBe(201);

    let phase = 'before';
    const observed: Observed[] = [];
    let traffic = true;
    const call = async (path: string) => {
      const started = performance.now();
      const response = await fetch(`${baseUrl}${path}`, { headers: withKey(key.key) });
      const body = (await response.json()) as { error?: { code: string } };
      observed.push({ path, status: response.status, code: body.error?.code, ms: performance.now() - started, phase });
    };
    // Two clients: one on the cached key alone, one on routes that read the store.
    const clients = [
      (async () => {
        while (traffic) await call('/v1/whoami');
      })(),
      (async () => {
        while (traffic) {
          await call('/v1/projects');
          await call('/readyz');
        }
      })(),
    ];

    // Queued before the outage: jobs that are running (mid-fetch) or still waiting when the store goes away.
    const jobIds: string[] = [];
    for (let i = 0; i < 4; i++) {
      const response = await api.app.inject({ method: 'POST', url: `/v1/projects/${projectId}/ingest/appstore`, headers: withKey(key.key), payload: { iosBundleId: `outage.${i}.${randomUUID().slice(0, 6)}` } });
      expect(response.statusCode, response.body).toBe(202);
      jobIds.push(response.json().jobId);
    }
    await upstream.waitForRequest('/lookup', 10_000);
    await sleep(300);

    phase = 'stopping';
    await postgres.stop();
    phase = 'down';
    await sleep(3_000);
    phase = 'restarting';
    await postgres.start();
    // Recovery: the same process answers /readyz 200 again without a restart.
    const recovered = performance.now();
    for (;;) {
      const ready = await fetch(`${baseUrl}/readyz`);
      await ready.arrayBuffer();
      if (ready.status === 200) break;
      if (performance.now() - recovered > 15_000) throw new Error('not ready 15 s after PostgreSQL came back');
      await sleep(100);
    }
    phase = 'after';
    await sleep(1_000);
    traffic = false;
    await Promise.all(clients);

    const during = observed.filter((entry) => entry.phase === 'down');
    // The cached key kept authenticating throughout.
    const whoami = observed.filter((entry) => entry.path === '/v1/whoami');
    expect(whoami.length).toBeGreaterThan(10);
    expect(whoami.filter((entry) => entry.status !== 200)).toEqual([]);
    expect(during.filter((entry) => entry.path === '/v1/whoami').length).toBeGreaterThan(0);
    // The store's routes: 503 UNAVAILABLE while it was down, never a 500, never a hang.
    const storeDown = during.filter((entry) => entry.path !== '/v1/whoami');
    expect(storeDown.length).toBeGreaterThan(1);
    for (const entry of storeDown) expect(entry).toMatchObject({ status: 503, code: 'UNAVAILABLE' });
    expect(observed.filter((entry) => entry.status >= 500 && entry.status !== 503)).toEqual([]);
    expect(Math.max(...observed.map((entry) => entry.ms))).toBeLessThan(OUTAGE_ANSWER_MS);
    expect(observed.filter((entry) => entry.phase === 'after' && entry.path !== '/v1/whoami' && entry.status !== 200)).toEqual([]);

    // Nothing queued was lost: every job finishes and every job.succeeded event reaches the receiver.
    const deadline = Date.now() + 30_000;
    let rows: { id: string; status: string }[] = [];
    do {
      rows = await store.db.selectFrom('jobs').select(['id', 'status']).where('id', 'in', jobIds).execute();
      if (rows.every((row) => row.status === 'succeeded')) break;
      await sleep(200);
    } while (Date.now() < deadline);
    expect(rows.map((row) => row.status)).toEqual(jobIds.map(() => 'succeeded'));
    const hooks = await receiver.waitFor('/hooks', jobIds.length, 20_000);
    expect(new Set(hooks.map((hook) => (JSON.parse(hook.body) as { data: { id: string } }).data.id))).toEqual(new Set(jobIds));
    const log = api.logs.text;
    expect(log).toMatch(/store unreachable/);
    expect(log).not.toContain(key.key);
  });
});
