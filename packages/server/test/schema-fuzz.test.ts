import fc from 'fast-check';
import type { LightMyRequestResponse, RouteOptions } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../src/http/json-body.ts';
import { admin, issueKey, partnerWithKey, withKey } from './factories.ts';
import { UNCAPPED_TIER } from './fixtures/uncapped-rate-limits.ts';
import { startReceiver } from './fixtures/webhook-receiver.ts';
import { ADMIN_TOKEN, startTestApp } from './harness.ts';

/**
 * Issue 13, finding 7: every /v1 and /admin/v1 route, found by enumerating the routes the app registers (a new route
 * is covered without touching this file), gets inputs generated from its own request schemas, valid ones and
 * mutated ones: hostile strings (NUL, lone surrogates, 10,000 characters, forged dates), wrong types, unknown
 * fields, deep nesting, forged cursors. No answer may be a 5xx, except the 503 of a kill switch that an admin
 * route turned on.
 */

type Schema = Record<string, unknown>;
const RUNS_PER_ROUTE = 15;

const routes: RouteOptions[] = [];
const receiver = await startReceiver(() => ({ status: 204 }));
const t = await startTestApp({
  onRoute: (route) => routes.push(route),
  config: {
    // Nothing runs in the background: jobs stay queued, deliveries are not attempted, test pings hit the receiver.
    jobs: { concurrency: 0 },
    webhooks: { concurrency: 0, timeoutMs: 1_000 },
    rateLimits: { partner: UNCAPPED_TIER },
  },
});
afterAll(async () => {
  await t.close();
  await receiver.close();
});

// What the generated ids may name: real rows of the caller's organization, so handlers run past their lookups. The
// caller's own key is not among them (a revoked caller would turn every later request into a 401).
const { organization, key: caller } = await partnerWithKey(t.app, { rateLimitTier: 'partner', creditBalance: 1_000_000 });
const victim = await issueKey(t.app, organization.id, { name: 'victim' });
const post = async (url: string, payload: object) => {
  const response = await t.app.inject({ method: 'POST', url, headers: withKey(caller.key), payload });
  if (response.statusCode >= 300) throw new Error(`${url}: ${response.statusCode} ${response.body}`);
  return response.json() as { id?: string; jobId?: string };
};
const project = await post('/v1/projects', { name: 'fuzz' });
const job = await post(`/v1/projects/${project.id}/ingest/github`, { repo: 'octo/fuzz' });
const endpoint = await post('/v1/webhook-endpoints', { url: `${receiver.origin}/ok`, events: ['job.succeeded'] });
const knownIds = [organization.id, victim.id, project.id!, job.jobId!, endpoint.id!];

const isoDate = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((at) => at.toISOString());
const cursorOf = (at: string, id: string) => Buffer.from(JSON.stringify([at, id])).toString('base64url');

/** Valid values for a JSON schema (the subset TypeBox emits for request schemas). */
function valid(schema: Schema | undefined): fc.Arbitrary<unknown> {
  if (!schema) return fc.constant(undefined);
  if ('const' in schema) return fc.constant(schema.const);
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  if (Array.isArray(schema.anyOf)) return fc.oneof(...(schema.anyOf as Schema[]).map(valid));
  switch (schema.type) {
    case 'string':
      return validString(schema);
    case 'integer':
      return fc.integer({ min: (schema.minimum as number | undefined) ?? -1_000_000, max: (schema.maximum as number | undefined) ?? 1_000_000 });
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      const constraints = { minLength: (schema.minItems as number | undefined) ?? 0, maxLength: Math.min((schema.maxItems as number | undefined) ?? 4, 4) };
      return schema.uniqueItems
        ? fc.uniqueArray(valid(schema.items as Schema), constraints)
        : fc.array(valid(schema.items as Schema), constraints);
    }
    case 'object': {
      const properties = (schema.properties ?? {}) as Record<string, Schema>;
      const record = Object.fromEntries(Object.entries(properties).map(([name, property]) => [name, valid(property)]));
      return fc.record(record, { requiredKeys: ((schema.required as string[] | undefined) ?? []).filter((name) => name in properties) });
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

function validString(schema: Schema): fc.Arbitrary<string> {
  const maxLength = Math.min((schema.maxLength as number | undefined) ?? 40, 40);
  const minLength = Math.min((schema.minLength as number | undefined) ?? 0, maxLength);
  switch (schema.format) {
    case 'uuid':
      return fc.oneof(fc.constantFrom(...knownIds), fc.uuid());
    case 'date-time':
      return isoDate;
    case 'uri':
      return fc.webUrl();
    case 'iana-time-zone':
      return fc.constantFrom('UTC', 'Europe/Paris', 'America/Sao_Paulo');
    case 'bcp47-language-tag':
      return fc.constantFrom('en', 'pt-BR', 'fr');
  }
  if (typeof schema.pattern === 'string') {
    const limit = (schema.maxLength as number | undefined) ?? Infinity;
    return fc.stringMatching(new RegExp(schema.pattern)).filter((text) => text.length >= minLength && text.length <= limit);
  }
  return fc.string({ minLength, maxLength });
}

/** Strings that have broken servers: NUL, lone surrogates, huge, forged dates, traversal, SQL, format look-alikes. */
const hostileString = fc.oneof(
  // PostgreSQL text cannot hold NUL: the likeliest way for input to reach the database and fail there.
  { arbitrary: fc.string({ maxLength: 8 }).map((text) => `${text}\u0000${text}`), weight: 3 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 30 }), weight: 1 },
  fc.constantFrom(
    '\u0000',
    'a\u0000b',
    '\ud800',
    '\udfff\ud800',
    'x'.repeat(3_000),
    '0000-01-01T00:00:00.000Z',
    '-000001-01-01T00:00:00.000Z',
    '+275760-09-13T00:00:00.000Z',
    "' OR 1=1 --",
    '../../etc/passwd',
    '%00',
    '',
    ' ',
    'urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66',
    '00000000-0000-0000-0000-000000000000',
    'https://127.0.0.1:0/\u0000',
    'http://[::1]/',
  ),
);

const deepArray = (depth: number) => JSON.parse('['.repeat(depth) + ']'.repeat(depth)) as unknown;

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: hostileString, weight: 4 },
  fc.constantFrom(null, true, false, 0, -1, -0, 1e308, 2 ** 53, 2 ** 31, 1.5, [], {}, deepArray(MAX_JSON_DEPTH - 2)),
  fc.jsonValue({ maxDepth: 3 }),
  fc.array(hostileString, { maxLength: 3 }),
  fc.constant(Array.from({ length: 500 }, (_, index) => `item-${index}`)),
);

/** A valid value, or one with a property replaced, an unknown one added, or the whole value hostile. */
function mutated(schema: Schema | undefined): fc.Arbitrary<unknown> {
  const base = valid(schema);
  const names = Object.keys((schema?.properties ?? {}) as object);
  const variants: fc.WeightedArbitrary<unknown>[] = [
    { arbitrary: base, weight: 2 },
    { arbitrary: hostileValue, weight: 1 },
  ];
  if (names.length > 0) {
    variants.push(
      {
        arbitrary: fc.tuple(base, fc.constantFrom(...names), hostileValue).map(([value, name, replacement]) => ({ ...(value as object), [name]: replacement })),
        weight: 4,
      },
      {
        arbitrary: fc
          .tuple(base, fc.constantFrom('__proto__', 'constructor', 'extra', 'a\u0000'), hostileValue)
          .map(([value, name, extra]) => ({ ...(value as object), [name]: extra })),
        weight: 1,
      },
    );
  }
  return fc.oneof(...variants);
}

const hostileCursor = fc.oneof(
  fc.tuple(fc.constantFrom('0000-01-01T00:00:00.000Z', '-000001-01-01T00:00:00.000Z', '+275760-09-13T00:00:00.000Z', '1969-12-31T23:59:59.999Z'), fc.uuid()).map(
    ([at, id]) => cursorOf(at, id),
  ),
  fc.tuple(isoDate, fc.uuid()).map(([at, id]) => cursorOf(at, id)),
  hostileString.map((text) => Buffer.from(text).toString('base64url')),
  hostileString,
);

/** Query strings as text: every value stringified, hostile cursors among them. */
function queryArbitrary(schema: Schema | undefined): fc.Arbitrary<Record<string, string | undefined>> {
  if (!schema) return fc.constant({});
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  const fields = Object.fromEntries(
    Object.entries(properties).map(([name, property]) => [
      name,
      fc.oneof(valid(property), hostileValue, ...(name === 'cursor' ? [hostileCursor] : [])).map((value) => (typeof value === 'string' ? value : JSON.stringify(value) ?? '')),
    ]),
  );
  return fc.oneof(fc.record(fields, { requiredKeys: [] }), fc.record({ unknown: hostileString }));
}

/** Path parameters: valid values, hostile strings, or known ids. */
function paramsArbitrary(schema: Schema | undefined, url: string): fc.Arbitrary<Record<string, string>> {
  const names = [...url.matchAll(/:([A-Za-z]+)/g)].map((match) => match[1]!);
  const properties = ((schema?.properties ?? {}) as Record<string, Schema>) ?? {};
  const fields = Object.fromEntries(
    names.map((name) => [name, fc.oneof(valid(properties[name]), valid(properties[name]), hostileString).map((value) => String(value))]),
  );
  return fc.record(fields, { requiredKeys: names });
}

interface Input {
  params: Record<string, string>;
  query: Record<string, string | undefined>;
  body: unknown;
  idempotencyKey: string | null;
}

const methodsOf = (route: RouteOptions) => [route.method].flat().filter((method) => method !== 'HEAD');
const covered = routes
  .filter((route) => route.url.startsWith('/v1/') || route.url.startsWith('/admin/v1/'))
  .flatMap((route) => methodsOf(route).map((method) => ({ method, route })));

/** Percent-encodes a path segment; a lone surrogate, which encodeURIComponent refuses, goes out as the bytes of one. */
const encodeSegment = (text: string) => text.replace(/[\ud800-\udfff]/g, '\u0001').split('\u0001').map(encodeURIComponent).join('%ED%A0%80');

async function send(method: string, route: RouteOptions, input: Input): Promise<LightMyRequestResponse> {
  const path = route.url.replace(/:([A-Za-z]+)/g, (_, name: string) => encodeSegment(input.params[name] ?? ''));
  const query = new URLSearchParams(Object.entries(input.query).filter((entry): entry is [string, string] => entry[1] !== undefined)).toString();
  const auth = route.url.startsWith('/admin/') ? { 'x-admin-token': ADMIN_TOKEN } : withKey(caller.key);
  const headers: Record<string, string> = { ...auth };
  if (input.idempotencyKey !== null) headers['idempotency-key'] = input.idempotencyKey;
  const withBody = input.body !== undefined && method !== 'GET' && method !== 'DELETE';
  if (withBody) headers['content-type'] = 'application/json';
  return t.app.inject({ method: method as 'GET', url: query ? `${path}?${query}` : path, headers, ...(withBody ? { payload: JSON.stringify(input.body) } : {}) });
}

/** What an admin route may have changed for the caller is put back, so every run starts from the same footing. */
async function restore(): Promise<void> {
  await admin(t.app, 'PUT', '/admin/v1/kill-switch', { enabled: false });
  await admin(t.app, 'PATCH', `/admin/v1/organizations/${organization.id}`, {
    plan: 'partner',
    rateLimitTier: 'partner',
    apiAccessRevoked: false,
    creditBalance: 1_000_000,
  });
}

const requestsByRoute = new Map<string, number>();

describe('every route, fed its own schema and mutations of it, never answers 5xx (issue 13, finding 7)', () => {
  it('finds the routes to cover by enumerating the registered ones', () => {
    expect(covered.length).toBeGreaterThanOrEqual(35);
    expect(covered.some(({ route }) => route.url.startsWith('/admin/v1/'))).toBe(true);
  });

  it.each(covered.map(({ method, route }) => [`${method} ${route.url}`, method, route] as const))('%s', async (name, method, route) => {
    const schema = (route.schema ?? {}) as Record<string, Schema | undefined>;
    const input: fc.Arbitrary<Input> = fc.record({
      params: paramsArbitrary(schema.params, route.url),
      query: queryArbitrary(schema.querystring),
      body: schema.body ? mutated(schema.body) : fc.oneof(fc.constant(undefined), hostileValue),
      idempotencyKey: fc.option(fc.stringMatching(/^[\x20-\x7e]{1,300}$/), { nil: null }),
    });
    await fc.assert(
      fc.asyncProperty(input, async (generated) => {
        const response = await send(method, route, generated);
        requestsByRoute.set(name, (requestsByRoute.get(name) ?? 0) + 1);
        const killSwitch = response.statusCode === 503 && (response.json() as { error?: { code?: string } }).error?.code === 'KILL_SWITCH';
        if (response.statusCode >= 500 && !killSwitch) throw new Error(`${method} ${route.url} answered ${response.statusCode} ${response.body.slice(0, 300)}`);
      }),
      { numRuns: RUNS_PER_ROUTE, endOnFailure: true },
    );
    await restore();
    expect(requestsByRoute.get(name)).toBeGreaterThanOrEqual(RUNS_PER_ROUTE);
  });
});
