import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, partnerWithKey, withKey, type KeyFixture } from './factories.ts';
import { insertProject } from './fixtures/jobs.ts';
import { startTestApp, type TestApp } from './harness.ts';

/** Issue 13, findings 2 and 7: input that used to amplify or to reach the database as a 500. */
let t: TestApp;
let key: KeyFixture;
let origin: string;
beforeAll(async () => {
  t = await startTestApp({ config: { jobs: { concurrency: 0 }, webhooks: { concurrency: 0 } } });
  key = (await partnerWithKey(t.app)).key;
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  origin = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
});
afterAll(async () => t.close());

const post = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url, headers: withKey(key.key, headers), payload: payload as object });

const cursorOf = (at: string) => Buffer.from(JSON.stringify([at, randomUUID()])).toString('base64url');

describe('validation errors stay small (finding 2)', () => {
  it('answers a 50,000-element scopes array with a small 422, and a concurrent whoami is not held up', async () => {
    const body = JSON.stringify({ name: 'flood', scopes: Array.from({ length: 50_000 }, (_, index) => `x${index % 10}`) });
    expect(body.length).toBeGreaterThan(100_000);
    const headers = { 'x-api-key': key.key, 'content-type': 'application/json' };
    // The key is verified once beforehand, so the whoami below measures the event loop, not bcrypt.
    expect((await fetch(`${origin}/v1/whoami`, { headers })).status).toBe(200);

    const flood = Promise.all(Array.from({ length: 4 }, () => fetch(`${origin}/v1/api-keys`, { method: 'POST', headers, body })));
    const started = performance.now();
    const whoami = await fetch(`${origin}/v1/whoami`, { headers });
    const whoamiMs = performance.now() - started;
    const answers = await flood;

    expect(whoami.status).toBe(200);
    for (const answer of answers) {
      expect(answer.status).toBe(422);
      const text = await answer.text();
      expect(text.length).toBeLessThan(4096);
      const { error } = JSON.parse(text) as { error: { code: string; details: { issues: unknown[] } } };
      expect(error.code).toBe('VALIDATION_FAILED');
      expect(error.details.issues.length).toBeGreaterThan(0);
      expect(error.details.issues.length).toBeLessThanOrEqual(10);
    }
    // Before the fix each such body blocked the loop for about 3 s; a generous bound that a loaded machine still meets.
    expect(whoamiMs).toBeLessThan(1_500);
  });

  it('caps the issues of a body that breaks many rules at once', async () => {
    const many = await admin(t.app, 'POST', '/admin/v1/plans', {
      name: 'ok',
      rank: 1,
      features: Array.from({ length: 10_000 }, () => 'NOT VALID'),
      ...Object.fromEntries(Array.from({ length: 5_000 }, (_, index) => [`extra${index}`, index])),
    });
    expect(many.statusCode).toBe(422);
    expect(many.body.length).toBeLessThan(4096);
  });
});

describe('NUL characters are refused, never stored (finding 7)', () => {
  it('answers 422 to a NUL in a key name, a webhook URL and an organization name', async () => {
    const keyName = await post('/v1/api-keys', { name: 'ci\u0000' });
    const webhookUrl = await post('/v1/webhook-endpoints', { url: 'https://example.com/\u0000hook', events: ['job.succeeded'] });
    const organizationName = await admin(t.app, 'POST', '/admin/v1/organizations', { name: 'Acme\u0000' });
    const organizationRename = await admin(t.app, 'PATCH', `/admin/v1/organizations/${key.organizationId}`, { name: '\u0000' });
    const auditAction = await admin(t.app, 'GET', '/admin/v1/audit?action=key.create%00');
    // An unpaired surrogate cannot be stored in jsonb (the audit entry records the fields): refused alike.
    const surrogate = await t.app.inject({ method: 'POST', url: '/v1/projects', headers: withKey(key.key, { 'content-type': 'application/json' }), payload: '{"name":"ok","customerExternalId":"\\ud800"}' });
    for (const [response, path] of [
      [keyName, 'body.name'],
      [webhookUrl, 'body.url'],
      [organizationName, 'body.name'],
      [organizationRename, 'body.name'],
      [auditAction, 'query.action'],
      [surrogate, 'body.customerExternalId'],
    ] as const) {
      expect(response.statusCode, response.body).toBe(422);
      expect(response.json().error.details.issues).toEqual([{ path, message: 'must not contain NUL characters or unpaired surrogates' }]);
    }
  });
});

describe('forged cursors are 400, never 500 (finding 7)', () => {
  it('refuses cursors in year 0000 and in negative years on every list', async () => {
    const lists = [
      { url: '/v1/api-keys', headers: withKey(key.key) },
      { url: '/v1/projects', headers: withKey(key.key) },
      { url: '/v1/webhook-endpoints', headers: withKey(key.key) },
      { url: '/admin/v1/organizations', headers: { 'x-admin-token': 'test-admin-token-0123456789abcdef' } },
      { url: '/admin/v1/audit', headers: { 'x-admin-token': 'test-admin-token-0123456789abcdef' } },
    ];
    for (const at of ['0000-01-01T00:00:00.000Z', '-000001-01-01T00:00:00.000Z', '-271821-04-20T00:00:00.000Z', '+275760-09-13T00:00:00.000Z']) {
      for (const list of lists) {
        const response = await t.app.inject({ url: `${list.url}?cursor=${cursorOf(at)}`, headers: list.headers });
        expect(response.statusCode, `${list.url} ${at}: ${response.body}`).toBe(400);
        expect(response.json().error).toMatchObject({ code: 'BAD_REQUEST', details: { parameter: 'cursor' } });
      }
    }
    // A real position still pages.
    const fine = await t.app.inject({ url: `/v1/api-keys?cursor=${cursorOf(new Date().toISOString())}`, headers: withKey(key.key) });
    expect(fine.statusCode).toBe(200);
  });
});

describe('deeply nested JSON is 400 (finding 7)', () => {
  it('refuses a 100,000-deep array on POST /v1/jobs/:id/cancel with an Idempotency-Key, and anywhere else', async () => {
    const projectId = await insertProject(t.deps, key.organizationId);
    const queued = await post(`/v1/projects/${projectId}/ingest/github`, { repo: 'octo/repo' });
    expect(queued.statusCode).toBe(202);
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const headers = withKey(key.key, { 'content-type': 'application/json', 'idempotency-key': 'deep-cancel-0001' });
    for (const url of [`/v1/jobs/${queued.json().jobId}/cancel`, '/v1/projects', '/v1/api-keys']) {
      const response = await t.app.inject({ method: 'POST', url, headers, payload: deep });
      expect(response.statusCode, `${url}: ${response.body.slice(0, 200)}`).toBe(400);
      expect(response.json().error.code).toBe('BAD_REQUEST');
    }
    // Strings full of brackets are not nesting.
    const bracketName = await post('/v1/projects', { name: '['.repeat(150) });
    expect(bracketName.statusCode).toBe(201);
    // The job was not touched by the refused cancel.
    const job = await t.app.inject({ url: `/v1/jobs/${queued.json().jobId}`, headers: withKey(key.key) });
    expect(job.json().status).toBe('queued');
  });
});
