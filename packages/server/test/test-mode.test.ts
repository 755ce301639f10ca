import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, createOrganization, issueKey, withKey, type KeyFixture } from './factories.ts';
import { sendJson, sleep, startFakeUpstream, type FakeUpstream } from './fixtures/fake-upstream.ts';
import { creditBalance, ingest, startIngest, waitForJob } from './fixtures/jobs.ts';
import { startTestApp, type TestApp } from './harness.ts';

/**
 * SPEC 12 over HTTP against the real store: a test key's jobs read fixtures and never call out, charge nothing, and
 * their events reach only test-mode endpoints; a live key of the same organization works on as before.
 */

const ITUNES_APP = { trackName: 'Acme Budget', sellerName: 'Acme Inc.', trackViewUrl: 'https://apps.apple.com/us/app/acme/id1', bundleId: 'com.acme.budget' };

let upstream: FakeUpstream;
let receiver: FakeUpstream;
let t: TestApp;
let organizationId: string;
let live: KeyFixture;
let test: KeyFixture;

const call = (key: string, method: 'GET' | 'POST', url: string, payload?: object) =>
  t.app.inject({ method, url, headers: withKey(key), ...(payload === undefined ? {} : { payload }) });

async function projectOf(key: string, name = 'test mode'): Promise<string> {
  const response = await call(key, 'POST', '/v1/projects', { name });
  expect(response.statusCode, response.body).toBe(201);
  return response.json().id;
}

const sources = async (key: string, projectId: string) => (await call(key, 'GET', `/v1/projects/${projectId}/sources?limit=100`)).json().data;

beforeAll(async () => {
  // Every path of the stand-in upstream answers, so a test-mode job that called out would succeed with its data
  // rather than hang; the count of requests it saw is what the tests hold against zero.
  upstream = await startFakeUpstream((_request, response, url) => {
    if (url.pathname === '/lookup') return sendJson(response, 200, { resultCount: 1, results: [ITUNES_APP] });
    return sendJson(response, 404, { message: 'Not Found' });
  });
  receiver = await startFakeUpstream((_request, response) => void response.writeHead(204).end());
  t = await startTestApp({
    config: {
      upstreams: { appstoreLookupUrl: `${upstream.origin}/lookup`, playstoreUrl: upstream.origin, githubApiUrl: upstream.origin, allowPrivate: true, timeoutMs: 2_500 },
      jobs: { pollMs: 50, startDelayMs: 0 },
      webhooks: { pollMs: 50, backoffBaseMs: 150, backoffFactor: 2, jitter: 0, timeoutMs: 1_000, maxAttempts: 2 },
    },
  });
  const organization = await createOrganization(t.app, { name: 'Two worlds' });
  organizationId = organization.id;
  live = await issueKey(t.app, organizationId, { name: 'live' });
  test = await issueKey(t.app, organizationId, { name: 'test', env: 'test' });
});
afterAll(async () => {
  await t?.close();
  await upstream?.close();
  await receiver?.close();
});

describe('test-mode ingest', () => {
  it('reads fixtures, never calls out, gives the same result for the same input, and charges nothing', async () => {
    const before = await creditBalance(t.deps, organizationId);
    const seenBefore = upstream.requests.length;
    const projectId = await projectOf(test.key);
    const inputs = [
      ['appstore', { iosBundleId: 'com.acme.budget', androidPackageName: 'com.acme.budget' }],
      ['website', { url: 'https://acme.example/', maxPages: 2 }],
      ['github', { repo: 'acme/widget' }],
    ] as const;
    const results: unknown[] = [];
    for (const [kind, body] of inputs) {
      for (let run = 0; run < 2; run++) {
        const job = await waitForJob(t.app, test.key, await ingest(t.app, test.key, projectId, kind, body));
        expect(job.status, JSON.stringify(job)).toBe('succeeded');
        expect(job.creditsCharged).toBe(0);
        expect((job as { env?: string }).env).toBe('test');
        expect(job.result?.testMode).toBe(true);
        results.push(job.result);
      }
    }
    // Same input, same answer: each pair of runs agrees.
    for (let index = 0; index < results.length; index += 2) expect(results[index + 1]).toEqual(results[index]);
    const found = await sources(test.key, projectId);
    expect(found.map((source: { kind: string }) => source.kind).sort()).toEqual(['appstore_android', 'appstore_ios', 'github_repo', 'website_page', 'website_page']);
    expect(found.every((source: { env: string }) => source.env === 'test')).toBe(true);
    expect(found.find((source: { kind: string }) => source.kind === 'github_repo').data.fullName).toBe('acme/widget');
    expect(upstream.requests.length - seenBefore).toBe(0);
    expect(await creditBalance(t.deps, organizationId)).toBe(before);
  });

  it('ends an input containing `fail` failed with UPSTREAM_NOT_FOUND, and cancels one containing `slow` with 202 while it runs', async () => {
    const before = await creditBalance(t.deps, organizationId);
    const projectId = await projectOf(test.key);
    const failed = await waitForJob(t.app, test.key, await ingest(t.app, test.key, projectId, 'github', { repo: 'acme/will-fail' }));
    expect(failed.status).toBe('failed');
    expect(failed.error?.code).toBe('UPSTREAM_NOT_FOUND');
    expect(failed.creditsCharged).toBe(0);

    const slowId = await ingest(t.app, test.key, projectId, 'website', { url: 'https://slow.example/' });
    await waitForJob(t.app, test.key, slowId, (job) => job.status === 'running');
    await sleep(200);
    expect((await waitForJob(t.app, test.key, slowId, () => true)).status).toBe('running');
    const cancel = await call(test.key, 'POST', `/v1/jobs/${slowId}/cancel`);
    expect(cancel.statusCode, cancel.body).toBe(202);
    const canceled = await waitForJob(t.app, test.key, slowId);
    expect(canceled.status).toBe('canceled');
    expect(canceled.creditsCharged).toBe(0);
    expect(await creditBalance(t.deps, organizationId)).toBe(before);
  });

  it('takes test-mode jobs from an organization with no credits at all (INSUFFICIENT_CREDITS is for live jobs)', async () => {
    const broke = await createOrganization(t.app, { name: 'Broke' });
    await t.deps.store.db.updateTable('organizations').set({ credit_balance: 0 }).where('id', '=', broke.id).execute();
    const brokeLive = await issueKey(t.app, broke.id);
    const brokeTest = await issueKey(t.app, broke.id, { env: 'test' });
    const liveProject = await projectOf(brokeLive.key);
    const refused = await startIngest(t.app, brokeLive.key, liveProject, 'github', { repo: 'acme/widget' });
    expect(refused.statusCode).toBe(402);
    expect(refused.json().error.code).toBe('INSUFFICIENT_CREDITS');
    const testProject = await projectOf(brokeTest.key);
    const job = await waitForJob(t.app, brokeTest.key, await ingest(t.app, brokeTest.key, testProject, 'github', { repo: 'acme/widget' }));
    expect(job.status).toBe('succeeded');
    expect(await creditBalance(t.deps, broke.id)).toBe(0);
  });

  it('leaves a live key of the same organization reading the real upstream and paying for it', async () => {
    const before = await creditBalance(t.deps, organizationId);
    const projectId = await projectOf(live.key);
    const seenBefore = upstream.count('/lookup');
    const job = await waitForJob(t.app, live.key, await ingest(t.app, live.key, projectId, 'appstore', { iosBundleId: 'com.acme.budget' }));
    expect(job.status, JSON.stringify(job)).toBe('succeeded');
    expect(job.result?.testMode).toBeUndefined();
    expect(upstream.count('/lookup')).toBe(seenBefore + 1);
    expect(job.creditsCharged).toBeGreaterThan(0);
    expect(await creditBalance(t.deps, organizationId)).toBe(before - job.creditsCharged);
  });
});

describe('test-mode webhooks', () => {
  it('delivers a test job’s event only to test-mode endpoints, and a live job’s only to live ones; each carries env', async () => {
    const endpoint = async (key: string, path: string) => {
      const response = await call(key, 'POST', '/v1/webhook-endpoints', { url: `${receiver.origin}${path}`, events: ['job.succeeded', 'job.failed'] });
      expect(response.statusCode, response.body).toBe(201);
      expect(response.json().env).toBe(key === test.key ? 'test' : 'live');
      return response.json().id as string;
    };
    const liveEndpoint = await endpoint(live.key, '/live-hook');
    const testEndpoint = await endpoint(test.key, '/test-hook');
    const testJob = await waitForJob(t.app, test.key, await ingest(t.app, test.key, await projectOf(test.key), 'github', { repo: 'acme/hooked' }));
    const liveJob = await waitForJob(t.app, live.key, await ingest(t.app, live.key, await projectOf(live.key), 'github', { repo: 'acme/missing' }));
    expect(liveJob.status).toBe('failed');

    const deliveriesOf = async (key: string, id: string) => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const page = (await call(key, 'GET', `/v1/webhook-endpoints/${id}/deliveries`)).json().data as Array<{ jobId: string; status: string; env: string }>;
        if ((page.length > 0 && page.every((delivery) => delivery.status !== 'pending')) || Date.now() > deadline) return page;
        await sleep(50);
      }
    };
    const toTest = await deliveriesOf(test.key, testEndpoint);
    const toLive = await deliveriesOf(live.key, liveEndpoint);
    expect(toTest.map((delivery) => [delivery.jobId, delivery.env, delivery.status])).toEqual([[testJob.id, 'test', 'delivered']]);
    expect(toLive.map((delivery) => [delivery.jobId, delivery.env, delivery.status])).toEqual([[liveJob.id, 'live', 'delivered']]);
    const bodies = await t.deps.store.db.selectFrom('webhook_deliveries').select(['endpoint_id', 'body']).where('endpoint_id', 'in', [liveEndpoint, testEndpoint]).execute();
    for (const row of bodies) expect(JSON.parse(row.body!).data.env).toBe(row.endpoint_id === testEndpoint ? 'test' : 'live');
    // Another env's endpoint answers 404, as a missing one would.
    expect((await call(live.key, 'GET', `/v1/webhook-endpoints/${testEndpoint}/deliveries`)).statusCode).toBe(404);
  });
});

describe('per-env views', () => {
  it('answers usage, the request log and the audit log per env, while operators see both with env shown', async () => {
    await call(test.key, 'GET', '/v1/whoami');
    await call(live.key, 'GET', '/v1/whoami');
    // An operator's action on each key: its entry belongs to that key's world, though no key acted.
    for (const key of [test, live]) expect((await admin(t.app, 'GET', `/admin/v1/keys/${key.id}`)).statusCode).toBe(200);
    await t.deps.recording?.flush();
    const usage = async (key: string) => (await call(key, 'GET', '/v1/usage?granularity=day')).json().data as Array<{ apiKeyId: string; env: string }>;
    const requests = async (key: string) => (await call(key, 'GET', '/v1/requests?limit=100')).json().data as Array<{ apiKeyId: string; env: string }>;
    const audit = async (key: string) =>
      (await call(key, 'GET', '/v1/audit?limit=100')).json().data as Array<{ apiKeyId: string | null; env: string | null; action: string; targetId: string | null }>;
    for (const [key, env] of [
      [test, 'test'],
      [live, 'live'],
    ] as const) {
      const used = await usage(key.key);
      expect(used.length).toBeGreaterThan(0);
      expect(used.every((row) => row.env === env)).toBe(true);
      const logged = await requests(key.key);
      expect(logged.length).toBeGreaterThan(0);
      expect(logged.every((row) => row.env === env)).toBe(true);
      const audited = await audit(key.key);
      expect(audited.length).toBeGreaterThan(0);
      expect(audited.every((entry) => entry.env === env || entry.env === null)).toBe(true);
      const operatorReads = audited.filter((entry) => entry.action === 'admin.key.read');
      expect(operatorReads.map((entry) => [entry.targetId, entry.env])).toEqual([[key.id, env]]);
    }
    const operators = await admin(t.app, 'GET', `/admin/v1/usage?granularity=day&organizationId=${organizationId}`);
    expect(operators.statusCode, operators.body).toBe(200);
    const envs = new Set((operators.json().data as Array<{ env: string }>).map((row) => row.env));
    expect([...envs].sort()).toEqual(['live', 'test']);
  });

  it('keeps one project per customerExternalId in each env', async () => {
    const create = (key: string) => call(key, 'POST', '/v1/projects', { name: 'customer', customerExternalId: 'cust-42' });
    const inLive = await create(live.key);
    const inTest = await create(test.key);
    expect(inLive.statusCode).toBe(201);
    expect(inTest.statusCode).toBe(201);
    expect(inTest.json().id).not.toBe(inLive.json().id);
    expect((await create(test.key)).json().id).toBe(inTest.json().id);
  });

  it('lets a key create keys of its own env only', async () => {
    const refused = await call(test.key, 'POST', '/v1/api-keys', { name: 'escape', env: 'live' });
    expect(refused.statusCode).toBe(422);
    expect(refused.json().error.details.issues[0].path).toBe('body.env');
    const made = await call(test.key, 'POST', '/v1/api-keys', { name: 'sibling' });
    expect(made.statusCode, made.body).toBe(201);
    expect(made.json().env).toBe('test');
    const listed = (await call(test.key, 'GET', '/v1/api-keys?limit=100')).json().data as Array<{ env: string }>;
    expect(listed.every((key) => key.env === 'test')).toBe(true);
  });
});
