import type { FastifyInstance, RouteOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAdminRoutePath } from '../src/admin/admin-auth.ts';
import { buildApp } from '../src/app.ts';
import { createDeps } from '../src/deps.ts';
import { createLogger } from '../src/observability/logger.ts';
import { partnerWithKey } from './factories.ts';
import { createTestStore, LogCapture, startTestApp, testConfig, type TestApp } from './harness.ts';
import { httpRequest, rawRequest } from './raw-http.ts';

/**
 * Issue 13, finding 1: the admin API answered anonymous callers whose path the guard did not recognise
 * (`/%61dmin/...`, `GET http://x/admin/...`) while the router did. Every admin route, reached anonymously through
 * every spelling of its path a router might accept, is 401 or 404, and nothing in the store changes.
 */
describe('admin path attack suite', () => {
  let t: TestApp;
  let port: number;
  const adminRoutes: { method: string; url: string }[] = [];
  let fixtures: { organizationId: string; keyUuid: string; keyId: string };

  beforeAll(async () => {
    t = await startTestApp({
      onRoute: (route) => {
        if (!isAdminRoutePath(route.url)) return;
        for (const method of [route.method].flat()) adminRoutes.push({ method, url: route.url });
      },
    });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as { port: number }).port;
    const { organization, key } = await partnerWithKey(t.app);
    fixtures = { organizationId: organization.id, keyUuid: key.id, keyId: key.keyId };
  });
  afterAll(async () => t.close());

  /** Everything an anonymous admin call could change or leave behind. */
  async function storeSnapshot(): Promise<string> {
    const db = t.deps.store.db;
    const tables = await Promise.all([
      db.selectFrom('plans').selectAll().orderBy('id').execute(),
      db.selectFrom('organizations').selectAll().orderBy('id').execute(),
      db.selectFrom('api_keys').selectAll().orderBy('id').execute(),
      db.selectFrom('audit_entries').selectAll().orderBy('id').execute(),
      db.selectFrom('settings').selectAll().orderBy('name').execute(),
    ]);
    return JSON.stringify({ tables, globalSwitch: t.deps.globalSwitch.isOn });
  }

  /** A concrete path for a route, with real ids, so that a request that got through would act on real rows. */
  function concretePath(url: string): string {
    return url
      .replace(/\/keys\/:id/, `/keys/${fixtures.keyUuid}`)
      .replace(/:keyId/, fixtures.keyId)
      .replace(/:id/, fixtures.organizationId)
      .replace(/:[A-Za-z]+/g, 'x');
  }

  /** A body the route would accept from an operator, so a bypass would succeed rather than fail validation. */
  function bodyFor(method: string, url: string): string | undefined {
    if (method === 'GET' || method === 'HEAD' || method === 'DELETE') return undefined;
    const bodies: Record<string, unknown> = {
      'POST /admin/v1/plans': { name: 'hijacked', rank: 9, features: ['api_access'] },
      'POST /admin/v1/organizations': { name: 'Hijack Inc', plan: 'partner' },
      'PATCH /admin/v1/organizations/:id': { apiAccessRevoked: true, creditBalance: 1 },
      'POST /admin/v1/organizations/:id/keys': { name: 'stolen' },
      'PATCH /admin/v1/keys/:id': { allowedCidrs: ['203.0.113.0/24'] },
      'PUT /admin/v1/kill-switch': { enabled: true },
    };
    return JSON.stringify(bodies[`${method} ${url}`] ?? {});
  }

  const encodeLetters = (path: string, hex: (code: number) => string) => path.replace(/[A-Za-z]/g, (letter) => `%${hex(letter.charCodeAt(0))}`);
  const lowerHex = (code: number) => code.toString(16);
  const upperHex = (code: number) => code.toString(16).toUpperCase();

  /** Every spelling of `path` (which starts with /admin/) that a router or a proxy might take for it. */
  function spellings(path: string): string[] {
    const rest = path.slice('/admin'.length);
    const [, version = '', tail = ''] = /^\/(v\d+)(\/.*)?$/.exec(rest) ?? [];
    return [
      path,
      `${path}?limit=1`,
      // Percent-encoded letters.
      `/%61dmin${rest}`,
      `/%41dmin${rest}`,
      `/a%64min${rest}`,
      encodeLetters(path, lowerHex),
      encodeLetters(path, upperHex),
      `/admin/%76${version.slice(1)}${tail}`,
      // Encoded slashes.
      `/admin%2F${rest.slice(1)}`,
      `/admin%2f${rest.slice(1)}`,
      `/${path.slice(1).replace(/\//g, '%2F')}`,
      `/%2Fadmin${rest}`,
      // Absolute-form targets.
      `http://x${path}`,
      `http://127.0.0.1:${port}${path}`,
      `HTTP://X${path}`,
      `https://x${path}`,
      `http://x/%61dmin${rest}`,
      `http://x//admin${rest}`,
      // Double slashes.
      `/${path}`,
      `/admin/${rest}`,
      `/admin/${version}/${tail}`,
      path.replace(/\//g, '//'),
      // Dot segments, plain and encoded.
      `/.${path}`,
      `/./admin/./${version}/.${tail}`,
      `/x/..${path}`,
      `/v1/..${path}`,
      `/admin/${version}/x/..${tail}`,
      `/%2e${path}`,
      `/x/%2e%2e${path}`,
      `/x/%2E%2E${path}`,
      `${path}/.`,
      // Case variants.
      path.toUpperCase(),
      `/Admin${rest}`,
      `/ADMIN${rest}`,
      `/admin/${version.toUpperCase()}${tail}`,
      `/admin/${version}${tail.toUpperCase()}`,
      // Trailing slashes and other endings.
      `${path}/`,
      `${path}//`,
      `${path}/?x=1`,
      `${path};`,
      `${path}%20`,
      // Backslashes and matrix parameters.
      `/\\admin${rest}`,
      `/admin\\${rest.slice(1)}`,
      `/admin;x=1${rest}`,
    ];
  }

  it('finds the admin routes to attack', () => {
    const paths = new Set(adminRoutes.map((route) => route.url));
    for (const expected of ['/admin/v1/plans', '/admin/v1/organizations', '/admin/v1/organizations/:id/keys', '/admin/v1/kill-switch', '/admin/v1/audit']) {
      expect(paths).toContain(expected);
    }
    // The router's own HEAD twins of GET routes are attacked too.
    expect(adminRoutes.some((route) => route.method === 'HEAD')).toBe(true);
  });

  it('answers 401 or 404 to every admin route under every spelling, anonymously, and changes nothing', async () => {
    const before = await storeSnapshot();
    const refusalsBefore = await refusals();
    const got: string[] = [];
    let requests = 0;
    for (const route of adminRoutes) {
      const body = bodyFor(route.method, route.url);
      for (const target of spellings(concretePath(route.url))) {
        for (const headers of [{}, { 'x-admin-token': '' }, { authorization: 'Bearer ' }] as Record<string, string>[]) {
          const response = await rawRequest(port, httpRequest(route.method, target, headers, body));
          requests++;
          if (response.status !== 401 && response.status !== 404) got.push(`${route.method} ${target} → ${response.status} ${response.body.slice(0, 80)}`);
        }
      }
    }
    expect(got).toEqual([]);
    expect(requests).toBeGreaterThan(1000);
    expect(await storeSnapshot()).toBe(before);
    // The refusals are counted, not audited.
    expect(await refusals()).toBeGreaterThan(refusalsBefore);
    expect(t.deps.globalSwitch.isOn).toBe(false);
  }, 120_000);

  async function refusals(): Promise<number> {
    const metric = await t.deps.metrics.authRefusals.get();
    return metric.values.filter((value) => value.labels.surface === 'admin').reduce((sum, value) => sum + value.value, 0);
  }
});

describe('admin authentication belongs to the admin routes themselves', () => {
  let t: TestApp;
  let hookRuns = 0;
  beforeAll(async () => {
    t = await startTestApp({
      extraRoutes: (app: FastifyInstance) => {
        // A route's own hook must never run before the admin check.
        app.get('/admin/v1/probe', { onRequest: (_request, _reply, done) => (hookRuns++, done()) }, async () => ({ ok: true }));
        // Registered under an odd spelling of /admin: still an admin route.
        app.get('/Admin//v1/odd', async () => ({ ok: true }));
      },
    });
  });
  afterAll(async () => t.close());

  it('runs before any hook of the route and guards routes registered under odd spellings', async () => {
    expect((await t.app.inject({ url: '/admin/v1/probe' })).statusCode).toBe(401);
    expect(hookRuns).toBe(0);
    expect((await t.app.inject({ url: '/Admin//v1/odd' })).statusCode).toBe(401);
    expect((await t.app.inject({ url: '/admin/v1/probe', headers: { 'x-admin-token': testConfig().adminToken! } })).statusCode).toBe(200);
    expect(hookRuns).toBe(1);
  });

  it('refuses to start when an admin route lost its authentication', async () => {
    const config = testConfig();
    const store = await createTestStore();
    const deps = await createDeps(config, { logger: createLogger('silent', new LogCapture()), store });
    try {
      const app = await buildApp(deps, {
        extraRoutes: (instance: FastifyInstance) => {
          // What a later onRoute hook that rewrites route hooks carelessly would do.
          instance.addHook('onRoute', (route: RouteOptions) => {
            if (route.url === '/admin/v1/unguarded') route.onRequest = [];
          });
          instance.get('/admin/v1/unguarded', async () => ({ ok: true }));
        },
      });
      await expect(app.ready()).rejects.toThrow(/admin routes without admin authentication: GET \/admin\/v1\/unguarded/);
      await app.close().catch(() => undefined);
    } finally {
      await deps.close();
      await store.close();
    }
  });
});
