import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBalancer, type Balancer } from './fixtures/balancer.ts';
import { sendJson, sleep, startFakeUpstream, type FakeUpstream } from './fixtures/fake-upstream.ts';
import { ADMIN_TOKEN, createTestStore, redisTestUrl, TEST_SECRET, usingPostgres } from './harness.ts';
import { UNCAPPED_RATE_LIMITS_ENV } from './fixtures/uncapped-rate-limits.ts';
import { startServerProcess, type ServerProcess } from './server-process.ts';
import type { Store } from '../src/db/create-db.ts';

const LOAD_CLIENTS = 6;

// Instances on PostgreSQL and Redis, as in production: runs in the PostgreSQL pass.
describe.runIf(usingPostgres)('a rolling restart: SIGTERM to one of two instances under load (SPEC 11)', () => {
  let store: Store & { databaseUrl?: string };
  let upstream: FakeUpstream;
  let balancer: Balancer | undefined;
  const servers: ServerProcess[] = [];

  beforeAll(async () => {
    store = await createTestStore();
    // Lookups take 4 s: the jobs are mid-fetch when their instance is told to stop.
    upstream = await startFakeUpstream(async (_request, response) => {
      await sleep(4_000);
      sendJson(response, 200, { resultCount: 1, results: [{ trackName: 'App', trackViewUrl: 'https://apps.example/x' }] });
    });
  }, 60_000);
  afterAll(async () => {
    await balancer?.close();
    await Promise.all(servers.map((server) => (server.child.exitCode === null ? server.stop() : undefined)));
    await upstream?.close();
    await store?.close();
  });

  const instance = async (jobConcurrency: number) => {
    const server = await startServerProcess({
      DATABASE_URL: store.databaseUrl!,
      REDIS_URL: redisTestUrl,
      // One deployment secret for the cluster, as SPEC 11 asks: each instance verifies the keys the other issued.
      GATEHOUSE_SECRET: TEST_SECRET,
      GATEHOUSE_ADMIN_TOKEN: ADMIN_TOKEN,
      GATEHOUSE_DRAIN_MS: '1500',
      GATEHOUSE_RATE_LIMITS: UNCAPPED_RATE_LIMITS_ENV,
      GATEHOUSE_APPSTORE_LOOKUP_URL: `${upstream.origin}/lookup`,
      GATEHOUSE_ALLOW_PRIVATE_UPSTREAMS: 'true',
      GATEHOUSE_JOB_CONCURRENCY: String(jobConcurrency),
      GATEHOUSE_JOB_POLL_MS: '100',
      GATEHOUSE_JOB_START_DELAY_MS: '0',
      // Far longer than the test: a job that moves on before this was handed back, not taken over after its lease.
      GATEHOUSE_JOB_LEASE_MS: '120000',
    });
    servers.push(server);
    return server;
  };

  const call = async (baseUrl: string, method: string, path: string, headers: Record<string, string>, body?: unknown) => {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it('zero failed requests, kept-alive connections closed between requests, running jobs handed back', async () => {
    const [stopping, staying] = await Promise.all([instance(2), instance(0)]);
    // Checks readiness every 400 ms, as a real balancer checks every few seconds: without the drain, requests would
    // reach the stopping instance after its listener closed.
    balancer = await startBalancer([stopping.baseUrl, staying.baseUrl], 400);
    const admin = { 'x-admin-token': ADMIN_TOKEN };
    const organization = await call(staying.baseUrl, 'POST', '/admin/v1/organizations', admin, { name: 'Rolling', plan: 'partner', creditBalance: 6000 });
    expect(organization.status).toBe(201);
    const issued = await call(staying.baseUrl, 'POST', `/admin/v1/organizations/${organization.body.id}/keys`, admin, { name: 'load' });
    expect(issued.status).toBe(201);
    const partner = { 'x-api-key': issued.body.key as string };
    const project = await call(balancer.origin, 'POST', '/v1/projects', partner, { name: 'Rolling restart' });
    expect(project.status, JSON.stringify(project.body)).toBe(201);

    // Two jobs, run by the instance about to stop (the other runs none).
    const jobIds: string[] = [];
    for (let i = 0; i < 2; i++) {
      const queued = await call(balancer.origin, 'POST', `/v1/projects/${project.body.id}/ingest/appstore`, partner, { iosBundleId: `rolling.${i}.${randomUUID().slice(0, 6)}` });
      expect(queued.status).toBe(202);
      jobIds.push(queued.body.jobId as string);
    }
    const jobs = () => store.db.selectFrom('jobs').select(['id', 'status', 'leased_by', 'attempts']).where('id', 'in', jobIds).execute();
    for (const deadline = Date.now() + 15_000; (await jobs()).some((job) => job.status !== 'running'); ) {
      if (Date.now() > deadline) throw new Error(`jobs not running: ${JSON.stringify(await jobs())}`);
      await sleep(50);
    }

    // Load through the balancer on kept-alive connections, before, during and after the SIGTERM.
    let load = true;
    const outcomes: { status: number; path: string }[] = [];
    const client = async (n: number) => {
      while (load) {
        const path = n % 2 === 0 ? '/v1/whoami' : `/v1/projects/${project.body.id}`;
        try {
          const response = await fetch(`${balancer!.origin}${path}`, { headers: partner });
          await response.arrayBuffer();
          outcomes.push({ status: response.status, path });
        } catch (error) {
          outcomes.push({ status: 0, path: `${path}: ${(error as Error).message}` });
        }
      }
    };
    const clients = Array.from({ length: LOAD_CLIENTS }, (_, n) => client(n));
    await sleep(1_000);
    const servedBefore = balancer.served.get(stopping.baseUrl) ?? 0;
    const exitCode = await stopping.stop();
    await sleep(500);
    load = false;
    await Promise.all(clients);

    expect(exitCode).toBe(0);
    expect(balancer.failures).toEqual([]);
    expect(outcomes.filter((outcome) => outcome.status !== 200)).toEqual([]);
    expect(outcomes.length).toBeGreaterThan(LOAD_CLIENTS * 5);
    // The stopping instance served load until it drained, and the other one served what came after.
    expect(servedBefore).toBeGreaterThan(0);
    expect(balancer.served.get(staying.baseUrl) ?? 0).toBeGreaterThan(0);

    // Its running jobs went back to the queue at once (the lease is two minutes), not left to expire...
    const handedBack = await jobs();
    expect(handedBack.map((job) => [job.status, job.leased_by])).toEqual(jobIds.map(() => ['queued', expect.anything()]));
    // ...and the instance that replaces it runs them to the end.
    await instance(2);
    for (const deadline = Date.now() + 30_000; (await jobs()).some((job) => job.status !== 'succeeded'); ) {
      if (Date.now() > deadline) throw new Error(`jobs not finished: ${JSON.stringify(await jobs())}`);
      await sleep(100);
    }
    expect((await jobs()).map((job) => job.attempts)).toEqual([1, 1]);
  }, 90_000);
});
