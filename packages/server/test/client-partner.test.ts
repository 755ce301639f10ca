import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gatehouse, GatehouseAdmin, TERMINAL_JOB_STATUSES, verifyWebhook, type Job, type Project } from '../src/cli/client.ts';
import { adminClient, countingFetch, partnerClient, partnerWithKey, rejection, startListeningApp, type ListeningApp } from './client-support.ts';

let t: ListeningApp;
let admin: GatehouseAdmin;
/**
 * A reachable URL for webhook pings (each one kept, to verify), a website to crawl under /site/, and the app
 * stores' and GitHub's public endpoints for ingest jobs.
 */
let upstream: Server;
let upstreamUrl: string;
const received: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];
const SITE_PAGE = '<html><head><title>Acme</title></head><body><h1>Acme apps</h1><p>We make apps.</p></body></html>';

beforeAll(async () => {
  upstream = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.url === '/hooks') received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (request.url?.startsWith('/site/')) {
        response.setHeader('content-type', 'text/html; charset=utf-8');
        response.end(SITE_PAGE);
        return;
      }
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ resultCount: 0, results: [] }));
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  t = await startListeningApp({
    config: { upstreams: { appstoreLookupUrl: `${upstreamUrl}/lookup`, playstoreUrl: upstreamUrl, githubApiUrl: upstreamUrl, allowPrivate: true } },
  });
  admin = adminClient(t.baseUrl);
});
afterAll(async () => {
  await t.close();
  await new Promise<void>((resolve) => upstream.close(() => resolve()));
});


describe('Gatehouse.whoami and assertKeyHealthy', () => {
  it('answers the SPEC 3 shape for a healthy key', async () => {
    const { organization, key } = await partnerWithKey(admin, { name: 'Acme Growth', rateLimitTier: 'pilot' });
    const gh = partnerClient(t.baseUrl, key.key);
    const expected = {
      organizationId: organization.id,
      workspaceId: organization.id,
      organizationName: 'Acme Growth',
      scopes: [],
      rateLimitTier: 'pilot',
      killSwitch: false,
      apiAccessRevoked: false,
      apiKeyId: key.id,
      creditBalance: 6000,
      env: 'live',
    };
    expect(await gh.whoami()).toEqual(expected);
    expect(await gh.assertKeyHealthy()).toEqual(expected);
  });

  it('assertKeyHealthy throws KILL_SWITCH naming the switch that whoami reports, in one request', async () => {
    const { organization, key } = await partnerWithKey(admin);
    await admin.keys.kill(key.id);
    const { fetch, calls } = countingFetch();
    const gh = partnerClient(t.baseUrl, key.key, { fetch });
    let error = await rejection(gh.assertKeyHealthy());
    expect(error).toMatchObject({ status: 200, code: 'KILL_SWITCH', details: { scope: 'key', killSwitch: true, apiAccessRevoked: false } });
    expect(error.isKillSwitch).toBe(true);
    expect(error.requestId).toMatch(/^req_/);
    expect(calls).toHaveLength(1);

    await admin.keys.unkill(key.id);
    await admin.organizations.update(organization.id, { apiAccessRevoked: true });
    error = await rejection(gh.assertKeyHealthy());
    expect(error.details).toMatchObject({ scope: 'organization', killSwitch: false, apiAccessRevoked: true });
    await admin.organizations.update(organization.id, { apiAccessRevoked: false });
    expect((await gh.assertKeyHealthy()).apiKeyId).toBe(key.id);
  });

  it('assertKeyHealthy throws the server error for the global switch (503), a bad key (401) and a missing plan (402)', async () => {
    const { key } = await partnerWithKey(admin);
    await admin.killSwitch.set(true);
    try {
      const error = await rejection(partnerClient(t.baseUrl, key.key).assertKeyHealthy());
      expect(error).toMatchObject({ status: 503, code: 'KILL_SWITCH', details: { scope: 'global' } });
    } finally {
      await admin.killSwitch.set(false);
    }

    const wrong = `${key.key.slice(0, -6)}AAAAAA`;
    expect(await rejection(partnerClient(t.baseUrl, wrong).assertKeyHealthy())).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });

    const planless = await partnerWithKey(admin, { name: 'No plan', plan: null });
    expect(await rejection(partnerClient(t.baseUrl, planless.key.key).whoami())).toMatchObject({ status: 402, code: 'PAYMENT_REQUIRED' });
    const free = await partnerWithKey(admin, { name: 'Free', plan: 'free' });
    expect(await rejection(partnerClient(t.baseUrl, free.key.key).whoami())).toMatchObject({ status: 402, code: 'BILLING_EXHAUSTED', details: { minTier: 'pro' } });
  });

  it('needs an apiKey', () => {
    expect(() => new Gatehouse({ apiKey: undefined })).toThrow(TypeError);
  });
});

describe('Gatehouse resources against the real routes', () => {
  it('projects: create (and the same customerExternalId again), get, update, archive, influencers', async () => {
    const { key } = await partnerWithKey(admin);
    const gh = partnerClient(t.baseUrl, key.key);
    const project = await gh.projects.create({ name: 'Acme iOS', customerExternalId: 'cust-1' });
    expect(project).toMatchObject({ name: 'Acme iOS', customerExternalId: 'cust-1', timezone: 'UTC', primaryLanguage: 'en', status: 'active' });
    expect((await gh.projects.create({ name: 'Again', customerExternalId: 'cust-1' })).id).toBe(project.id);
    expect(await gh.projects.get(project.id)).toMatchObject({ id: project.id, name: 'Acme iOS' });

    const updated = await gh.projects.update(project.id, { name: 'Acme iOS app', timezone: 'Europe/Paris' });
    expect(updated).toMatchObject({ id: project.id, name: 'Acme iOS app', timezone: 'Europe/Paris' });
    expect((await gh.projects.archive(project.id)).status).toBe('archived');
    expect((await gh.projects.archive(project.id)).status).toBe('archived');

    const other = await partnerWithKey(admin, { name: 'Someone else' });
    expect(await rejection(partnerClient(t.baseUrl, other.key.key).projects.get(project.id))).toMatchObject({ status: 404, code: 'NOT_FOUND' });

    const live = await gh.projects.create({ name: 'With influencers' });
    const influencer = await gh.projects.influencers.create(live.id, { name: 'Ava', persona: 'gamer' });
    expect(influencer).toMatchObject({ projectId: live.id, organizationId: live.organizationId, name: 'Ava', persona: 'gamer' });
    expect(await rejection(gh.projects.influencers.create(project.id, { name: 'Too late' }))).toMatchObject({ status: 409, details: { reason: 'project_archived' } });
  });

  it('projects: list walks every page, page returns one', async () => {
    const { key } = await partnerWithKey(admin);
    const gh = partnerClient(t.baseUrl, key.key);
    const created: Project[] = [];
    for (let index = 0; index < 5; index++) created.push(await gh.projects.create({ name: `Project ${index}` }));

    const first = await gh.projects.page({ limit: 2 });
    expect(first.data).toHaveLength(2);
    expect(first.nextCursor).toEqual(expect.any(String));
    const walked: Project[] = [];
    for await (const project of gh.projects.list({ limit: 2 })) walked.push(project);
    expect(walked.map((project) => project.id).sort()).toEqual(created.map((project) => project.id).sort());
  });

  it('ingest, jobs and sources: each ingest answers 202 with a job; get, cancel, wait until it ends, then what it found', async () => {
    const { key } = await partnerWithKey(admin);
    const gh = partnerClient(t.baseUrl, key.key);
    const project = await gh.projects.create({ name: 'Ingested' });

    const accepted = await gh.projects.ingest.appstore(project.id, { iosBundleId: 'com.acme.app' });
    expect(accepted).toMatchObject({ jobId: expect.any(String), status: 'queued', kind: 'ingest_appstore', projectId: project.id });
    expect(await gh.jobs.get(accepted.jobId)).toMatchObject({ id: accepted.jobId, projectId: project.id });
    try {
      expect((await gh.jobs.cancel(accepted.jobId)).id).toBe(accepted.jobId);
    } catch (error) {
      // The runner may have finished it first.
      expect(error).toMatchObject({ status: 409, code: 'CONFLICT', details: { reason: 'already_terminal' } });
    }
    const ended = await gh.jobs.wait(accepted.jobId, { timeoutMs: 30_000, pollIntervalMs: 100 });
    expect(TERMINAL_JOB_STATUSES).toContain(ended.status);

    const site = await gh.projects.ingest.website(project.id, { url: `${upstreamUrl}/site/`, maxPages: 1 });
    expect(site).toMatchObject({ jobId: expect.any(String), status: 'queued', kind: 'ingest_website', projectId: project.id });
    const crawled: Job = await gh.jobs.wait(site.jobId, { timeoutMs: 30_000, pollIntervalMs: 100 });
    expect(crawled).toMatchObject({ id: site.jobId, kind: 'ingest_website', status: 'succeeded', result: { sources: 1 }, creditsCharged: expect.any(Number) });
    const found = (await gh.projects.sources(project.id).toArray()).filter((source) => source.jobId === site.jobId);
    expect(found).toEqual([
      expect.objectContaining({ projectId: project.id, kind: 'website_page', url: `${upstreamUrl}/site/`, title: 'Acme', data: expect.objectContaining({ title: 'Acme' }) }),
    ]);

    const repo = await gh.projects.ingest.github(project.id, { repo: 'acme/app' });
    expect(repo).toMatchObject({ jobId: expect.any(String), status: 'queued', kind: 'ingest_github', projectId: project.id });
    expect(TERMINAL_JOB_STATUSES).toContain((await gh.jobs.wait(repo.jobId, { timeoutMs: 30_000, pollIntervalMs: 100 })).status);
  });

  it('api keys: create, list, roll, kill, revoke', async () => {
    const { key } = await partnerWithKey(admin);
    const gh = partnerClient(t.baseUrl, key.key);
    const created = await gh.apiKeys.create({ name: 'worker', env: 'test', scopes: ['projects:read'] });
    expect(created.key).toMatch(new RegExp(`^${created.displayPrefix}_`));
    const listed = await gh.apiKeys.list().toArray();
    expect(listed.map((item) => item.id)).toEqual(expect.arrayContaining([key.id, created.id]));
    expect(listed.every((item) => !('key' in item))).toBe(true);

    const rolled = await gh.apiKeys.roll(created.id, { overlapSeconds: 60 });
    expect(rolled).toMatchObject({ name: 'worker', env: 'test', scopes: ['projects:read'], previousKey: { id: created.id, expiresAt: expect.any(String) } });
    expect(rolled.previousKey).not.toHaveProperty('key');
    expect(rolled.key).not.toBe(created.key);
    expect((await gh.apiKeys.list().toArray()).find((item) => item.id === created.id)?.expiresAt).toEqual(expect.any(String));

    expect((await gh.apiKeys.kill(rolled.id)).killSwitch).toBe(true);
    expect(await rejection(partnerClient(t.baseUrl, rolled.key).assertKeyHealthy())).toMatchObject({ code: 'KILL_SWITCH', details: { scope: 'key' } });
    await gh.apiKeys.revoke(created.id);
    expect(await rejection(partnerClient(t.baseUrl, created.key).whoami())).toMatchObject({ status: 401, message: 'API key has been revoked.' });
  });

  it('webhook endpoints: create, list, get, test, deliveries, delete', async () => {
    const { key } = await partnerWithKey(admin);
    const gh = partnerClient(t.baseUrl, key.key);
    const endpoint = await gh.webhookEndpoints.create({ url: `${upstreamUrl}/hooks`, events: ['job.succeeded', 'job.failed'] });
    expect(endpoint).toMatchObject({ url: `${upstreamUrl}/hooks`, events: ['job.succeeded', 'job.failed'], enabled: true, failingSince: null, secret: expect.stringMatching(/^whsec_/) });
    expect((await gh.webhookEndpoints.list().toArray()).map((item) => item.id)).toContain(endpoint.id);
    expect(await gh.webhookEndpoints.get(endpoint.id)).toMatchObject({ id: endpoint.id, url: endpoint.url });
    expect(await gh.webhookEndpoints.get(endpoint.id)).not.toHaveProperty('secret');

    const outcome = await gh.webhookEndpoints.test(endpoint.id);
    expect(outcome).toMatchObject({ delivered: true, statusCode: 200, error: null, webhookId: expect.any(String) });
    // The ping, as the receiver got it, passes the client's own verifier with the secret shown at creation.
    const ping = received.find((request) => request.headers['webhook-id'] === outcome.webhookId);
    const verified = await verifyWebhook({ payload: ping!.body, headers: ping!.headers, secret: endpoint.secret });
    expect(verified.event).toMatchObject({ type: 'test.ping', data: { webhookEndpointId: endpoint.id } });
    expect(await gh.webhookEndpoints.deliveries(endpoint.id).toArray()).toEqual([
      expect.objectContaining({ endpointId: endpoint.id, webhookId: outcome.webhookId, eventType: 'test.ping', jobId: null, status: 'delivered', lastStatusCode: 200 }),
    ]);
    await gh.webhookEndpoints.delete(endpoint.id);
    expect(await rejection(gh.webhookEndpoints.get(endpoint.id))).toMatchObject({ status: 404, code: 'NOT_FOUND' });
  });
});
