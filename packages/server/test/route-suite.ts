import type { FastifyInstance, LightMyRequestResponse, RouteOptions } from 'fastify';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deps } from '../src/deps.ts';
import { generateKey } from '../src/keys/format.ts';
import { admin, createOrganization, issueKey, withKey, type KeyFixture } from './factories.ts';
import { startTestApp, type TestApp } from './harness.ts';

/**
 * The auth suite every /v1 route runs (DESIGN 9): no key, bad keys, a revoked key → 401; a killed key, an
 * organization whose API access is revoked, the global kill switch → 503 (whoami reports the first two with
 * 200); a key without the route's scope → 403; another organization's id → 404, answered like a missing one; and
 * the other env's id (a test key's for a live key of the same organization, and the reverse) → the same 404 (SPEC 12).
 *
 * Adding a /v1 route means adding its row to V1_ROUTES: the suite lists every registered /v1 route and fails
 * on one without a row (and on a row whose route is gone).
 */

export interface SuiteContext {
  app: FastifyInstance;
  /** The organization that owns the resources a route's path names. */
  owner: { organizationId: string; key: string };
  /** The app's dependencies (to write the request log out now rather than wait for its timer). */
  deps: Deps;
}

type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

export interface RouteCase {
  method: Method;
  /** The route as registered, path parameters included (`/v1/projects/:id`). */
  url: string;
  /** A valid body, so the answers below come from the check under test and not from validation. */
  body?: unknown;
  /** whoami: the key and organization switches are reported with 200 (SPEC 3). */
  reportsSwitches?: boolean;
  /**
   * API keys are the organization's credentials, not one world's resources: a live key manages keys of both envs
   * (SPEC 8.5), and only a test key is confined to its own env's. Such a row checks the test key's side alone.
   */
  testKeyConfinedOnly?: boolean;
  /** For a route with path parameters: creates what they name, in the owner's organization, through the API; the id fills every parameter. */
  resource?: (context: SuiteContext) => Promise<string>;
}

async function createProjectFor(context: SuiteContext): Promise<string> {
  const response = await context.app.inject({ method: 'POST', url: '/v1/projects', headers: withKey(context.owner.key), payload: { name: 'suite project' } });
  if (response.statusCode !== 201) throw new Error(`project: ${response.statusCode} ${response.body}`);
  return response.json().id;
}

async function createJobFor(context: SuiteContext): Promise<string> {
  const projectId = await createProjectFor(context);
  const response = await context.app.inject({
    method: 'POST',
    url: `/v1/projects/${projectId}/ingest/appstore`,
    headers: withKey(context.owner.key),
    payload: { iosBundleId: 'com.example.suite' },
  });
  if (response.statusCode !== 202) throw new Error(`job: ${response.statusCode} ${response.body}`);
  return response.json().jobId;
}

/** A key restricted to keys:write, so a key holding that scope may roll it (SPEC 9: no escalation). */
async function createApiKeyFor(context: SuiteContext): Promise<string> {
  const response = await context.app.inject({
    method: 'POST',
    url: '/v1/api-keys',
    headers: withKey(context.owner.key),
    payload: { name: 'suite key', scopes: ['keys:write'] },
  });
  if (response.statusCode !== 201) throw new Error(`api key: ${response.statusCode} ${response.body}`);
  return response.json().id;
}

// Port 9 (discard) on loopback: nothing listens, so a test ping fails fast and nothing leaves the machine.
const SUITE_WEBHOOK = { url: 'http://127.0.0.1:9/suite-hook', events: ['job.succeeded'] };

async function createWebhookEndpointFor(context: SuiteContext): Promise<string> {
  const response = await context.app.inject({ method: 'POST', url: '/v1/webhook-endpoints', headers: withKey(context.owner.key), payload: SUITE_WEBHOOK });
  if (response.statusCode !== 201) throw new Error(`webhook endpoint: ${response.statusCode} ${response.body}`);
  return response.json().id;
}

/** A request of the owner's, written to the request log; its id names it. */
async function createRequestLogRowFor(context: SuiteContext): Promise<string> {
  const response = await context.app.inject({ method: 'GET', url: '/v1/whoami', headers: withKey(context.owner.key) });
  await context.deps.recording?.flush();
  return String(response.headers['x-request-id']);
}

/** Every /v1 route. Other features add their rows here. */
export const V1_ROUTES: RouteCase[] = [
  { method: 'GET', url: '/v1/whoami', reportsSwitches: true },
  { method: 'POST', url: '/v1/projects', body: { name: 'suite project' } },
  { method: 'GET', url: '/v1/projects' },
  { method: 'GET', url: '/v1/projects/:id', resource: createProjectFor },
  { method: 'PATCH', url: '/v1/projects/:id', body: { name: 'renamed' }, resource: createProjectFor },
  { method: 'POST', url: '/v1/projects/:id/archive', resource: createProjectFor },
  { method: 'POST', url: '/v1/projects/:id/influencers', body: { name: 'suite influencer' }, resource: createProjectFor },
  { method: 'GET', url: '/v1/projects/:id/sources', resource: createProjectFor },
  { method: 'POST', url: '/v1/projects/:id/ingest/appstore', body: { iosBundleId: 'com.example.suite' }, resource: createProjectFor },
  { method: 'POST', url: '/v1/projects/:id/ingest/website', body: { url: 'https://example.com/' }, resource: createProjectFor },
  { method: 'POST', url: '/v1/projects/:id/ingest/github', body: { repo: 'octo/hello' }, resource: createProjectFor },
  { method: 'GET', url: '/v1/jobs/:jobId', resource: createJobFor },
  { method: 'POST', url: '/v1/jobs/:jobId/cancel', resource: createJobFor },
  { method: 'POST', url: '/v1/api-keys', body: { name: 'suite key', scopes: ['keys:write'] } },
  { method: 'GET', url: '/v1/api-keys' },
  { method: 'PATCH', url: '/v1/api-keys/:id', body: { name: 'suite key renamed' }, resource: createApiKeyFor, testKeyConfinedOnly: true },
  { method: 'DELETE', url: '/v1/api-keys/:id', resource: createApiKeyFor, testKeyConfinedOnly: true },
  { method: 'POST', url: '/v1/api-keys/:id/roll', resource: createApiKeyFor, testKeyConfinedOnly: true },
  { method: 'POST', url: '/v1/api-keys/:id/kill', resource: createApiKeyFor, testKeyConfinedOnly: true },
  { method: 'POST', url: '/v1/webhook-endpoints', body: SUITE_WEBHOOK },
  { method: 'GET', url: '/v1/webhook-endpoints' },
  { method: 'GET', url: '/v1/webhook-endpoints/:id', resource: createWebhookEndpointFor },
  { method: 'DELETE', url: '/v1/webhook-endpoints/:id', resource: createWebhookEndpointFor },
  { method: 'POST', url: '/v1/webhook-endpoints/:id/test', resource: createWebhookEndpointFor },
  { method: 'GET', url: '/v1/webhook-endpoints/:id/deliveries', resource: createWebhookEndpointFor },
  { method: 'GET', url: '/v1/usage' },
  { method: 'GET', url: '/v1/requests' },
  { method: 'GET', url: '/v1/requests/:requestId', resource: createRequestLogRowFor },
  { method: 'GET', url: '/v1/audit' },
  // SPEC 3: only whoami reports a switch; explain answers a switched-off key 503 like every other route.
  { method: 'POST', url: '/v1/explain', body: { method: 'GET', path: '/v1/projects' } },
];

const hasParams = (url: string) => url.includes('/:');
const fill = (url: string, id: string) => url.replace(/:[A-Za-z]+/g, id);
const routeName = (method: string, url: string) => `${method} ${url}`;

/** The scope a restricted key of the wrong kind holds: any scope other than the one the route needs. */
const otherScope = (scope: string) => (scope === 'audit:read' ? 'keys:read' : 'audit:read');

export function runRouteSuite(cases: RouteCase[] = V1_ROUTES): void {
  let t: TestApp;
  const registered = new Map<string, RouteOptions>();
  let owner: KeyFixture;
  /** A test-mode key of the owner's organization: its world is a sandbox of its own (SPEC 12). */
  let ownerTest: KeyFixture;
  let stranger: KeyFixture;
  let revoked: KeyFixture;
  let killed: KeyFixture;
  let cutOff: KeyFixture;

  beforeAll(async () => {
    t = await startTestApp({
      // Jobs stay queued: the suite checks who may reach them, not what they do.
      config: { jobs: { concurrency: 0 } },
      onRoute: (route) => {
        for (const method of [route.method].flat()) if (method !== 'HEAD') registered.set(routeName(method, route.url), route);
      },
    });
    const fields = { rateLimitTier: 'partner' };
    const ownerOrganization = await createOrganization(t.app, { ...fields, name: 'Owner' });
    owner = await issueKey(t.app, ownerOrganization.id);
    ownerTest = await issueKey(t.app, ownerOrganization.id, { name: 'test mode', env: 'test' });
    stranger = await issueKey(t.app, (await createOrganization(t.app, { ...fields, name: 'Stranger' })).id);
    revoked = await issueKey(t.app, ownerOrganization.id, { name: 'revoked' });
    // Used once before it is revoked, so the revocation has to reach a cached key.
    await t.app.inject({ url: '/v1/whoami', headers: withKey(revoked.key) });
    await admin(t.app, 'POST', `/admin/v1/keys/${revoked.id}/revoke`);
    killed = await issueKey(t.app, ownerOrganization.id, { name: 'killed' });
    await admin(t.app, 'POST', `/admin/v1/keys/${killed.id}/kill`);
    const cutOffOrganization = await createOrganization(t.app, { ...fields, name: 'Cut off' });
    cutOff = await issueKey(t.app, cutOffOrganization.id);
    await admin(t.app, 'PATCH', `/admin/v1/organizations/${cutOffOrganization.id}`, { apiAccessRevoked: true });
  });
  afterAll(async () => t?.close());

  const context = (as: KeyFixture = owner): SuiteContext => ({ app: t.app, owner: { organizationId: as.organizationId, key: as.key }, deps: t.deps });

  it('has a row for every registered /v1 route, and no row for a route that does not exist', () => {
    const routes = [...registered.entries()].filter(([, route]) => route.url.startsWith('/v1/') && !route.config?.public).map(([name]) => name);
    expect(routes.length).toBeGreaterThan(0);
    const rows = cases.map((row) => routeName(row.method, row.url));
    expect(routes.filter((name) => !rows.includes(name)), 'registered /v1 routes without a row in V1_ROUTES').toEqual([]);
    expect(rows.filter((name) => !routes.includes(name)), 'V1_ROUTES rows without a registered route').toEqual([]);
    for (const row of cases) if (hasParams(row.url)) expect(row.resource, `${routeName(row.method, row.url)} needs a resource`).toBeDefined();
  });

  for (const row of cases) {
    describe(routeName(row.method, row.url), () => {
      const call = async (headers: Record<string, string>, id: string = randomUUID()): Promise<LightMyRequestResponse> =>
        t.app.inject({
          method: row.method,
          url: fill(row.url, id),
          headers,
          ...(row.body === undefined ? {} : { payload: row.body as object }),
        });
      const expectError = (response: LightMyRequestResponse, status: number, code: string) => {
        expect(response.statusCode, response.body).toBe(status);
        expect(response.json().error.code).toBe(code);
        expect(response.json().error.requestId).toBe(response.headers['x-request-id']);
      };

      it('answers 401 without a key, with a malformed, unknown or wrong-secret key, and with a revoked key', async () => {
        expectError(await call({}), 401, 'UNAUTHENTICATED');
        expectError(await call({ authorization: 'Bearer ' }), 401, 'UNAUTHENTICATED');
        expectError(await call(withKey('lp_live_not-a-key')), 401, 'UNAUTHENTICATED');
        expectError(await call(withKey(generateKey('lp', 'live').key)), 401, 'UNAUTHENTICATED');
        const wrongSecret = generateKey('lp', 'live', owner.keyId).key;
        expectError(await call(withKey(wrongSecret)), 401, 'UNAUTHENTICATED');
        const response = await call(withKey(revoked.key));
        expectError(response, 401, 'UNAUTHENTICATED');
        expect(response.json().error.message).toBe('API key has been revoked.');
      });

      it(row.reportsSwitches ? 'reports a killed key and a cut-off organization with 200' : 'answers 503 KILL_SWITCH for a killed key and a cut-off organization', async () => {
        const byKey = await call(withKey(killed.key));
        const byOrganization = await call(withKey(cutOff.key));
        if (row.reportsSwitches) {
          expect(byKey.statusCode).toBe(200);
          expect(byKey.json().killSwitch).toBe(true);
          expect(byOrganization.statusCode).toBe(200);
          expect(byOrganization.json().apiAccessRevoked).toBe(true);
        } else {
          expectError(byKey, 503, 'KILL_SWITCH');
          expect(byKey.json().error.details).toEqual({ scope: 'key' });
          expectError(byOrganization, 503, 'KILL_SWITCH');
          expect(byOrganization.json().error.details).toEqual({ scope: 'organization' });
        }
      });

      it('answers 503 KILL_SWITCH while the global kill switch is on', async () => {
        await admin(t.app, 'PUT', '/admin/v1/kill-switch', { enabled: true });
        try {
          const response = await call(withKey(owner.key));
          expectError(response, 503, 'KILL_SWITCH');
          expect(response.json().error.details).toEqual({ scope: 'global' });
        } finally {
          await admin(t.app, 'PUT', '/admin/v1/kill-switch', { enabled: false });
        }
      });

      it('answers 403 FORBIDDEN_SCOPE to a restricted key without the route’s scope, and lets one with it through', async () => {
        const scope = registered.get(routeName(row.method, row.url))?.config?.scope;
        if (!scope) return; // a route without a scope is open to every key of the organization
        const lacking = await issueKey(t.app, owner.organizationId, { scopes: [otherScope(scope)] });
        const holding = await issueKey(t.app, owner.organizationId, { scopes: [scope] });
        const id = row.resource ? await row.resource(context()) : randomUUID();
        const refused = await call(withKey(lacking.key), id);
        expectError(refused, 403, 'FORBIDDEN_SCOPE');
        expect(refused.json().error.details).toEqual({ requiredScope: scope });
        const allowed = await call(withKey(holding.key), id);
        // Through the pipeline, and answered by the route: neither refused nor a failure of ours (a 5xx).
        expect([401, 403], allowed.body).not.toContain(allowed.statusCode);
        expect(allowed.statusCode, allowed.body).toBeLessThan(500);
      });

      if (hasParams(row.url)) {
        it('answers another organization’s id with the same 404 as a missing one', async () => {
          const id = await row.resource!(context());
          const foreign = await call(withKey(stranger.key), id);
          const missing = await call(withKey(stranger.key), randomUUID());
          expectError(foreign, 404, 'NOT_FOUND');
          expectError(missing, 404, 'NOT_FOUND');
          expect(foreign.json().error.message).toBe(missing.json().error.message);
          // The owner still reaches it: the 404 is about the organization, not the id.
          expect((await call(withKey(owner.key), id)).statusCode).toBeLessThan(400);
        });

        it('answers another env’s id with the same 404 as a missing one (SPEC 12): both ways, or to a test key for the keys routes', async () => {
          const directions = [
            [owner, ownerTest],
            [ownerTest, owner],
          ] as const;
          for (const [maker, other] of row.testKeyConfinedOnly ? directions.slice(0, 1) : directions) {
            const id = await row.resource!(context(maker));
            const foreign = await call(withKey(other.key), id);
            const missing = await call(withKey(other.key), randomUUID());
            expectError(foreign, 404, 'NOT_FOUND');
            expectError(missing, 404, 'NOT_FOUND');
            expect(foreign.json().error.message).toBe(missing.json().error.message);
            // Its maker still reaches it: the 404 is about the env, not the id.
            expect((await call(withKey(maker.key), id)).statusCode).toBeLessThan(400);
          }
        });
      }
    });
  }
}
