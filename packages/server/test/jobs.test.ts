import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FinishedJob } from '../src/jobs/runner.ts';
import { createOrganization, issueKey, partnerWithKey, withKey } from './factories.ts';
import { sendJson, sleep, startFakeUpstream, type FakeUpstream } from './fixtures/fake-upstream.ts';
import { creditBalance, getJob, ingest, insertProject, startIngest, waitForJob } from './fixtures/jobs.ts';
import { createTestStore, startTestApp, type TestApp } from './harness.ts';
import type { Store } from '../src/db/create-db.ts';

/**
 * Bundle ids steer the fake App Store: `hang.*` never answers, `once.*` hangs on its first request and answers
 * after that, anything else answers at once.
 */
const hungOnce = new Set<string>();
let upstream: FakeUpstream;
let store: Store;
/** Serves the API and runs no jobs, so whatever it queues stays queued until a worker instance starts. */
let api: TestApp;

const listing = (bundleId: string) => ({ resultCount: 1, results: [{ trackName: `App ${bundleId}`, bundleId, trackViewUrl: `https://apps.example/${bundleId}` }] });

beforeAll(async () => {
  upstream = await startFakeUpstream((_request, response, url) => {
    const bundleId = url.searchParams.get('bundleId') ?? '';
    if (bundleId.startsWith('hang.')) return;
    if (bundleId.startsWith('once.') && !hungOnce.has(bundleId)) {
      hungOnce.add(bundleId);
      return;
    }
    sendJson(response, 200, listing(bundleId));
  });
  store = await createTestStore();
  api = await instance({ concurrency: 0 });
});
afterAll(async () => {
  await api?.close();
  await store?.close();
  await upstream?.close();
});

function instance(jobs: { concurrency?: number; leaseMs?: number; pollMs?: number; startDelayMs?: number } = {}): Promise<TestApp> {
  return startTestApp({
    store,
    config: {
      upstreams: { appstoreLookupUrl: `${upstream.origin}/lookup`, playstoreUrl: upstream.origin, githubApiUrl: upstream.origin, allowPrivate: true, timeoutMs: 20_000 },
      jobs: { pollMs: 50, startDelayMs: 0, ...jobs },
    },
  });
}

// The partner tier: these tests start more jobs a minute than the standard tier (10) admits.
async function partnerProject(creditBalance = 6000) {
  const { organization, key } = await partnerWithKey(api.app, { creditBalance, rateLimitTier: 'partner' });
  const projectId = await insertProject(api.deps, organization.id);
  return { organizationId: organization.id, key: key.key, projectId };
}

const unique = (prefix: string) => `${prefix}.${randomUUID().slice(0, 8)}`;
const cancel = (app: TestApp['app'], key: string, jobId: string) => app.inject({ method: 'POST', url: `/v1/jobs/${jobId}/cancel`, headers: withKey(key) });
const settledWithin = (promise: Promise<unknown>, ms: number) => Promise.race([promise.then(() => true), sleep(ms).then(() => false)]);

describe('GET /v1/jobs/:jobId', () => {
  it('answers the SPEC 8.2 shape for a queued job, and 404 for another organization or a missing one', async () => {
    const { key, projectId } = await partnerProject();
    const jobId = await ingest(api.app, key, projectId, 'appstore', { iosBundleId: unique('queued') });
    const job = await getJob(api.app, key, jobId);
    expect(job).toEqual({
      id: jobId,
      env: 'live',
      projectId,
      kind: 'ingest_appstore',
      status: 'queued',
      createdAt: expect.any(String),
      startedAt: null,
      finishedAt: null,
      creditsCharged: 0,
    });
    const other = await partnerProject();
    for (const [url, method] of [
      [`/v1/jobs/${jobId}`, 'GET'],
      [`/v1/jobs/${jobId}/cancel`, 'POST'],
      [`/v1/jobs/${randomUUID()}`, 'GET'],
    ] as const) {
      const response = await api.app.inject({ method, url, headers: withKey(other.key) });
      expect(response.statusCode, url).toBe(404);
      expect(response.json().error.code).toBe('NOT_FOUND');
    }
    await cancel(api.app, key, jobId);
  });

  it('needs jobs:read to read and jobs:cancel to cancel', async () => {
    const { organizationId, key, projectId } = await partnerProject();
    const jobId = await ingest(api.app, key, projectId, 'appstore', { iosBundleId: unique('queued') });
    const reader = await issueKey(api.app, organizationId, { scopes: ['jobs:read'] });
    expect((await api.app.inject({ url: `/v1/jobs/${jobId}`, headers: withKey(reader.key) })).statusCode).toBe(200);
    const refused = await cancel(api.app, reader.key, jobId);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.details).toEqual({ requiredScope: 'jobs:cancel' });
    const canceller = await issueKey(api.app, organizationId, { scopes: ['jobs:cancel'] });
    expect((await cancel(api.app, canceller.key, jobId)).statusCode).toBe(200);
  });
});

describe('POST /v1/jobs/:jobId/cancel', () => {
  it('cancels a queued job: 200, nothing spent, and no outbound call ever made', async () => {
    const { organizationId, key, projectId } = await partnerProject();
    const finished: FinishedJob[] = [];
    const unsubscribe = api.deps.jobs.onJobFinished((event) => void finished.push(event));
    const bundleId = unique('smoke');
    const jobId = await ingest(api.app, key, projectId, 'appstore', { iosBundleId: bundleId });

    const response = await cancel(api.app, key, jobId);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ id: jobId, status: 'canceled', creditsCharged: 0, startedAt: null, finishedAt: expect.any(String) });
    await expect.poll(() => finished.map((event) => [event.organizationId, event.job.id, event.job.status])).toContainEqual([organizationId, jobId, 'canceled']);
    expect(finished.find((event) => event.job.id === jobId)?.job).toEqual(response.json());
    unsubscribe();

    const again = await cancel(api.app, key, jobId);
    expect(again.statusCode).toBe(409);
    expect(again.json().error).toMatchObject({ code: 'CONFLICT', details: { reason: 'already_terminal' } });

    // A worker that starts now drains the queue but never touches the canceled job.
    const worker = await instance();
    try {
      const next = await ingest(api.app, key, projectId, 'appstore', { iosBundleId: unique('after') });
      expect((await waitForJob(api.app, key, next)).status).toBe('succeeded');
    } finally {
      await worker.close();
    }
    expect(upstream.count(`/lookup?bundleId=${bundleId}`)).toBe(0);
    expect(await getJob(api.app, key, jobId)).toMatchObject({ status: 'canceled', creditsCharged: 0 });
    expect(await creditBalance(api.deps, organizationId)).toBe(6000 - 10);
  });

  it('accepts the cancel with Content-Type: application/json and no body, as the docs’ smoke test sends it', async () => {
    const { key, projectId } = await partnerProject();
    const headers = withKey(key, { 'content-type': 'application/json' });
    const empty = await ingest(api.app, key, projectId, 'appstore', { iosBundleId: unique('smoke') });
    expect((await api.app.inject({ method: 'POST', url: `/v1/jobs/${empty}/cancel`, headers, payload: '' })).statusCode).toBe(200);
    const braces = await ingest(api.app, key, projectId, 'appstore', { iosBundleId: unique('smoke') });
    expect((await api.app.inject({ method: 'POST', url: `/v1/jobs/${braces}/cancel`, headers, payload: '{}' })).statusCode).toBe(200);
    const broken = await api.app.inject({ method: 'POST', url: `/v1/jobs/${braces}/cancel`, headers, payload: '{"oops' });
    expect(broken.statusCode).toBe(400);
    expect(broken.json().error.code).toBe('BAD_REQUEST');
  });

  it('holds a new job for the start delay, so a cancel right after the 202 is free even with a worker running', async () => {
    const worker = await instance({ startDelayMs: 1_500 });
    try {
      const { organizationId, key, projectId } = await partnerProject(100);
      const canceledBundle = unique('smoke');
      const canceled = await ingest(worker.app, key, projectId, 'appstore', { iosBundleId: canceledBundle });
      expect((await cancel(worker.app, key, canceled)).statusCode).toBe(200);

      const waitedBundle = unique('delayed');
      const waited = await ingest(worker.app, key, projectId, 'appstore', { iosBundleId: waitedBundle });
      expect((await getJob(worker.app, key, waited)).status).toBe('queued');
      const job = await waitForJob(worker.app, key, waited);
      expect(job.status).toBe('succeeded');
      expect(Date.parse(job.startedAt!) - Date.parse(job.createdAt)).toBeGreaterThanOrEqual(1_500);
      expect(upstream.count(`/lookup?bundleId=${canceledBundle}`)).toBe(0);
      expect(upstream.count(`/lookup?bundleId=${waitedBundle}`)).toBe(1);
      expect(await creditBalance(api.deps, organizationId)).toBe(90);
    } finally {
      await worker.close();
    }
  });

  it('cancels a running job: 202, the in-flight fetch is aborted, the upstream connection closes, the job ends canceled', async () => {
    const worker = await instance();
    try {
      const { key, projectId } = await partnerProject();
      const bundleId = unique('hang');
      const jobId = await ingest(worker.app, key, projectId, 'appstore', { iosBundleId: bundleId });
      const seen = await upstream.waitForRequest(`/lookup?bundleId=${bundleId}`);

      const response = await cancel(worker.app, key, jobId);
      expect(response.statusCode).toBe(202);
      expect(response.json()).toMatchObject({ id: jobId, status: 'running' });
      expect(await settledWithin(seen.closed, 2_000)).toBe(true);
      const job = await waitForJob(worker.app, key, jobId);
      expect(job).toMatchObject({ status: 'canceled', creditsCharged: 10 });
      expect(job.error).toBeUndefined();
      expect(job.result).toBeUndefined();
      expect((await cancel(worker.app, key, jobId)).statusCode).toBe(409);
    } finally {
      await worker.close();
    }
  });

  it('cancels a job running on another instance within about a second', async () => {
    const worker = await instance();
    try {
      const { key, projectId } = await partnerProject();
      const bundleId = unique('hang');
      const jobId = await ingest(api.app, key, projectId, 'appstore', { iosBundleId: bundleId });
      const seen = await upstream.waitForRequest(`/lookup?bundleId=${bundleId}`);
      // The cancel reaches the instance that runs no jobs; the worker learns of it at its next lease renewal.
      const started = performance.now();
      expect((await cancel(api.app, key, jobId)).statusCode).toBe(202);
      expect(await settledWithin(seen.closed, 3_000)).toBe(true);
      expect(performance.now() - started).toBeLessThan(2_500);
      expect(await waitForJob(api.app, key, jobId)).toMatchObject({ status: 'canceled' });
    } finally {
      await worker.close();
    }
  });

  it('answers 409 already_terminal for a finished job', async () => {
    const worker = await instance();
    try {
      const { key, projectId } = await partnerProject();
      const jobId = await ingest(worker.app, key, projectId, 'appstore', { iosBundleId: unique('done') });
      expect((await waitForJob(worker.app, key, jobId)).status).toBe('succeeded');
      const response = await cancel(worker.app, key, jobId);
      expect(response.statusCode).toBe(409);
      expect(response.json().error).toMatchObject({ code: 'CONFLICT', details: { reason: 'already_terminal' } });
      expect((await getJob(worker.app, key, jobId)).status).toBe('succeeded');
    } finally {
      await worker.close();
    }
  });
});

describe('credits', () => {
  it('charges once, when the job starts, and whoami shows the new balance', async () => {
    const worker = await instance();
    try {
      const { organizationId, key, projectId } = await partnerProject(100);
      const finished: FinishedJob[] = [];
      worker.deps.jobs.onJobFinished((event) => void finished.push(event));
      expect((await api.app.inject({ url: '/v1/whoami', headers: withKey(key) })).json().creditBalance).toBe(100);
      const jobId = await ingest(worker.app, key, projectId, 'appstore', { iosBundleId: unique('paid') });
      const job = await waitForJob(worker.app, key, jobId);
      expect(job).toMatchObject({ status: 'succeeded', creditsCharged: 10 });
      await expect.poll(() => finished).toEqual([{ organizationId, job }]);
      expect(await creditBalance(api.deps, organizationId)).toBe(90);
      expect((await worker.app.inject({ url: '/v1/whoami', headers: withKey(key) })).json().creditBalance).toBe(90);
    } finally {
      await worker.close();
    }
  });

  it('answers 402 INSUFFICIENT_CREDITS when the balance is below the cost, and queues nothing', async () => {
    const { organizationId, key, projectId } = await partnerProject(9);
    const response = await startIngest(api.app, key, projectId, 'appstore', { iosBundleId: unique('poor') });
    expect(response.statusCode).toBe(402);
    expect(response.json().error).toMatchObject({ code: 'INSUFFICIENT_CREDITS', details: { required: 10, creditBalance: 9 } });
    const jobs = await api.deps.store.db.selectFrom('jobs').select('id').where('organization_id', '=', organizationId).execute();
    expect(jobs).toHaveLength(0);
    const website = await startIngest(api.app, key, projectId, 'website', { url: 'https://example.com' });
    expect(website.statusCode).toBe(402);
  });

  it('never goes below zero when many jobs start at once: the ones that cannot be paid fail INSUFFICIENT_CREDITS', async () => {
    const { organizationId, key, projectId } = await partnerProject(35);
    const jobIds: string[] = [];
    for (let i = 0; i < 12; i++) jobIds.push(await ingest(api.app, key, projectId, 'appstore', { iosBundleId: unique('many') }));
    const workers = await Promise.all([instance({ concurrency: 12 }), instance({ concurrency: 12 })]);
    try {
      const jobs = await Promise.all(jobIds.map((jobId) => waitForJob(api.app, key, jobId)));
      const succeeded = jobs.filter((job) => job.status === 'succeeded');
      const refused = jobs.filter((job) => job.status === 'failed');
      // Every job's outcome in the message, so a failure says which way the jobs went.
      expect(succeeded, JSON.stringify(jobs.map((job) => [job.status, job.error?.code, job.creditsCharged]))).toHaveLength(3);
      expect(succeeded.every((job) => job.creditsCharged === 10)).toBe(true);
      expect(refused).toHaveLength(9);
      expect(refused.every((job) => job.error?.code === 'INSUFFICIENT_CREDITS' && job.creditsCharged === 0)).toBe(true);
      expect(await creditBalance(api.deps, organizationId)).toBe(5);
      const outcomes = workers.map((worker) => worker.deps.metrics.registry.getSingleMetricAsString('gatehouse_job_outcomes_total'));
      expect((await Promise.all(outcomes)).join('\n')).toMatch(/kind="ingest_appstore",status="failed"/);
    } finally {
      await Promise.all(workers.map((worker) => worker.close()));
    }
  });
});

describe('durability', () => {
  it('a graceful shutdown hands the running job back; another instance finishes it without charging again', async () => {
    const { organizationId, key, projectId } = await partnerProject(100);
    const first = await instance({ concurrency: 1 });
    const bundleId = unique('once');
    const jobId = await ingest(first.app, key, projectId, 'appstore', { iosBundleId: bundleId });
    const seen = await upstream.waitForRequest(`/lookup?bundleId=${bundleId}`);
    await first.close();
    expect(await settledWithin(seen.closed, 1_000)).toBe(true);
    const handedBack = await api.deps.store.db.selectFrom('jobs').selectAll().where('id', '=', jobId).executeTakeFirstOrThrow();
    expect(handedBack).toMatchObject({ status: 'queued', lease_token: null, lease_expires_at: null, credits_charged: 10 });

    const second = await instance();
    try {
      const job = await waitForJob(api.app, key, jobId);
      expect(job).toMatchObject({ status: 'succeeded', creditsCharged: 10 });
      expect(upstream.count(`/lookup?bundleId=${bundleId}`)).toBe(2);
      expect(await creditBalance(api.deps, organizationId)).toBe(90);
      const row = await api.deps.store.db.selectFrom('jobs').select(['attempts', 'leased_by']).where('id', '=', jobId).executeTakeFirstOrThrow();
      expect(row).toEqual({ attempts: 1, leased_by: second.deps.jobs.instanceId });
    } finally {
      await second.close();
    }
  });

  it('takes over a job whose lease expired, without charging it again, and gives up after too many attempts', async () => {
    const { organizationId, key, projectId } = await partnerProject(100);
    const db = api.deps.store.db;
    const orphan = async (attempts: number) =>
      (
        await db
          .insertInto('jobs')
          .values({
            organization_id: organizationId,
            project_id: projectId,
            kind: 'ingest_appstore',
            input: JSON.stringify({ iosBundleId: unique('orphan') }),
            status: 'running',
            attempts,
            credits_charged: 10,
            lease_token: randomUUID(),
            leased_by: 'a-dead-instance',
            lease_expires_at: new Date(Date.now() - 1_000),
            started_at: new Date(),
          })
          .returning('id')
          .executeTakeFirstOrThrow()
      ).id;
    const recovered = await orphan(1);
    const exhausted = await orphan(3);
    const worker = await instance();
    try {
      expect(await waitForJob(api.app, key, recovered)).toMatchObject({ status: 'succeeded', creditsCharged: 10 });
      expect(await waitForJob(api.app, key, exhausted)).toMatchObject({ status: 'failed', error: { code: 'JOB_ATTEMPTS_EXHAUSTED' } });
      expect(await creditBalance(api.deps, organizationId)).toBe(100);
    } finally {
      await worker.close();
    }
  });

  it('never claims again a job it is still running when its own lease lapsed (a stalled process): the heartbeat renews it', async () => {
    const { key, projectId } = await partnerProject(100);
    const worker = await instance({ concurrency: 2 });
    try {
      const bundleId = unique('hang');
      const jobId = await ingest(worker.app, key, projectId, 'appstore', { iosBundleId: bundleId });
      await upstream.waitForRequest(`/lookup?bundleId=${bundleId}`);
      const db = api.deps.store.db;
      const claimed = await db.selectFrom('jobs').select(['lease_token', 'attempts']).where('id', '=', jobId).executeTakeFirstOrThrow();
      // What a process stalled past its lease leaves behind: its job running, the lease in the past.
      await db.updateTable('jobs').set({ lease_expires_at: new Date(Date.now() - 1_000) }).where('id', '=', jobId).execute();
      // Many polls (every 50 ms) and at least one heartbeat (every 500 ms) later:
      await sleep(1_200);
      const row = await db.selectFrom('jobs').select(['status', 'attempts', 'lease_token', 'lease_expires_at']).where('id', '=', jobId).executeTakeFirstOrThrow();
      expect(row).toMatchObject({ status: 'running', attempts: claimed.attempts, lease_token: claimed.lease_token });
      expect(row.lease_expires_at!.getTime()).toBeGreaterThan(Date.now());
      expect(upstream.count(`/lookup?bundleId=${bundleId}`)).toBe(1);
      expect((await cancel(worker.app, key, jobId)).statusCode).toBe(202);
      expect(await waitForJob(api.app, key, jobId)).toMatchObject({ status: 'canceled' });
    } finally {
      await worker.close();
    }
  });

  it('refuses new jobs for an organization that cannot be found through the key (another org project → 404)', async () => {
    const { key } = await partnerProject();
    const stranger = await createOrganization(api.app);
    const strangerProject = await insertProject(api.deps, stranger.id);
    expect((await startIngest(api.app, key, strangerProject, 'appstore', { iosBundleId: 'x.y' })).statusCode).toBe(404);
    expect((await startIngest(api.app, key, randomUUID(), 'appstore', { iosBundleId: 'x.y' })).statusCode).toBe(404);
  });
});
