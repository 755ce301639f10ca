import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWebhook } from '../../client/src/webhooks.ts';
import type { Store } from '../src/db/create-db.ts';
import { claimDueDeliveries } from '../src/webhooks/repository.ts';
import type { Config } from '../src/config.ts';
import { issueKey, partnerWithKey, withKey } from './factories.ts';
import { sendJson, sleep, startFakeUpstream, type FakeUpstream } from './fixtures/fake-upstream.ts';
import { getJob, ingest, insertProject, waitForJob } from './fixtures/jobs.ts';
import { startReceiver, type Behaviour, type Receiver } from './fixtures/webhook-receiver.ts';
import { createTestStore, startTestApp, type TestApp } from './harness.ts';

/**
 * Receiver paths steer the receiver: `/ok/*` answers 204, `/flaky/*` answers 500 the first time, `/hang-once/*`
 * never answers the first time, `/redirect/*` answers 302, `/gone/*` 410, `/down/*` always 500.
 */
function behaviour(path: string, nth: number): Behaviour {
  const kind = path.split('/')[1];
  if (kind === 'flaky') return nth === 1 ? { status: 500 } : { status: 200 };
  if (kind === 'hang-once') return nth === 1 ? 'hang' : { status: 200 };
  if (kind === 'hang') return 'hang';
  if (kind === 'redirect') return { status: 302, headers: { location: '/ok/elsewhere' } };
  if (kind === 'gone') return { status: 410 };
  if (kind === 'down') return { status: 500 };
  return { status: 204 };
}

/** Fast retries so a test sees several attempts: 150 ms, then 300 ms, 600 ms; attempts cut after 1 s. */
const FAST: NonNullable<Config['webhooks']> = { pollMs: 50, backoffBaseMs: 150, backoffFactor: 2, jitter: 0, timeoutMs: 1_000, maxAttempts: 4 };

let receiver: Receiver;
let appstore: FakeUpstream;
let store: Store;
/** Serves the API and delivers webhooks; runs no jobs, so a job it queues stays queued until it is canceled. */
let api: TestApp;
const secretsSeen: string[] = [];

function instance(options: { store: Store; webhooks?: Config['webhooks']; jobs?: Config['jobs']; allowPrivate?: boolean }): Promise<TestApp> {
  return startTestApp({
    store: options.store,
    config: {
      upstreams: {
        appstoreLookupUrl: `${appstore.origin}/lookup`,
        playstoreUrl: appstore.origin,
        githubApiUrl: appstore.origin,
        allowPrivate: options.allowPrivate ?? true,
        timeoutMs: 5_000,
      },
      jobs: { concurrency: 0, pollMs: 50, ...options.jobs },
      webhooks: { ...FAST, ...options.webhooks },
    },
  });
}

beforeAll(async () => {
  receiver = await startReceiver(behaviour);
  appstore = await startFakeUpstream((_request, response, url) => {
    const bundleId = url.searchParams.get('bundleId') ?? '';
    sendJson(response, 200, { resultCount: 1, results: [{ trackName: `App ${bundleId}`, bundleId, trackViewUrl: `https://apps.example/${bundleId}` }] });
  });
  store = await createTestStore();
  api = await instance({ store });
});
afterAll(async () => {
  await api?.close();
  await store?.close();
  await receiver?.close();
  await appstore?.close();
});

const path = (kind: string) => `/${kind}/${randomUUID()}`;

interface EndpointView {
  id: string;
  url: string;
  events: string[];
  enabled: boolean;
  failingSince: string | null;
  disabledAt: string | null;
  disabledReason: string | null;
  secret?: string;
}

interface DeliveryView {
  id: string;
  webhookId: string;
  eventType: string;
  jobId: string | null;
  status: string;
  attempts: number;
  lastStatusCode: number | null;
  lastError: { code: string; message: string } | null;
  nextAttemptAt: string | null;
  completedAt: string | null;
}

async function createEndpoint(app: FastifyInstance, key: string, url: string, events = ['job.succeeded', 'job.failed', 'job.canceled']) {
  const response = await app.inject({ method: 'POST', url: '/v1/webhook-endpoints', headers: withKey(key), payload: { url, events } });
  expect(response.statusCode, response.body).toBe(201);
  const endpoint = response.json() as EndpointView & { secret: string };
  secretsSeen.push(endpoint.secret);
  return endpoint;
}

async function deliveries(app: FastifyInstance, key: string, endpointId: string): Promise<DeliveryView[]> {
  const response = await app.inject({ url: `/v1/webhook-endpoints/${endpointId}/deliveries`, headers: withKey(key) });
  expect(response.statusCode, response.body).toBe(200);
  return response.json().data;
}

async function waitForDelivery(app: FastifyInstance, key: string, endpointId: string, until: (delivery: DeliveryView) => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await deliveries(app, key, endpointId)).find(until);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no matching delivery within ${timeoutMs} ms: ${JSON.stringify(await deliveries(app, key, endpointId))}`);
    await sleep(25);
  }
}

async function partner(app: FastifyInstance = api.app) {
  const { organization, key } = await partnerWithKey(app);
  return { organizationId: organization.id, key: key.key };
}

/** A queued job canceled through the API: the cheapest way to a final status (job.canceled). */
async function canceledJob(testApp: TestApp, organizationId: string, key: string): Promise<string> {
  const projectId = await insertProject(testApp.deps, organizationId);
  const jobId = await ingest(testApp.app, key, projectId, 'appstore', { iosBundleId: `queued.${randomUUID().slice(0, 8)}` });
  const canceled = await testApp.app.inject({ method: 'POST', url: `/v1/jobs/${jobId}/cancel`, headers: withKey(key) });
  expect(canceled.statusCode).toBe(200);
  return jobId;
}

describe('webhook endpoints', () => {
  it('creates an endpoint with a whsec_ secret shown once; reads, lists and deletes it without the secret', async () => {
    const { key } = await partner();
    const url = `${receiver.origin}${path('ok')}`;
    const created = await createEndpoint(api.app, key, url, ['job.succeeded', 'job.canceled', 'job.succeeded']);
    expect(created).toMatchObject({ url, events: ['job.succeeded', 'job.canceled'], enabled: true, failingSince: null, disabledAt: null });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]+={0,2}$/);
    expect(Buffer.from(created.secret.slice('whsec_'.length), 'base64').length).toBeGreaterThanOrEqual(24);

    const read = await api.app.inject({ url: `/v1/webhook-endpoints/${created.id}`, headers: withKey(key) });
    expect(read.statusCode).toBe(200);
    const { secret: _secret, ...withoutSecret } = created;
    expect(read.json()).toEqual(withoutSecret);
    expect(read.body).not.toContain(created.secret);

    const second = await createEndpoint(api.app, key, `${receiver.origin}${path('ok')}`);
    const third = await createEndpoint(api.app, key, `${receiver.origin}${path('ok')}`);
    const page1 = await api.app.inject({ url: '/v1/webhook-endpoints?limit=2', headers: withKey(key) });
    expect(page1.json().data.map((endpoint: EndpointView) => endpoint.id)).toEqual([third.id, second.id]);
    expect(page1.body).not.toContain('whsec_');
    const page2 = await api.app.inject({ url: `/v1/webhook-endpoints?limit=2&cursor=${page1.json().nextCursor}`, headers: withKey(key) });
    expect(page2.json()).toEqual({ data: [withoutSecret], nextCursor: null });

    const deleted = await api.app.inject({ method: 'DELETE', url: `/v1/webhook-endpoints/${created.id}`, headers: withKey(key) });
    expect(deleted.statusCode).toBe(204);
    expect((await api.app.inject({ url: `/v1/webhook-endpoints/${created.id}`, headers: withKey(key) })).statusCode).toBe(404);
    expect((await api.app.inject({ method: 'DELETE', url: `/v1/webhook-endpoints/${created.id}`, headers: withKey(key) })).statusCode).toBe(404);

    const audit = await api.deps.store.db.selectFrom('audit_entries').selectAll().where('target_id', '=', created.id).orderBy('occurred_at').execute();
    expect(audit.map((entry) => [entry.action, entry.status])).toEqual([
      ['webhook_endpoint.create', 201],
      ['webhook_endpoint.delete', 204],
      ['webhook_endpoint.delete', 404],
    ]);
  });

  it('refuses URLs that are not http(s), carry credentials, and events outside the vocabulary', async () => {
    const { key } = await partner();
    const bad: Array<[unknown, string]> = [
      [{ url: 'ftp://example.com/hook', events: ['job.failed'] }, 'body.url'],
      [{ url: 'not a url', events: ['job.failed'] }, 'body.url'],
      [{ url: 'https://user:pass@example.com/hook', events: ['job.failed'] }, 'body.url'],
      [{ url: 'https://example.com/hook', events: ['job.started'] }, 'body.events.0'],
      [{ url: 'https://example.com/hook', events: ['test.ping'] }, 'body.events.0'],
      [{ url: 'https://example.com/hook', events: [] }, 'body.events'],
      [{ url: 'https://example.com/hook', events: ['job.failed'], secret: 'whsec_mine' }, 'body.secret'],
    ];
    for (const [payload, issuePath] of bad) {
      const response = await api.app.inject({ method: 'POST', url: '/v1/webhook-endpoints', headers: withKey(key), payload: payload as object });
      expect(response.statusCode, JSON.stringify(payload)).toBe(422);
      expect(response.json().error.code).toBe('VALIDATION_FAILED');
      expect(response.json().error.details.issues.map((issue: { path: string }) => issue.path)).toContain(issuePath);
    }
  });

  it("answers 404 for another organization's endpoint, exactly as for a missing one", async () => {
    const owner = await partner();
    const endpoint = await createEndpoint(api.app, owner.key, `${receiver.origin}${path('ok')}`);
    const stranger = await partner();
    for (const id of [endpoint.id, randomUUID()]) {
      for (const [method, url] of [
        ['GET', `/v1/webhook-endpoints/${id}`],
        ['DELETE', `/v1/webhook-endpoints/${id}`],
        ['POST', `/v1/webhook-endpoints/${id}/test`],
        ['GET', `/v1/webhook-endpoints/${id}/deliveries`],
      ] as const) {
        const response = await api.app.inject({ method, url, headers: withKey(stranger.key) });
        expect(response.statusCode, `${method} ${url}`).toBe(404);
        expect(response.json().error).toMatchObject({ code: 'NOT_FOUND', message: 'Webhook endpoint not found.' });
      }
    }
    const list = await api.app.inject({ url: '/v1/webhook-endpoints', headers: withKey(stranger.key) });
    expect(list.json()).toEqual({ data: [], nextCursor: null });
    expect(receiver.on(new URL(endpoint.url).pathname)).toHaveLength(0);
    expect((await api.app.inject({ url: `/v1/webhook-endpoints/${endpoint.id}`, headers: withKey(owner.key) })).statusCode).toBe(200);
  });

  it('needs webhooks:read to read and webhooks:write to create, test and delete', async () => {
    const { organizationId, key } = await partner();
    const endpoint = await createEndpoint(api.app, key, `${receiver.origin}${path('ok')}`);
    const reader = await issueKey(api.app, organizationId, { scopes: ['webhooks:read'] });
    const writer = await issueKey(api.app, organizationId, { scopes: ['webhooks:write'] });
    expect((await api.app.inject({ url: `/v1/webhook-endpoints/${endpoint.id}`, headers: withKey(reader.key) })).statusCode).toBe(200);
    expect((await api.app.inject({ url: `/v1/webhook-endpoints/${endpoint.id}/deliveries`, headers: withKey(reader.key) })).statusCode).toBe(200);
    for (const [method, url] of [
      ['POST', '/v1/webhook-endpoints'],
      ['POST', `/v1/webhook-endpoints/${endpoint.id}/test`],
      ['DELETE', `/v1/webhook-endpoints/${endpoint.id}`],
    ] as const) {
      const refused = await api.app.inject({ method, url, headers: withKey(reader.key), payload: { url: endpoint.url, events: ['job.failed'] } });
      expect(refused.statusCode, `${method} ${url}`).toBe(403);
      expect(refused.json().error.details).toEqual({ requiredScope: 'webhooks:write' });
    }
    const unreadable = await api.app.inject({ url: '/v1/webhook-endpoints', headers: withKey(writer.key) });
    expect(unreadable.json().error.details).toEqual({ requiredScope: 'webhooks:read' });
    expect((await api.app.inject({ method: 'POST', url: `/v1/webhook-endpoints/${endpoint.id}/test`, headers: withKey(writer.key) })).statusCode).toBe(200);
  });

  it('is in the OpenAPI document', async () => {
    const document = (await api.app.inject({ url: '/v1/openapi.json' })).json();
    for (const route of ['/v1/webhook-endpoints', '/v1/webhook-endpoints/{id}', '/v1/webhook-endpoints/{id}/test', '/v1/webhook-endpoints/{id}/deliveries']) {
      expect(Object.keys(document.paths)).toContain(route);
    }
  });
});

describe('POST /v1/webhook-endpoints/:id/test', () => {
  it('sends a signed test.ping that the client helper verifies, and fails when the body, id or timestamp changes', async () => {
    const { key } = await partner();
    const receiverPath = path('ok');
    const endpoint = await createEndpoint(api.app, key, `${receiver.origin}${receiverPath}`);
    const response = await api.app.inject({ method: 'POST', url: `/v1/webhook-endpoints/${endpoint.id}/test`, headers: withKey(key) });
    expect(response.statusCode).toBe(200);
    const outcome = response.json();
    expect(outcome).toEqual({ delivered: true, statusCode: 204, latencyMs: expect.any(Number), error: null, webhookId: expect.stringMatching(/^msg_[0-9a-f]{32}$/) });

    const [ping] = receiver.on(receiverPath);
    expect(ping!.headers['content-type']).toBe('application/json');
    expect(ping!.headers['webhook-id']).toBe(outcome.webhookId);
    expect(Math.abs(Number(ping!.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(30);
    expect(ping!.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    const verified = await verifyWebhook({ payload: ping!.body, headers: ping!.headers, secret: endpoint.secret });
    expect(verified).toEqual({
      webhookId: outcome.webhookId,
      timestamp: Number(ping!.headers['webhook-timestamp']),
      event: { type: 'test.ping', timestamp: expect.any(String), data: { webhookEndpointId: endpoint.id, env: 'live', message: expect.any(String) } },
    });

    const tampered = [
      { payload: ping!.body.replace(endpoint.id, randomUUID()), headers: ping!.headers },
      { payload: ping!.body, headers: { ...ping!.headers, 'webhook-id': 'msg_00000000000000000000000000000000' } },
      { payload: ping!.body, headers: { ...ping!.headers, 'webhook-timestamp': String(Number(ping!.headers['webhook-timestamp']) - 1) } },
    ];
    for (const attempt of tampered) {
      await expect(verifyWebhook({ ...attempt, secret: endpoint.secret })).rejects.toMatchObject({ reason: 'no_matching_signature' });
    }
    // Replayed later than the tolerance allows, the genuine request is refused too.
    await expect(verifyWebhook({ payload: ping!.body, headers: ping!.headers, secret: endpoint.secret, now: Date.now() + 301_000 })).rejects.toMatchObject({
      reason: 'timestamp_too_old',
    });

    const log = await deliveries(api.app, key, endpoint.id);
    expect(log).toEqual([
      expect.objectContaining({ webhookId: outcome.webhookId, eventType: 'test.ping', status: 'delivered', attempts: 1, lastStatusCode: 204, lastError: null, nextAttemptAt: null }),
    ]);
    // The secret never travels: only its signature does.
    expect(JSON.stringify(ping)).not.toContain(endpoint.secret.slice('whsec_'.length));
  });

  it('reports a failing receiver, a receiver that hangs (cut at the timeout) and a redirect (not followed)', async () => {
    const { key } = await partner();
    const cases = [
      { kind: 'down', expected: { delivered: false, statusCode: 500, error: { code: 'UPSTREAM_HTTP_500', message: expect.any(String) } } },
      { kind: 'hang', expected: { delivered: false, statusCode: null, error: { code: 'UPSTREAM_TIMEOUT', message: expect.any(String) } } },
      { kind: 'redirect', expected: { delivered: false, statusCode: null, error: { code: 'REDIRECT_NOT_FOLLOWED', message: expect.any(String) } } },
    ];
    for (const { kind, expected } of cases) {
      const receiverPath = path(kind);
      const endpoint = await createEndpoint(api.app, key, `${receiver.origin}${receiverPath}`);
      const started = Date.now();
      const response = await api.app.inject({ method: 'POST', url: `/v1/webhook-endpoints/${endpoint.id}/test`, headers: withKey(key) });
      expect(response.statusCode).toBe(200);
      expect(response.json(), kind).toMatchObject(expected);
      if (kind === 'hang') {
        expect(Date.now() - started).toBeLessThan(FAST.timeoutMs! + 2_000);
        await receiver.upstream.requests.find((request) => request.path === receiverPath)!.closed;
      }
      expect(receiver.on(receiverPath)).toHaveLength(1);
      const [logged] = await deliveries(api.app, key, endpoint.id);
      expect(logged).toMatchObject({ eventType: 'test.ping', status: 'failed', attempts: 1, lastError: expected.error });
      // A test never counts against the endpoint.
      const read = await api.app.inject({ url: `/v1/webhook-endpoints/${endpoint.id}`, headers: withKey(key) });
      expect(read.json()).toMatchObject({ enabled: true, failingSince: null });
    }
    expect(receiver.on('/ok/elsewhere')).toHaveLength(0);
  });
});

describe('job events', () => {
  it('delivers job.canceled to every subscribed endpoint of the organization and to no one else', async () => {
    const { organizationId, key } = await partner();
    const subscribed = await createEndpoint(api.app, key, `${receiver.origin}${path('ok')}`, ['job.canceled']);
    const alsoSubscribed = await createEndpoint(api.app, key, `${receiver.origin}${path('ok')}`);
    const notSubscribed = await createEndpoint(api.app, key, `${receiver.origin}${path('ok')}`, ['job.succeeded', 'job.failed']);
    const stranger = await partner();
    const strangers = await createEndpoint(api.app, stranger.key, `${receiver.origin}${path('ok')}`);

    const jobId = await canceledJob(api, organizationId, key);
    const job = await getJob(api.app, key, jobId);
    const seen = [];
    for (const endpoint of [subscribed, alsoSubscribed]) {
      const [request] = await receiver.waitFor(new URL(endpoint.url).pathname, 1);
      const verified = await verifyWebhook({ payload: request!.body, headers: request!.headers, secret: endpoint.secret });
      expect(verified.event).toEqual({ type: 'job.canceled', timestamp: job.finishedAt, data: job });
      seen.push(verified.webhookId);
      const delivery = await waitForDelivery(api.app, key, endpoint.id, (entry) => entry.status === 'delivered');
      expect(delivery).toMatchObject({ webhookId: verified.webhookId, eventType: 'job.canceled', jobId, attempts: 1, lastStatusCode: 204, lastError: null });
    }
    // One event, one id, whichever endpoint receives it.
    expect(seen[0]).toBe(seen[1]);
    await sleep(300);
    expect(receiver.on(new URL(notSubscribed.url).pathname)).toHaveLength(0);
    expect(receiver.on(new URL(strangers.url).pathname)).toHaveLength(0);
    expect(await deliveries(api.app, key, notSubscribed.id)).toEqual([]);
  });

  it('delivers job.succeeded when a job run by the runner succeeds', async () => {
    const { organizationId, key } = await partner();
    const endpoint = await createEndpoint(api.app, key, `${receiver.origin}${path('ok')}`, ['job.succeeded']);
    const projectId = await insertProject(api.deps, organizationId);
    const jobId = await ingest(api.app, key, projectId, 'appstore', { iosBundleId: `run.${randomUUID().slice(0, 8)}` });
    const worker = await instance({ store, jobs: { concurrency: 1 } });
    try {
      const job = await waitForJob(api.app, key, jobId);
      expect(job.status).toBe('succeeded');
      const [request] = await receiver.waitFor(new URL(endpoint.url).pathname, 1);
      const verified = await verifyWebhook({ payload: request!.body, headers: request!.headers, secret: endpoint.secret });
      expect(verified.event).toEqual({ type: 'job.succeeded', timestamp: job.finishedAt, data: job });
    } finally {
      await worker.close();
    }
  });

  it('sends the same event with the same webhook-id again after a 500, then records it delivered', async () => {
    const { organizationId, key } = await partner();
    const receiverPath = path('flaky');
    const endpoint = await createEndpoint(api.app, key, `${receiver.origin}${receiverPath}`);
    const jobId = await canceledJob(api, organizationId, key);
    const [first, second] = await receiver.waitFor(receiverPath, 2);
    expect(second!.headers['webhook-id']).toBe(first!.headers['webhook-id']);
    expect(second!.body).toBe(first!.body);
    for (const request of [first!, second!]) await verifyWebhook({ payload: request.body, headers: request.headers, secret: endpoint.secret });
    const delivery = await waitForDelivery(api.app, key, endpoint.id, (entry) => entry.status === 'delivered');
    expect(delivery).toMatchObject({ webhookId: first!.headers['webhook-id'], jobId, attempts: 2, lastStatusCode: 200, lastError: null, nextAttemptAt: null });
    const read = await api.app.inject({ url: `/v1/webhook-endpoints/${endpoint.id}`, headers: withKey(key) });
    expect(read.json()).toMatchObject({ enabled: true, failingSince: null });
  });

  it('cuts a receiver that hangs at the timeout and retries it', async () => {
    const { organizationId, key } = await partner();
    const receiverPath = path('hang-once');
    const endpoint = await createEndpoint(api.app, key, `${receiver.origin}${receiverPath}`);
    await canceledJob(api, organizationId, key);
    const [first, second] = await receiver.waitFor(receiverPath, 2, 15_000);
    expect(second!.headers['webhook-id']).toBe(first!.headers['webhook-id']);
    // The hung connection was closed by the sender, not left open.
    await receiver.upstream.requests.find((request) => request.path === receiverPath)!.closed;
    const delivery = await waitForDelivery(api.app, key, endpoint.id, (entry) => entry.status === 'delivered');
    expect(delivery).toMatchObject({ attempts: 2, lastStatusCode: 200 });
  });

  it('gives up after the last attempt and shows every failure in the log', async () => {
    const { organizationId, key } = await partner();
    const receiverPath = path('down');
    const endpoint = await createEndpoint(api.app, key, `${receiver.origin}${receiverPath}`);
    await canceledJob(api, organizationId, key);
    const pending = await waitForDelivery(api.app, key, endpoint.id, (entry) => entry.attempts === 1 && entry.lastStatusCode !== null);
    expect(pending).toMatchObject({ lastStatusCode: 500, lastError: { code: 'UPSTREAM_HTTP_500' }, nextAttemptAt: expect.any(String), completedAt: null });
    const failed = await waitForDelivery(api.app, key, endpoint.id, (entry) => entry.status === 'failed');
    expect(failed).toMatchObject({ attempts: FAST.maxAttempts, lastStatusCode: 500, nextAttemptAt: null, completedAt: expect.any(String) });
    expect(receiver.on(receiverPath)).toHaveLength(FAST.maxAttempts!);
    expect(new Set(receiver.on(receiverPath).map((request) => request.headers['webhook-id'])).size).toBe(1);
    await sleep(400);
    expect(receiver.on(receiverPath)).toHaveLength(FAST.maxAttempts!);
  });

  it('disables an endpoint that answers 410 Gone, and a successful test ping enables it again', async () => {
    const { organizationId, key } = await partner();
    const receiverPath = path('gone');
    const endpoint = await createEndpoint(api.app, key, `${receiver.origin}${receiverPath}`);
    await canceledJob(api, organizationId, key);
    await waitForDelivery(api.app, key, endpoint.id, (entry) => entry.status === 'failed');
    const read = await api.app.inject({ url: `/v1/webhook-endpoints/${endpoint.id}`, headers: withKey(key) });
    expect(read.json()).toMatchObject({ enabled: false, disabledReason: 'gone', disabledAt: expect.any(String) });
    expect(receiver.on(receiverPath)).toHaveLength(1);

    // Disabled: a new event is not even queued for it.
    await canceledJob(api, organizationId, key);
    await sleep(200);
    expect(await deliveries(api.app, key, endpoint.id)).toHaveLength(1);

    await api.deps.store.db.updateTable('webhook_endpoints').set({ url: `${receiver.origin}${path('ok')}` }).where('id', '=', endpoint.id).execute();
    const ping = await api.app.inject({ method: 'POST', url: `/v1/webhook-endpoints/${endpoint.id}/test`, headers: withKey(key) });
    expect(ping.json()).toMatchObject({ delivered: true });
    const after = await api.app.inject({ url: `/v1/webhook-endpoints/${endpoint.id}`, headers: withKey(key) });
    expect(after.json()).toMatchObject({ enabled: true, disabledAt: null, disabledReason: null, failingSince: null });
  });

  it('delivers each event exactly once when two instances deliver from one queue', async () => {
    const { organizationId, key } = await partner();
    const receiverPath = path('ok');
    const endpoint = await createEndpoint(api.app, key, `${receiver.origin}${receiverPath}`, ['job.canceled']);
    const second = await instance({ store });
    try {
      const jobs = 12;
      for (let i = 0; i < jobs; i++) await canceledJob(i % 2 ? second : api, organizationId, key);
      const requests = await receiver.waitFor(receiverPath, jobs);
      await sleep(300);
      expect(receiver.on(receiverPath)).toHaveLength(jobs);
      expect(new Set(requests.map((request) => request.headers['webhook-id'])).size).toBe(jobs);
      const log = await deliveries(api.app, key, endpoint.id);
      expect(log.every((entry) => entry.status === 'delivered' && entry.attempts === 1)).toBe(true);
    } finally {
      await second.close();
    }
  });
});

describe('durability and outbound rules (a store without an always-on instance)', () => {
  // Each test starts and stops the instances it needs over this store and leaves nothing pending behind.
  let own: Store;
  beforeAll(async () => {
    own = await createTestStore();
  });
  afterAll(async () => {
    await own?.close();
  });

  it('loses nothing when the instance restarts between attempts', async () => {
    const receiverPath = path('flaky');
    // The first instance fails once and schedules the retry far enough away that it is gone when it falls due.
    let first: TestApp | undefined = await instance({ store: own, webhooks: { backoffBaseMs: 1_500 } });
    let second: TestApp | undefined;
    try {
      const { organizationId, key } = await partner(first.app);
      const endpoint = await createEndpoint(first.app, key, `${receiver.origin}${receiverPath}`);
      await canceledJob(first, organizationId, key);
      await receiver.waitFor(receiverPath, 1);
      await waitForDelivery(first.app, key, endpoint.id, (entry) => entry.status === 'pending' && entry.attempts === 1);
      await first.close();
      first = undefined;

      second = await instance({ store: own });
      const [failed, retried] = await receiver.waitFor(receiverPath, 2);
      expect(retried!.headers['webhook-id']).toBe(failed!.headers['webhook-id']);
      expect(retried!.body).toBe(failed!.body);
      await verifyWebhook({ payload: retried!.body, headers: retried!.headers, secret: endpoint.secret });
      const delivery = await waitForDelivery(second.app, key, endpoint.id, (entry) => entry.status === 'delivered');
      expect(delivery.attempts).toBe(2);
    } finally {
      await first?.close();
      await second?.close();
    }
  });

  it('takes over an attempt whose instance died holding the lease, once the lease runs out', async () => {
    const receiverPath = path('ok');
    const quiet = await instance({ store: own, webhooks: { concurrency: 0 } });
    let survivor: TestApp | undefined;
    try {
      const { organizationId, key } = await partner(quiet.app);
      const endpoint = await createEndpoint(quiet.app, key, `${receiver.origin}${receiverPath}`);
      await canceledJob(quiet, organizationId, key);
      // A "dead instance": it claims the delivery and is never heard from again.
      const claimedAt = Date.now();
      const claimed = await claimDueDeliveries(own.db, { token: randomUUID(), leaseMs: 3_000, limit: 10, perOrganization: 10 });
      expect(claimed).toHaveLength(1);
      survivor = await instance({ store: own });
      await receiver.waitFor(receiverPath, 1, 8_000);
      // Not before the dead instance's lease ran out, however long the survivor took to start.
      expect(Date.now() - claimedAt).toBeGreaterThanOrEqual(3_000);
      const delivery = await waitForDelivery(quiet.app, key, endpoint.id, (entry) => entry.status === 'delivered');
      expect(delivery).toMatchObject({ webhookId: claimed[0]!.webhook_id, attempts: 2 });
    } finally {
      await survivor?.close();
      await quiet.close();
    }
  });

  it('ends a waiting delivery of an endpoint disabled meanwhile without sending it', async () => {
    const receiverPath = path('ok');
    const quiet = await instance({ store: own, webhooks: { concurrency: 0 } });
    let deliverer: TestApp | undefined;
    try {
      const { organizationId, key } = await partner(quiet.app);
      const endpoint = await createEndpoint(quiet.app, key, `${receiver.origin}${receiverPath}`);
      await canceledJob(quiet, organizationId, key);
      await own.db.updateTable('webhook_endpoints').set({ enabled: false, disabled_at: new Date(), disabled_reason: 'failing' }).where('id', '=', endpoint.id).execute();
      deliverer = await instance({ store: own });
      const ended = await waitForDelivery(quiet.app, key, endpoint.id, (entry) => entry.status === 'failed');
      expect(ended).toMatchObject({ attempts: 0, lastStatusCode: null, lastError: { code: 'ENDPOINT_DISABLED' } });
      expect(receiver.on(receiverPath)).toHaveLength(0);
    } finally {
      await deliverer?.close();
      await quiet.close();
    }
  });

  it('disables an endpoint that has failed every attempt for longer than the window', async () => {
    const receiverPath = path('down');
    const app = await instance({ store: own, webhooks: { backoffBaseMs: 100, backoffFactor: 1, maxAttempts: 50, disableAfterMs: 400 } });
    try {
      const { organizationId, key } = await partner(app.app);
      const endpoint = await createEndpoint(app.app, key, `${receiver.origin}${receiverPath}`);
      await canceledJob(app, organizationId, key);
      const failed = await waitForDelivery(app.app, key, endpoint.id, (entry) => entry.status === 'failed');
      expect(failed).toMatchObject({ lastStatusCode: 500, lastError: { code: 'ENDPOINT_DISABLED' } });
      expect(failed.attempts).toBeGreaterThanOrEqual(3);
      expect(failed.attempts).toBeLessThan(50);
      const read = await app.app.inject({ url: `/v1/webhook-endpoints/${endpoint.id}`, headers: withKey(key) });
      expect(read.json()).toMatchObject({ enabled: false, disabledReason: 'failing', failingSince: expect.any(String) });
      const attempts = receiver.on(receiverPath).length;
      await sleep(300);
      expect(receiver.on(receiverPath)).toHaveLength(attempts);
    } finally {
      await app.close();
    }
  });

  it('refuses private addresses when they are not allowed: at creation, and after name resolution at delivery', async () => {
    const receiverPath = path('ok');
    let lenient: TestApp | undefined = await instance({ store: own, webhooks: { concurrency: 0 } });
    let strict: TestApp | undefined;
    try {
      const { organizationId, key } = await partner(lenient.app);
      // Created while private addresses were allowed, under a name that resolves to loopback.
      const endpoint = await createEndpoint(lenient.app, key, `http://localhost:${receiver.upstream.port}${receiverPath}`);
      await lenient.close();
      lenient = undefined;

      strict = await instance({ store: own, allowPrivate: false, webhooks: { maxAttempts: 1 } });
      for (const url of [`${receiver.origin}/ok/x`, `http://localhost:${receiver.upstream.port}/ok/x`, 'http://[::1]/hook', 'http://10.0.0.8/hook', 'http://169.254.169.254/latest']) {
        const refused = await strict.app.inject({ method: 'POST', url: '/v1/webhook-endpoints', headers: withKey(key), payload: { url, events: ['job.failed'] } });
        expect(refused.statusCode, url).toBe(422);
        expect(refused.json().error.details.issues).toEqual([{ path: 'body.url', message: expect.stringContaining('private') }]);
      }
      const ping = await strict.app.inject({ method: 'POST', url: `/v1/webhook-endpoints/${endpoint.id}/test`, headers: withKey(key) });
      // localhost is a name: refused after resolution with the answer a name that does not resolve gets (issue 13, finding 15).
      expect(ping.json()).toMatchObject({ delivered: false, statusCode: null, error: { code: 'UPSTREAM_UNREACHABLE' } });
      await canceledJob(strict, organizationId, key);
      const failed = await waitForDelivery(strict.app, key, endpoint.id, (entry) => entry.eventType === 'job.canceled' && entry.status === 'failed');
      expect(failed.lastError).toMatchObject({ code: 'UPSTREAM_UNREACHABLE' });
      expect(receiver.upstream.requests.filter((request) => request.path === receiverPath)).toHaveLength(0);
    } finally {
      await lenient?.close();
      await strict?.close();
    }
  });
});

describe('secrets', () => {
  it('never writes a signing secret to the log', () => {
    expect(secretsSeen.length).toBeGreaterThan(5);
    for (const secret of secretsSeen) expect(api.logs.text).not.toContain(secret.slice('whsec_'.length));
  });
});
