import { Type } from '@sinclair/typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../src/http/errors.ts';
import { SCOPES } from '../src/http/route-config.ts';
import { WEBHOOK_EVENT_TYPES } from '../src/webhooks/events.ts';
import { ADMIN_TOKEN, startTestApp, type TestApp } from './harness.ts';
import { admin, partnerWithKey, withKey } from './factories.ts';

let t: TestApp;
let apiKey: string;
const Body = Type.Object({ name: Type.String({ minLength: 1, maxLength: 50 }), count: Type.Optional(Type.Integer({ minimum: 0 })) }, { additionalProperties: false });

beforeAll(async () => {
  t = await startTestApp({
    config: { bodyLimitBytes: 4096 },
    extraRoutes: (app) => {
      app.post('/v1/test-echo', { config: { endpointClass: 'write-light', scope: null }, schema: { body: Body } }, async (request) => request.body);
      app.get('/v1/test-crash', { config: { endpointClass: 'read-light', scope: null } }, async () => {
        throw new Error('boom: SELECT secret_hash FROM api_keys');
      });
      app.get('/v1/test-conflict', { config: { endpointClass: 'read-light', scope: null } }, async () => {
        throw new ApiError('CONFLICT', 'Already there.', { reason: 'test' });
      });
    },
  });
  apiKey = (await partnerWithKey(t.app)).key.key;
});
afterAll(async () => t.close());

const post = (payload: string, contentType = 'application/json') =>
  t.app.inject({ method: 'POST', url: '/v1/test-echo', headers: withKey(apiKey, { 'content-type': contentType }), payload });

function envelope(response: { statusCode: number; json: () => { error: Record<string, unknown> }; headers: Record<string, unknown>; body: string }) {
  const { error } = response.json();
  expect(error.requestId).toBe(response.headers['x-request-id']);
  expect(response.body).not.toMatch(/at .*\.ts:\d+|stack|SELECT|secret_hash/i);
  return error;
}

describe('SPEC 4: the error envelope', () => {
  it('400 BAD_REQUEST for unparseable JSON, without echoing it', async () => {
    const response = await post('{"name": "x", oops');
    expect(response.statusCode).toBe(400);
    expect(envelope(response)).toMatchObject({ code: 'BAD_REQUEST' });
    expect(response.body).not.toContain('oops');
  });

  it('400 for a non-JSON content type, text/plain included', async () => {
    for (const [payload, contentType] of [['name=x', 'application/x-www-form-urlencoded'], ['{"name":"x"}', 'text/plain'], ['x', 'text/plain; charset=utf-8']]) {
      const response = await post(payload!, contentType);
      expect(response.statusCode, contentType).toBe(400);
      expect(envelope(response).code).toBe('BAD_REQUEST');
    }
  });

  it('422 VALIDATION_FAILED with details.issues for wrong types, unknown fields and missing fields', async () => {
    // Validation stops at the first broken rule (a body breaking thousands must not answer thousands of issues).
    for (const [payload, path] of [
      [{ name: 5 }, 'body.name'],
      [{ name: 'x', extra: true }, 'body.extra'],
      [{ name: 'x', count: -1 }, 'body.count'],
    ] as const) {
      const response = await post(JSON.stringify(payload));
      expect(response.statusCode).toBe(422);
      const error = envelope(response);
      expect(error.code).toBe('VALIDATION_FAILED');
      expect((error.details as { issues: { path: string }[] }).issues.map((issue) => issue.path)).toEqual([path]);
    }

    const missing = await post('{}');
    expect((envelope(missing).details as { issues: unknown[] }).issues).toEqual([{ path: 'body.name', message: 'is required' }]);
  });

  it('422 for a value outside a list names the allowed values once (scopes, events, one id at least)', async () => {
    const scope = await t.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: withKey(apiKey),
      payload: { name: 'ci', scopes: ['projects:read', 'projects:everything'] },
    });
    expect(scope.statusCode).toBe(422);
    expect((envelope(scope).details as { issues: unknown[] }).issues).toEqual([
      { path: 'body.scopes.1', message: `must be one of: ${SCOPES.join(', ')}` },
    ]);

    const event = await t.app.inject({
      method: 'POST',
      url: '/v1/webhook-endpoints',
      headers: withKey(apiKey),
      payload: { url: 'https://example.com/hook', events: ['job.exploded'] },
    });
    expect(event.statusCode).toBe(422);
    expect((envelope(event).details as { issues: unknown[] }).issues).toEqual([
      { path: 'body.events.0', message: `must be one of: ${WEBHOOK_EVENT_TYPES.join(', ')}` },
    ]);

    const project = await t.app.inject({ method: 'POST', url: '/v1/projects', headers: withKey(apiKey), payload: { name: 'Enum messages' } });
    const appstore = await t.app.inject({
      method: 'POST',
      url: `/v1/projects/${project.json().id}/ingest/appstore`,
      headers: withKey(apiKey),
      payload: {},
    });
    expect(appstore.statusCode).toBe(422);
    expect((envelope(appstore).details as { issues: unknown[] }).issues).toEqual([{ path: 'body', message: 'needs one of: iosBundleId, androidPackageName' }]);
    expect(scope.body + event.body + appstore.body).not.toMatch(/equal to constant|match a schema in anyOf/);
  });

  it('413 PAYLOAD_TOO_LARGE over the configured body limit', async () => {
    const response = await post(JSON.stringify({ name: 'x'.repeat(5000) }));
    expect(response.statusCode).toBe(413);
    expect(envelope(response).code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('404 NOT_FOUND envelope for an unknown route', async () => {
    const response = await t.app.inject({ url: '/v1/nothing-here', headers: withKey(apiKey) });
    expect(response.statusCode).toBe(404);
    expect(envelope(response).code).toBe('NOT_FOUND');
  });

  it('500 INTERNAL without the error text, which is logged instead', async () => {
    const response = await t.app.inject({ url: '/v1/test-crash', headers: withKey(apiKey) });
    expect(response.statusCode).toBe(500);
    expect(envelope(response)).toMatchObject({ code: 'INTERNAL' });
    expect(response.body).not.toContain('boom');
    expect(t.logs.text).toContain('boom');
  });

  it('details travel with expected failures', async () => {
    const response = await t.app.inject({ url: '/v1/test-conflict', headers: withKey(apiKey) });
    expect(response.statusCode).toBe(409);
    expect(envelope(response)).toMatchObject({ code: 'CONFLICT', details: { reason: 'test' } });
  });

  it('every response carries X-Request-Id, successes included', async () => {
    const ids = new Set<string>();
    for (const url of ['/healthz', '/readyz', '/v1/whoami', '/nope']) {
      const response = await t.app.inject({ url, headers: withKey(apiKey) });
      const id = response.headers['x-request-id'];
      expect(id).toMatch(/^req_/);
      ids.add(String(id));
    }
    expect(ids.size).toBe(4);
  });
});

describe('admin API authentication (SPEC 10.1)', () => {
  it('a partner key, a missing token and a wrong token are 401; X-Admin-Token and Bearer both work', async () => {
    const url = '/admin/v1/plans';
    for (const headers of [{}, withKey(apiKey), { authorization: `Bearer ${apiKey}` }, { 'x-admin-token': 'wrong' }]) {
      const response = await t.app.inject({ url, headers });
      expect(response.statusCode).toBe(401);
      expect(envelope(response).code).toBe('UNAUTHENTICATED');
    }
    expect((await t.app.inject({ url, headers: { 'x-admin-token': ADMIN_TOKEN } })).statusCode).toBe(200);
    expect((await t.app.inject({ url, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).statusCode).toBe(200);
  });

  it('the default plans exist (SPEC 10.1)', async () => {
    const plans = (await admin(t.app, 'GET', '/admin/v1/plans')).json().data as { name: string; rank: number; features: string[] }[];
    const byName = Object.fromEntries(plans.map((plan) => [plan.name, plan]));
    expect(byName.free).toMatchObject({ rank: 0, features: [] });
    expect(byName.starter).toMatchObject({ rank: 1, features: [] });
    expect(byName.pro).toMatchObject({ rank: 2, features: ['api_access'] });
    expect(byName.partner).toMatchObject({ rank: 3, features: ['api_access'] });
  });

  it('every admin call writes an audit entry, reads included, with the request id and status', async () => {
    const create = await admin(t.app, 'POST', '/admin/v1/organizations', { name: 'Audited', plan: 'pro' });
    const organizationId = create.json().id as string;
    const read = await admin(t.app, 'GET', `/admin/v1/organizations/${organizationId}`);
    const missing = await admin(t.app, 'GET', '/admin/v1/organizations/00000000-0000-4000-8000-000000000000');
    expect(missing.statusCode).toBe(404);
    const entries = (await admin(t.app, 'GET', `/admin/v1/audit?organizationId=${organizationId}&limit=10`)).json().data as Record<string, unknown>[];
    expect(entries.map((entry) => entry.action)).toEqual(['admin.organization.read', 'admin.organization.create']);
    expect(entries[0]).toMatchObject({ actor: 'admin', requestId: read.headers['x-request-id'], status: 200, targetId: organizationId });
    expect(entries[1]).toMatchObject({ requestId: create.headers['x-request-id'], status: 201 });
    const all = (await admin(t.app, 'GET', '/admin/v1/audit?action=admin.organization.read&limit=100')).json().data as Record<string, unknown>[];
    expect(all.some((entry) => entry.status === 404)).toBe(true);
  });

  it('admin validation: unknown plan and tier are 422; unknown organization is 404', async () => {
    const badPlan = await admin(t.app, 'POST', '/admin/v1/organizations', { name: 'x', plan: 'platinum' });
    expect(badPlan.statusCode).toBe(422);
    const badTier = await admin(t.app, 'POST', '/admin/v1/organizations', { name: 'x', rateLimitTier: 'gold' });
    expect(badTier.statusCode).toBe(422);
    const noOrg = await admin(t.app, 'POST', '/admin/v1/organizations/00000000-0000-4000-8000-000000000000/keys', { name: 'k' });
    expect(noOrg.statusCode).toBe(404);
    const badId = await admin(t.app, 'GET', '/admin/v1/organizations/not-a-uuid');
    expect(badId.statusCode).toBe(422);
  });

  it('audit pagination walks every entry once', async () => {
    const organization = (await admin(t.app, 'POST', '/admin/v1/organizations', { name: 'Paged' })).json();
    for (let i = 0; i < 7; i++) await admin(t.app, 'GET', `/admin/v1/organizations/${organization.id}`);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { data: { id: string }[]; nextCursor: string | null } = (await admin(t.app, 'GET', `/admin/v1/audit?organizationId=${organization.id}&limit=3${cursor ? `&cursor=${cursor}` : ''}`)).json();
      seen.push(...page.data.map((entry: { id: string }) => entry.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(8);
    expect(new Set(seen).size).toBe(8);
    expect((await admin(t.app, 'GET', '/admin/v1/audit?cursor=garbage')).statusCode).toBe(400);
  });
});

describe('operations endpoints', () => {
  it('/healthz, /readyz, /metrics and /v1/openapi.json answer without a key', async () => {
    expect((await t.app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await t.app.inject({ url: '/readyz' })).json()).toEqual({ status: 'ready' });
    const metrics = await t.app.inject({ url: '/metrics' });
    expect(metrics.body).toContain('gatehouse_http_requests_total');
    expect(metrics.body).toContain('gatehouse_key_hash_verifications_total');
    const openapi = (await t.app.inject({ url: '/v1/openapi.json' })).json();
    expect(openapi.openapi).toBe('3.1.0');
    expect(Object.keys(openapi.paths)).toContain('/v1/whoami');
    // The partner API, and the one hook another service calls (SPEC 15).
    expect(Object.keys(openapi.paths).filter((path: string) => !path.startsWith('/v1/'))).toEqual(['/hooks/github/secret-scanning']);
  });
});
