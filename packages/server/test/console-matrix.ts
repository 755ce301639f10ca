import type { FastifyInstance, LightMyRequestResponse, RouteOptions } from 'fastify';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, createOrganization, issueKey } from './factories.ts';
import type { TestApp } from './harness.ts';
import { asPerson, invited, PASSWORD, signIn, startPeopleApp, type Session } from './people-support.ts';

/**
 * The console API's matrix (SPEC 13): every /console/api route against each role, a person of another
 * organization, and no session. A route without a row in CONSOLE_ROUTES fails the suite, as a /v1 route without a
 * row fails the route suite.
 */

export type Role = 'owner' | 'developer' | 'viewer' | 'operator' | 'support';
const ROLES: Role[] = ['owner', 'developer', 'viewer', 'operator', 'support'];
const PARTNERS: Role[] = ['owner', 'developer', 'viewer'];
const PARTNER_WRITERS: Role[] = ['owner', 'developer'];
const OPERATORS: Role[] = ['operator', 'support'];
const EVERYONE = ROLES;

export interface MatrixContext {
  app: FastifyInstance;
  /** The organization whose owner, developer and viewer are in the matrix. */
  organizationId: string;
  fresh: () => string;
  /** Writes the request log's buffered rows now (they are written behind, SPEC 8.7). */
  flushRequestLog: () => Promise<void>;
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface ConsoleRouteCase {
  method: Method;
  url: string;
  /** A valid body (a function when each call needs its own, such as a new email address). */
  body?: unknown | ((context: MatrixContext) => unknown);
  /** Who gets past the gate; everyone else signed in gets 403 FORBIDDEN, and no session 401. */
  allowed?: Role[];
  /** Routes open to anyone (signing in, links, setup): the status every caller gets, signed in or not. */
  open?: number;
  /** The status an allowed role gets, where the row's resource makes it certain (else anything but 401, 403, 5xx). */
  status?: number;
  /** Makes what the path names, in the matrix organization (or for operators); the value fills every parameter. */
  resource?: (context: MatrixContext) => Promise<string>;
}

const partnerKey = async (c: MatrixContext) => (await issueKey(c.app, c.organizationId, { name: 'matrix key' })).id;
const partnerKeyId = async (c: MatrixContext) => (await issueKey(c.app, c.organizationId, { name: 'matrix key' })).keyId;
const organization = async (c: MatrixContext) => c.organizationId;
async function webhookEndpoint(c: MatrixContext): Promise<string> {
  const owner = await signIn(c.app, 'owner@matrix.test');
  const response = await asPerson(c.app, owner, 'POST', '/console/api/org/webhook-endpoints', { url: 'http://127.0.0.1:9/matrix', events: ['job.succeeded'] });
  if (response.statusCode !== 201) throw new Error(`endpoint: ${response.statusCode} ${response.body}`);
  return response.json().id;
}
const member = async (c: MatrixContext) => invited(c.app, c.organizationId, `${c.fresh()}@matrix.test`, 'viewer');
async function partnerInvitation(c: MatrixContext): Promise<string> {
  const response = await admin(c.app, 'POST', `/admin/v1/organizations/${c.organizationId}/invitations`, { email: `${c.fresh()}@matrix.test`, role: 'viewer' });
  return response.json().id;
}
const operatorPerson = async (c: MatrixContext) => invited(c.app, null, `${c.fresh()}@ops.test`, 'support');
async function operatorInvitation(c: MatrixContext): Promise<string> {
  return (await admin(c.app, 'POST', '/admin/v1/operators', { email: `${c.fresh()}@ops.test`, role: 'support' })).json().id;
}
const newEmail = (domain: string, role: string) => (c: MatrixContext) => ({ email: `${c.fresh()}@${domain}`, role });
const unusedToken = 'A'.repeat(43);
/** A request of the matrix organization's key, in the request log: what the request pages read. */
async function loggedRequest(c: MatrixContext): Promise<string> {
  const key = await issueKey(c.app, c.organizationId, { name: 'matrix caller' });
  const answered = await c.app.inject({ method: 'GET', url: '/v1/whoami', headers: { 'x-api-key': key.key } });
  await c.flushRequestLog();
  return String(answered.headers['x-request-id']);
}

const ops = '/console/api/ops';
const org = '/console/api/org';

export const CONSOLE_ROUTES: ConsoleRouteCase[] = [
  // Open to anyone: what a caller gets does not depend on a session.
  { method: 'POST', url: '/console/api/sign-in', body: { email: 'viewer@matrix.test', password: PASSWORD }, open: 200 },
  { method: 'POST', url: '/console/api/invitations/accept', body: { token: unusedToken, password: PASSWORD }, open: 404 },
  { method: 'POST', url: '/console/api/password-resets', body: { email: 'nobody@matrix.test' }, open: 202 },
  { method: 'POST', url: '/console/api/password-resets/complete', body: { token: unusedToken, password: PASSWORD }, open: 404 },
  { method: 'GET', url: '/console/api/setup', open: 200 },
  // Without the admin token: the console never takes a session in its place.
  { method: 'POST', url: '/console/api/setup', body: { email: 'first@ops.test', password: PASSWORD }, open: 401 },
  { method: 'GET', url: '/console/api/openapi.json', open: 200 },

  // One's own account: anyone signed in.
  { method: 'GET', url: '/console/api/session', allowed: EVERYONE },
  { method: 'GET', url: '/console/api/sessions', allowed: EVERYONE },
  { method: 'DELETE', url: '/console/api/sessions/:id', allowed: EVERYONE, resource: async () => randomUUID() },
  { method: 'POST', url: '/console/api/sign-out', allowed: EVERYONE },
  { method: 'PUT', url: '/console/api/account/password', body: { currentPassword: PASSWORD, newPassword: PASSWORD }, allowed: EVERYONE },
  { method: 'POST', url: '/console/api/account/second-factor/setup', allowed: EVERYONE },
  { method: 'POST', url: '/console/api/account/second-factor/enable', body: { code: '000000' }, allowed: EVERYONE },
  { method: 'POST', url: '/console/api/account/second-factor/disable', body: { password: PASSWORD }, allowed: EVERYONE },

  // Partner pages (SPEC 13.1): reads for every role, keys and webhooks for owners and developers, the team for owners.
  { method: 'GET', url: org, allowed: PARTNERS },
  { method: 'GET', url: `${org}/keys`, allowed: PARTNERS },
  { method: 'POST', url: `${org}/keys`, body: { name: 'matrix key', env: 'test' }, allowed: PARTNER_WRITERS },
  { method: 'POST', url: `${org}/keys/:id/roll`, allowed: PARTNER_WRITERS, resource: partnerKey },
  { method: 'POST', url: `${org}/keys/:id/kill`, allowed: PARTNER_WRITERS, resource: partnerKey },
  { method: 'DELETE', url: `${org}/keys/:id`, allowed: PARTNER_WRITERS, resource: partnerKey },
  { method: 'GET', url: `${org}/webhook-endpoints`, allowed: PARTNERS },
  { method: 'POST', url: `${org}/webhook-endpoints`, body: { url: 'http://127.0.0.1:9/matrix', events: ['job.failed'] }, allowed: PARTNER_WRITERS },
  { method: 'DELETE', url: `${org}/webhook-endpoints/:id`, allowed: PARTNER_WRITERS, resource: webhookEndpoint },
  { method: 'POST', url: `${org}/webhook-endpoints/:id/test`, allowed: PARTNER_WRITERS, resource: webhookEndpoint },
  { method: 'GET', url: `${org}/webhook-endpoints/:id/deliveries`, allowed: PARTNERS, resource: webhookEndpoint },
  { method: 'GET', url: `${org}/audit`, allowed: PARTNERS },
  { method: 'GET', url: `${org}/usage`, allowed: PARTNERS },
  { method: 'GET', url: `${org}/usage/summary`, allowed: PARTNERS },
  { method: 'GET', url: `${org}/requests`, allowed: PARTNERS },
  { method: 'GET', url: `${org}/requests/:requestId`, allowed: PARTNERS, resource: loggedRequest, status: 200 },
  { method: 'GET', url: `${org}/team`, allowed: PARTNERS },
  { method: 'POST', url: `${org}/team/invitations`, body: newEmail('matrix.test', 'viewer'), allowed: ['owner'] },
  { method: 'DELETE', url: `${org}/team/invitations/:id`, allowed: ['owner'], resource: partnerInvitation },
  { method: 'PATCH', url: `${org}/team/members/:id`, body: { role: 'developer' }, allowed: ['owner'], resource: member },
  { method: 'DELETE', url: `${org}/team/members/:id`, allowed: ['owner'], resource: member },
  { method: 'POST', url: `${org}/team/members/:id/password-reset`, allowed: ['owner'], resource: member },
  { method: 'PUT', url: `${org}/team/second-factor`, body: { required: false }, allowed: ['owner'] },

  // Operator pages (SPEC 13.2): support reads, flips a key's or an organization's switch; the rest is the operator's.
  { method: 'GET', url: `${ops}/plans`, allowed: OPERATORS },
  { method: 'POST', url: `${ops}/plans`, body: { name: 'matrix', rank: 7, features: [] }, allowed: ['operator'] },
  { method: 'POST', url: `${ops}/organizations`, body: { name: 'Matrix created' }, allowed: ['operator'] },
  { method: 'GET', url: `${ops}/organizations`, allowed: OPERATORS },
  { method: 'GET', url: `${ops}/organizations/:id`, allowed: OPERATORS, resource: organization },
  { method: 'PATCH', url: `${ops}/organizations/:id`, body: { apiAccessRevoked: false }, allowed: OPERATORS, resource: organization },
  { method: 'POST', url: `${ops}/organizations/:id/credits`, body: { amount: 1 }, allowed: ['operator'], resource: organization },
  { method: 'POST', url: `${ops}/organizations/:id/keys`, body: { name: 'ops key' }, allowed: ['operator'], resource: organization },
  { method: 'GET', url: `${ops}/organizations/:id/keys`, allowed: OPERATORS, resource: organization },
  { method: 'POST', url: `${ops}/organizations/:id/invitations`, body: newEmail('matrix.test', 'viewer'), allowed: ['operator'], resource: organization },
  { method: 'GET', url: `${ops}/organizations/:id/people`, allowed: OPERATORS, resource: organization },
  { method: 'POST', url: `${ops}/keys/:id/kill`, allowed: OPERATORS, resource: partnerKey },
  { method: 'POST', url: `${ops}/keys/:id/unkill`, allowed: OPERATORS, resource: partnerKey },
  { method: 'POST', url: `${ops}/keys/:id/revoke`, allowed: ['operator'], resource: partnerKey },
  { method: 'GET', url: `${ops}/keys/:id`, allowed: OPERATORS, resource: partnerKey },
  { method: 'PATCH', url: `${ops}/keys/:id`, body: { allowedCidrs: ['203.0.113.0/24'] }, allowed: ['operator'], resource: partnerKey },
  { method: 'POST', url: `${ops}/keys/by-key-id/:keyId/kill`, allowed: OPERATORS, resource: partnerKeyId },
  { method: 'GET', url: `${ops}/keys/by-key-id/:keyId`, allowed: OPERATORS, resource: partnerKeyId },
  { method: 'GET', url: `${ops}/kill-switch`, allowed: OPERATORS },
  { method: 'PUT', url: `${ops}/kill-switch`, body: { enabled: false }, allowed: ['operator'] },
  { method: 'GET', url: `${ops}/audit`, allowed: OPERATORS },
  { method: 'GET', url: `${ops}/usage`, allowed: OPERATORS },
  { method: 'GET', url: `${ops}/usage/top-keys`, allowed: OPERATORS },
  { method: 'GET', url: `${ops}/requests/:requestId`, allowed: OPERATORS, resource: loggedRequest, status: 200 },
  { method: 'POST', url: `${ops}/explain`, body: async (c: MatrixContext) => ({ apiKeyId: await partnerKey(c), method: 'GET', path: '/v1/whoami' }), allowed: OPERATORS, status: 200 },
  { method: 'GET', url: `${ops}/operators`, allowed: OPERATORS },
  { method: 'POST', url: `${ops}/operators`, body: newEmail('ops.test', 'support'), allowed: ['operator'] },
  { method: 'PATCH', url: `${ops}/operators/:id`, body: { role: 'operator' }, allowed: ['operator'], resource: operatorPerson },
  { method: 'DELETE', url: `${ops}/operators/:id`, allowed: ['operator'], resource: operatorPerson },
  { method: 'DELETE', url: `${ops}/operators/invitations/:id`, allowed: ['operator'], resource: operatorInvitation },
];

const routeName = (method: string, url: string) => `${method} ${url}`;
const fill = (url: string, id: string) => url.replace(/:[A-Za-z]+/g, id);
const EMAILS: Record<Role, string> = {
  owner: 'owner@matrix.test',
  developer: 'developer@matrix.test',
  viewer: 'viewer@matrix.test',
  operator: 'operator@ops.test',
  support: 'support@ops.test',
};

export function runConsoleMatrix(cases: ConsoleRouteCase[] = CONSOLE_ROUTES): void {
  let t: TestApp;
  const registered = new Map<string, RouteOptions>();
  let context: MatrixContext;
  let counter = 0;

  beforeAll(async () => {
    t = await startPeopleApp({
      config: { jobs: { concurrency: 0 }, webhooks: { concurrency: 0 } },
      onRoute: (route) => {
        for (const method of [route.method].flat()) if (method !== 'HEAD') registered.set(routeName(method, route.url), route);
      },
    });
    const home = await createOrganization(t.app, { name: 'Matrix' });
    const other = await createOrganization(t.app, { name: 'Elsewhere' });
    for (const role of PARTNERS) await invited(t.app, home.id, EMAILS[role], role);
    for (const role of OPERATORS) await invited(t.app, null, EMAILS[role], role);
    await invited(t.app, other.id, 'owner@elsewhere.test', 'owner');
    context = {
      app: t.app,
      organizationId: home.id,
      fresh: () => `p${Date.now().toString(36)}${counter++}`,
      flushRequestLog: async () => {
        await t.deps.recording?.flush();
      },
    };
  }, 180_000);
  afterAll(async () => t?.close());

  it('has a row for every /console/api route, and no row for a route that does not exist', () => {
    const routes = [...registered.keys()].filter((name) => name.split(' ')[1]!.startsWith('/console/api/'));
    expect(routes.length).toBeGreaterThan(40);
    const rows = cases.map((row) => routeName(row.method, row.url));
    expect(routes.filter((name) => !rows.includes(name)), 'console routes without a row in CONSOLE_ROUTES').toEqual([]);
    expect(rows.filter((name) => !routes.includes(name)), 'CONSOLE_ROUTES rows without a registered route').toEqual([]);
  });

  for (const row of cases) {
    describe(routeName(row.method, row.url), () => {
      const call = async (session: Session | null, id?: string): Promise<LightMyRequestResponse> => {
        const body = typeof row.body === 'function' ? await (row.body as (c: MatrixContext) => unknown)(context) : row.body;
        const resourceId = id ?? (row.resource ? await row.resource(context) : undefined);
        return asPerson(t.app, session, row.method, resourceId ? fill(row.url, resourceId) : row.url, body);
      };
      // A session of its own for every call: a sign-out or a password change in one call cannot touch another.
      const as = (email: string) => signIn(t.app, email);

      if (row.open !== undefined) {
        it(`answers ${row.open} to everyone, signed in or not`, async () => {
          expect((await call(null)).statusCode).toBe(row.open);
          for (const role of ROLES) expect((await call(await as(EMAILS[role]))).statusCode, role).toBe(row.open);
        });
        return;
      }

      it('answers 401 UNAUTHENTICATED without a session', async () => {
        const response = await call(null);
        expect(response.statusCode, response.body).toBe(401);
        expect(response.json().error.code).toBe('UNAUTHENTICATED');
      });

      for (const role of ROLES) {
        const allowed = row.allowed!.includes(role);
        it(allowed ? `lets ${role} through` : `answers 403 FORBIDDEN to ${role}`, async () => {
          const response = await call(await as(EMAILS[role]));
          if (allowed) {
            expect(response.statusCode, response.body).toBeLessThan(500);
            expect([401, 403], response.body).not.toContain(response.statusCode);
            if (row.status !== undefined) expect(response.statusCode, response.body).toBe(row.status);
          } else {
            expect(response.statusCode, response.body).toBe(403);
            expect(response.json().error).toMatchObject({ code: 'FORBIDDEN', details: { reason: 'role' } });
          }
        });
      }

      it('gives a person of another organization nothing of this one', async () => {
        const stranger = await as('owner@elsewhere.test');
        const partnerRoute = row.url.startsWith('/console/api/org');
        if (partnerRoute && row.resource) {
          const id = await row.resource(context);
          const foreign = await call(stranger, id);
          const missing = await call(stranger, randomUUID());
          expect(foreign.statusCode, foreign.body).toBe(404);
          expect(foreign.json().error.message).toBe(missing.json().error.message);
        } else if (partnerRoute) {
          // Routes without an id act on the caller's own organization: the stranger sees only its own.
          const response = await call(stranger);
          expect([401, 403], response.body).not.toContain(response.statusCode);
          expect(JSON.stringify(response.json())).not.toContain(context.organizationId);
        } else {
          const response = await call(stranger);
          const expected = row.allowed!.includes('owner') ? 'allowed' : 'refused';
          if (expected === 'refused') expect(response.statusCode, response.body).toBe(403);
          else expect([401, 403], response.body).not.toContain(response.statusCode);
        }
      });
    });
  }
}

