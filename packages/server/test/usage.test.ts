import type { LightMyRequestResponse } from 'fastify';
import { sql } from 'kysely';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_RATE_LIMITS, type EndpointClass } from '../src/config.ts';
import type { Store } from '../src/db/create-db.ts';
import { admin, createOrganization, issueKey, withKey, type KeyFixture } from './factories.ts';
import { createTestStore, redisTestUrl, startTestApp, usingPostgres, type TestApp } from './harness.ts';

/** SPEC 8.7 and 8.8: usage, the request log and the partners' audit log, over two instances sharing one store. */

const START = Date.parse('2026-03-02T10:00:30.000Z');
let clock = START;
const now = () => clock;
const RATE_LIMITS = { ...DEFAULT_RATE_LIMITS, standard: { 'read-light': 12, 'write-light': 3, 'long-running': 2 } };

let store: Store & { close(): Promise<void> };
let a: TestApp;
let b: TestApp;
let busy: KeyFixture;
let restricted: KeyFixture;
let reader: KeyFixture;
let stranger: KeyFixture;

const flushBoth = async () => {
  await a.deps.recording!.flush();
  await b.deps.recording!.flush();
};

beforeAll(async () => {
  store = await createTestStore();
  // On PostgreSQL the instances share Redis buckets (one prefix), as a deployment does.
  const shared = usingPostgres ? { redisUrl: redisTestUrl } : {};
  const prefix = `gh_usage_${randomBytes(4).toString('hex')}:`;
  const start = () => startTestApp({ store, config: { rateLimits: RATE_LIMITS, ...shared }, deps: { now, rateLimitKeyPrefix: prefix, usageAutoFlush: false } });
  a = await start();
  b = await start();
  const owner = await createOrganization(a.app, { name: 'Owner', rateLimitTier: 'standard' });
  busy = await issueKey(a.app, owner.id, { name: 'busy' });
  restricted = await issueKey(a.app, owner.id, { name: 'restricted', scopes: ['projects:read'] });
  reader = await issueKey(a.app, owner.id, { name: 'reader', scopes: ['usage:read', 'audit:read'] });
  stranger = await issueKey(a.app, (await createOrganization(a.app, { name: 'Stranger', rateLimitTier: 'partner' })).id, { name: 'stranger' });
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await store?.close();
});

interface Observed {
  requests: number;
  status2xx: number;
  status4xx: number;
  status5xx: number;
  rateLimited: number;
}

/** What the instances answered, tallied per key and class from the answers themselves. */
class Tally {
  readonly byKeyClass = new Map<string, Observed>();
  readonly requestIds: string[] = [];
  add(apiKeyId: string | null, endpointClass: EndpointClass, response: LightMyRequestResponse): void {
    this.requestIds.push(String(response.headers['x-request-id']));
    if (!apiKeyId) return;
    const id = `${apiKeyId}|${endpointClass}`;
    const row = this.byKeyClass.get(id) ?? { requests: 0, status2xx: 0, status4xx: 0, status5xx: 0, rateLimited: 0 };
    const status = response.statusCode;
    row.requests++;
    if (status >= 200 && status < 300) row.status2xx++;
    else if (status >= 400 && status < 500) row.status4xx++;
    else if (status >= 500) row.status5xx++;
    if (status === 429) row.rateLimited++;
    this.byKeyClass.set(id, row);
  }
}

type UsageRow = Observed & { time: string; apiKeyId: string; endpointClass: string; creditsCharged: number };

function totals(rows: UsageRow[]): Map<string, Observed> {
  const out = new Map<string, Observed>();
  for (const row of rows) {
    const id = `${row.apiKeyId}|${row.endpointClass}`;
    const sum = out.get(id) ?? { requests: 0, status2xx: 0, status4xx: 0, status5xx: 0, rateLimited: 0 };
    sum.requests += row.requests;
    sum.status2xx += row.status2xx;
    sum.status4xx += row.status4xx;
    sum.status5xx += row.status5xx;
    sum.rateLimited += row.rateLimited;
    out.set(id, sum);
  }
  return out;
}

const usage = async (key: string, query: string) => {
  const response = await a.app.inject({ url: `/v1/usage?${query}`, headers: withKey(key) });
  expect(response.statusCode, response.body).toBe(200);
  return response.json().data as UsageRow[];
};

describe('usage across two instances', () => {
  const tally = new Tally();
  // A minute later for every test: the buckets of 12 per minute are full again.
  beforeEach(() => {
    clock += 60_000;
  });

  it('adds up exactly to what the instances answered: 2xx, 4xx and 429s, per key and class, at every granularity', async () => {
    const instances = [a, b];
    for (let i = 0; i < 40; i++) {
      const t = instances[i % 2]!;
      // 2xx until the bucket of 12 is empty (shared through Redis on PostgreSQL), then 429s.
      tally.add(busy.id, 'read-light', await t.app.inject({ url: '/v1/whoami', headers: withKey(busy.key) }));
      // 404 for a project that does not exist: a 4xx that is not a 429.
      if (i % 4 === 0) tally.add(restricted.id, 'read-light', await t.app.inject({ url: `/v1/projects/${randomUUID()}`, headers: withKey(restricted.key) }));
      // 403 FORBIDDEN_SCOPE, counted against the key that was refused.
      if (i % 5 === 0) tally.add(restricted.id, 'write-light', await t.app.inject({ method: 'POST', url: '/v1/projects', headers: withKey(restricted.key), payload: { name: 'x' } }));
      // Two minutes of traffic, so minute rows differ from hour rows.
      if (i === 30) clock += 60_000;
    }
    // An unknown key: logged, attributed to no key, counted nowhere.
    tally.add(null, 'read-light', await a.app.inject({ url: '/v1/whoami', headers: withKey('lp_live_unknownkeyid_notasecret') }));
    await flushBoth();

    const busyRow = tally.byKeyClass.get(`${busy.id}|read-light`)!;
    expect(busyRow.rateLimited).toBeGreaterThan(0);
    expect(busyRow.status2xx).toBeGreaterThan(0);
    const range = `from=${new Date(START - 3_600_000).toISOString()}&to=${new Date(clock + 60_000).toISOString()}`;
    for (const granularity of ['minute', 'hour', 'day']) {
      const rows = await usage(reader.key, `${range}&granularity=${granularity}`);
      expect(totals(rows), granularity).toEqual(tally.byKeyClass);
      // Oldest first, then by key and class: the store builds this JSON text in the page's order.
      const order = rows.map((row) => `${row.time}|${row.apiKeyId}|${row.endpointClass}`);
      expect(order, granularity).toEqual([...order].sort());
      if (granularity === 'minute') expect(new Set(rows.map((row) => row.time)).size).toBe(2);
      if (granularity === 'hour') expect(rows.every((row) => row.time === '2026-03-02T10:00:00.000Z')).toBe(true);
      if (granularity === 'day') expect(rows.every((row) => row.time === '2026-03-02T00:00:00.000Z')).toBe(true);
    }
    // Filters narrow, never widen.
    const onlyBusy = await usage(reader.key, `${range}&granularity=day&apiKeyId=${busy.id}&endpointClass=read-light`);
    expect(onlyBusy.map((row) => row.apiKeyId)).toEqual([busy.id]);
    expect(onlyBusy[0]!.requests).toBe(busyRow.requests);
  });

  it('never shows one organization another one’s usage, requests or audit entries', async () => {
    const range = `from=${new Date(START - 3_600_000).toISOString()}&to=${new Date(clock + 60_000).toISOString()}&granularity=minute`;
    expect(await usage(stranger.key, range)).toEqual([]);
    const page = await a.app.inject({ url: '/v1/requests?limit=100', headers: withKey(stranger.key) });
    expect(page.json().data.every((row: { apiKeyId: string }) => row.apiKeyId === stranger.id)).toBe(true);
    const foreign = await a.app.inject({ url: `/v1/requests/${tally.requestIds[0]}`, headers: withKey(stranger.key) });
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json().error.code).toBe('NOT_FOUND');
    const own = await a.app.inject({ url: `/v1/requests/${tally.requestIds[0]}`, headers: withKey(reader.key) });
    expect(own.statusCode).toBe(200);
    // Operators see any organization's usage, per organization or per key.
    const perOrganization = await admin(a.app, 'GET', `/admin/v1/usage?${range}`);
    expect(perOrganization.statusCode).toBe(200);
    const organizations = new Set(perOrganization.json().data.map((row: { organizationId: string }) => row.organizationId));
    expect(organizations).toEqual(new Set([busy.organizationId]));
    // Per key with organizationId: the partner's rows, each naming the organization.
    const perKey = await admin(a.app, 'GET', `/admin/v1/usage?${range}&organizationId=${busy.organizationId}`);
    expect(perKey.statusCode, perKey.body).toBe(200);
    const partnerRows = await usage(reader.key, range);
    expect(partnerRows.length).toBeGreaterThan(0);
    expect(perKey.json().data).toEqual(partnerRows.map((row) => ({ ...row, organizationId: busy.organizationId })));

    // The audit log: the owner's project is there for the owner, not for the stranger.
    const created = await a.app.inject({ method: 'POST', url: '/v1/projects', headers: withKey(busy.key), payload: { name: 'audited' } });
    clock += 60_000;
    expect(created.statusCode).toBe(201);
    const ownAudit = await a.app.inject({ url: '/v1/audit?action=project.create', headers: withKey(reader.key) });
    expect(ownAudit.json().data.map((entry: { targetId: string }) => entry.targetId)).toContain(created.json().id);
    const strangerAudit = await a.app.inject({ url: '/v1/audit?limit=100', headers: withKey(stranger.key) });
    expect(strangerAudit.json().data.every((entry: { organizationId: string }) => entry.organizationId === stranger.organizationId)).toBe(true);
  });

  it('logs every /v1 answer, the 401 of an unknown key and an unknown route included, and pages newest first', async () => {
    await flushBoth();
    const logged = await sql<{ request_id: string }>`select request_id from request_log`.execute(store.db);
    const ids = new Set(logged.rows.map((row) => row.request_id));
    for (const requestId of tally.requestIds) expect(ids.has(requestId), requestId).toBe(true);

    const unknown = await admin(a.app, 'GET', `/admin/v1/requests/${tally.requestIds.at(-1)}`);
    expect(unknown.json()).toMatchObject({ apiKeyId: null, organizationId: null, status: 401, errorCode: 'UNAUTHENTICATED', route: '/v1/whoami' });
    const noRoute = await b.app.inject({ url: '/v1/no-such-route', headers: withKey(busy.key) });
    await flushBoth();
    const noRouteRow = await admin(a.app, 'GET', `/admin/v1/requests/${noRoute.headers['x-request-id']}`);
    expect(noRouteRow.json()).toMatchObject({ status: 404, route: null, apiKeyId: null, errorCode: 'NOT_FOUND' });

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: LightMyRequestResponse = await a.app.inject({ url: `/v1/requests?limit=7&apiKeyId=${busy.id}${cursor ? `&cursor=${cursor}` : ''}`, headers: withKey(reader.key) });
      expect(page.statusCode, page.body).toBe(200);
      seen.push(...page.json().data.map((row: { time: string }) => row.time));
      cursor = page.json().nextCursor;
    } while (cursor);
    const whoamis = tally.byKeyClass.get(`${busy.id}|read-light`)!.requests;
    expect(seen.length).toBe(whoamis + 1); // and the project it created
    expect([...seen].sort().reverse()).toEqual(seen);
    const limited = await a.app.inject({ url: `/v1/requests?status=429&errorCode=RATE_LIMITED`, headers: withKey(reader.key) });
    expect(limited.json().data.length).toBe(Math.min(20, tally.byKeyClass.get(`${busy.id}|read-light`)!.rateLimited));
  });

  it('keeps no secret, query string or body in any row (canary)', async () => {
    const canary = `canary${randomBytes(8).toString('hex')}`;
    await a.app.inject({ url: `/v1/whoami?token=${canary}`, headers: withKey(busy.key) });
    await a.app.inject({ url: `/v1/projects?x=${canary}`, headers: withKey(`lp_live_${canary}`) });
    await b.app.inject({ method: 'POST', url: `/v1/projects?q=${canary}`, headers: withKey(busy.key), payload: { name: canary } });
    await b.app.inject({ method: 'POST', url: '/v1/explain', headers: withKey(busy.key), payload: { method: 'GET', path: `/v1/whoami?${canary}` } });
    await flushBoth();
    const rows = await sql<{ row: string }>`select r::text as row from request_log r union all select u::text from usage_counts u`.execute(store.db);
    const text = rows.rows.map((row) => row.row).join('\n');
    expect(text).toContain('/v1/whoami');
    expect(text).not.toContain(canary);
    expect(text).not.toContain(busy.key.slice(-20));
    expect(text).not.toContain('?');
  });

  it('refuses a bad range, granularity or class with 422 naming the field', async () => {
    const issues = async (query: string) => {
      const response = await a.app.inject({ url: `/v1/usage?${query}`, headers: withKey(reader.key) });
      expect(response.statusCode, query).toBe(422);
      expect(response.json().error.code).toBe('VALIDATION_FAILED');
      return response.json().error.details.issues.map((issue: { path: string }) => issue.path);
    };
    expect(await issues('from=2026-03-02T10:00:00Z&to=2026-03-01T10:00:00Z')).toEqual(['query.from']);
    expect(await issues('from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:01Z')).toEqual(['query.from']);
    expect(await issues('granularity=week')).toEqual(['query.granularity']);
    expect(await issues('endpointClass=heavy')).toEqual(['query.endpointClass']);
    expect(await issues('from=yesterday')).toEqual(['query.from']);
    // Exactly 31 days is allowed.
    expect((await a.app.inject({ url: '/v1/usage?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z&granularity=day', headers: withKey(reader.key) })).statusCode).toBe(200);
    const page = await a.app.inject({ url: '/v1/requests?cursor=bm90LWEtY3Vyc29y', headers: withKey(reader.key) });
    expect(page.statusCode).toBe(400);
  });
});

describe('credits', () => {
  it('counts the credits a job’s start charges against the key that queued it, in the long-running class', async () => {
    clock += 60_000;
    const payer = await issueKey(a.app, busy.organizationId, { name: 'payer' });
    const project = await a.app.inject({ method: 'POST', url: '/v1/projects', headers: withKey(payer.key), payload: { name: 'billed' } });
    const accepted = await a.app.inject({
      method: 'POST',
      url: `/v1/projects/${project.json().id}/ingest/appstore`,
      headers: withKey(payer.key),
      payload: { iosBundleId: 'com.example.billed' },
    });
    expect(accepted.statusCode, accepted.body).toBe(202);
    // Either instance's runner may start it; the charge is made when it starts.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const job = await b.app.inject({ url: `/v1/jobs/${accepted.json().jobId}`, headers: withKey(payer.key) });
      if (job.json().creditsCharged > 0) break;
      if (Date.now() > deadline) throw new Error(`job not started: ${job.body}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await flushBoth();
    const range = `from=${new Date(START).toISOString()}&to=${new Date(clock + 120_000).toISOString()}&granularity=day&apiKeyId=${payer.id}&endpointClass=long-running`;
    const rows = await usage(reader.key, range);
    expect(rows.map((row) => [row.requests, row.status2xx, row.creditsCharged])).toEqual([[1, 1, 10]]);
  });
});

describe('explain', () => {
  it('runs every check for the calling key without using a rate-limit token, and says what the answer would be', async () => {
    const key = await issueKey(a.app, busy.organizationId, { name: 'explained' });
    const explainFor = async (fixture: KeyFixture, method: string, path: string) => {
      // The instance the writes go to: with PGlite each instance has buckets of its own.
      const response = await a.app.inject({ method: 'POST', url: '/v1/explain', headers: withKey(fixture.key), payload: { method, path } });
      expect(response.statusCode, response.body).toBe(200);
      return response.json();
    };
    for (let i = 0; i < 5; i++) {
      const explanation = await explainFor(key, 'POST', '/v1/projects');
      expect(explanation).toMatchObject({ route: '/v1/projects', endpointClass: 'write-light', requiredScope: 'projects:write', wouldAnswer: { status: 201, code: null } });
      expect(explanation.checks.map((check: { check: string }) => check.check)).toEqual([
        'route', 'key', 'revoked', 'expired', 'global_kill_switch', 'key_kill_switch', 'organization_access', 'client_address', 'plan', 'api_access', 'scope', 'rate_limit',
      ]);
      expect(explanation.checks.every((check: { outcome: string }) => check.outcome === 'pass')).toBe(true);
      expect(explanation.checks.at(-1).detail).toContain('3 of 3');
    }
    // Explaining used none of the 3 write-light tokens: all three real writes pass, then the explanation turns.
    for (let i = 0; i < 3; i++) {
      expect((await a.app.inject({ method: 'POST', url: '/v1/projects', headers: withKey(key.key), payload: { name: `p${i}` } })).statusCode).toBe(201);
    }
    const limited = await explainFor(key, 'POST', '/v1/projects');
    expect(limited.wouldAnswer).toEqual({ status: 429, code: 'RATE_LIMITED' });
    expect(limited.checks.at(-1).outcome).toBe('fail');

    const scoped = await explainFor(restricted, 'DELETE', `/v1/api-keys/${randomUUID()}?x=1`);
    expect(scoped.route).toBe('/v1/api-keys/:id');
    expect(scoped.wouldAnswer).toEqual({ status: 403, code: 'FORBIDDEN_SCOPE' });
    expect(scoped.checks.find((check: { check: string }) => check.check === 'scope').outcome).toBe('fail');
    expect(scoped.checks.find((check: { check: string }) => check.check === 'rate_limit').outcome).toBe('skipped');

    const unknown = await explainFor(key, 'GET', '/v1/nothing-here');
    expect(unknown.wouldAnswer).toEqual({ status: 404, code: 'NOT_FOUND' });
    expect(unknown.route).toBeNull();

    const byOperator = await admin(a.app, 'POST', '/admin/v1/explain', { apiKeyId: restricted.id, method: 'GET', path: '/v1/projects' });
    expect(byOperator.statusCode).toBe(200);
    expect(byOperator.json().wouldAnswer).toEqual({ status: 200, code: null });
    expect((await admin(a.app, 'POST', '/admin/v1/explain', { apiKeyId: randomUUID(), method: 'GET', path: '/v1/projects' })).statusCode).toBe(404);
    expect((await admin(a.app, 'POST', '/admin/v1/explain', { apiKeyId: restricted.id, method: 'BREW', path: '/v1/projects' })).statusCode).toBe(422);
  });

  it('answers a killed key 503 like every route but whoami (SPEC 3), while an operator still gets the explanation', async () => {
    const killed = await issueKey(a.app, busy.organizationId, { name: 'killed' });
    expect((await admin(a.app, 'POST', `/admin/v1/keys/${killed.id}/kill`)).statusCode).toBe(200);
    const refused = await a.app.inject({ method: 'POST', url: '/v1/explain', headers: withKey(killed.key), payload: { method: 'GET', path: '/v1/projects' } });
    expect(refused.statusCode, refused.body).toBe(503);
    expect(refused.json().error.code).toBe('KILL_SWITCH');
    expect((await a.app.inject({ url: '/v1/whoami', headers: withKey(killed.key) })).json().killSwitch).toBe(true);

    const byOperator = await admin(a.app, 'POST', '/admin/v1/explain', { apiKeyId: killed.id, method: 'GET', path: '/v1/projects' });
    expect(byOperator.statusCode).toBe(200);
    expect(byOperator.json().wouldAnswer).toEqual({ status: 503, code: 'KILL_SWITCH' });
    expect(byOperator.json().checks.find((check: { check: string }) => check.check === 'key_kill_switch').outcome).toBe('fail');
  });
});

describe('retention and roll-ups, on the injected clock', () => {
  let t: TestApp;
  let time = Date.parse('2026-05-10T23:58:10.000Z');
  beforeAll(async () => {
    t = await startTestApp({ config: { requestLogDays: 3 }, deps: { now: () => time, usageAutoFlush: false } });
  });
  afterAll(async () => t?.close());

  const count = async (granularity: string) =>
    Number((await sql<{ n: number }>`select coalesce(sum(requests), 0)::int as n from usage_counts where granularity = ${granularity}`.execute(t.deps.store.db)).rows[0]!.n);
  const logged = async () => Number((await sql<{ n: number }>`select count(*)::int as n from request_log`.execute(t.deps.store.db)).rows[0]!.n);

  it('rolls minutes into hours and days, and sweeps each after its retention', async () => {
    const { id } = await createOrganization(t.app, { name: 'Clocked' });
    const key = await issueKey(t.app, id);
    // Three minutes across midnight: two days, two hours, three minutes.
    for (const step of [0, 60_000, 60_000]) {
      time += step;
      for (let i = 0; i < 4; i++) await t.app.inject({ url: '/v1/whoami', headers: withKey(key.key) });
    }
    await t.deps.recording!.flush();
    expect(await count('minute')).toBe(12);
    expect(await count('hour')).toBe(12);
    expect(await count('day')).toBe(12);
    const days = await t.app.inject({ url: `/v1/usage?granularity=day&from=2026-05-09T00:00:00Z&to=2026-05-12T00:00:00Z`, headers: withKey(key.key) });
    expect(days.json().data.map((row: { time: string; requests: number }) => [row.time, row.requests])).toEqual([
      ['2026-05-10T00:00:00.000Z', 8],
      ['2026-05-11T00:00:00.000Z', 4],
    ]);
    expect(await logged()).toBe(12);
    // The sweep walks the log an organization and env at a time: the last request's second also holds a row of the
    // organization's test env and one of no organization (an answer to a key that does not exist).
    const DAY = 86_400_000;
    const firstMinute = Date.parse('2026-05-10T23:58:00.000Z');
    const lastMinute = Date.parse('2026-05-11T00:00:00.000Z');
    const lastRequest = Date.parse('2026-05-11T00:00:10.000Z');
    const lastRequestAt = new Date(lastRequest);
    await sql`
      INSERT INTO request_log (request_id, occurred_at, organization_id, api_key_id, env, method, route, status, error_code, endpoint_class, duration_ms, client_address)
      VALUES ('req_clocked_test_env', ${lastRequestAt}, ${id}, NULL, 'test', 'GET', '/v1/whoami', 200, NULL, 'read-light', 1, '127.0.0.1'),
             ('req_clocked_no_key', ${lastRequestAt}, NULL, NULL, 'live', 'GET', '/v1/whoami', 401, 'UNAUTHENTICATED', NULL, 1, '127.0.0.1')
    `.execute(t.deps.store.db);

    const sweepAt = async (at: number) => {
      time = at;
      await t.deps.recording!.sweep();
    };
    await sweepAt(firstMinute + 2 * DAY - 1_000); // minutes are kept 2 days
    expect(await count('minute')).toBe(12);
    await sweepAt(lastMinute + 2 * DAY + 1_000);
    expect([await count('minute'), await count('hour'), await count('day')]).toEqual([0, 12, 12]);
    expect(await logged()).toBe(14);
    await sweepAt(lastRequest + 3 * DAY - 1_000); // GATEHOUSE_REQUEST_LOG_DAYS=3
    expect(await logged()).toBe(6);
    await sweepAt(lastRequest + 3 * DAY + 1_000);
    expect(await logged()).toBe(0);
    await sweepAt(lastMinute + 90 * DAY + 1_000); // hours 90 days
    expect([await count('hour'), await count('day')]).toEqual([0, 12]);
    await sweepAt(lastMinute + 730 * DAY + 1_000); // days 2 years
    expect(await count('day')).toBe(0);
  });

  it('sweeps the request log in batches across organizations and rows of no organization, keeping what is young', async () => {
    const organizations = [(await createOrganization(t.app, { name: 'Swept A' })).id, (await createOrganization(t.app, { name: 'Swept B' })).id];
    const DAY = 86_400_000;
    // GATEHOUSE_REQUEST_LOG_DAYS=3: 4 days old goes, 1 day old stays. Together more than one batch (10,000) of each kind.
    const rows = async (organizationId: string | null, env: string, count: number, ageMs: number, tag: string) =>
      sql`
        INSERT INTO request_log (request_id, occurred_at, organization_id, api_key_id, env, method, route, status, endpoint_class, duration_ms)
        SELECT ${`req_swept_${tag}_`} || i, to_timestamp((${time - ageMs}::float8 - i) / 1000), ${organizationId}::uuid, NULL, ${env}, 'GET', '/v1/whoami', 200, 'read-light', 1
        FROM generate_series(1, ${count}::int) AS i
      `.execute(t.deps.store.db);
    await rows(organizations[0]!, 'live', 15_000, 4 * DAY, 'a_old');
    await rows(organizations[0]!, 'test', 300, 4 * DAY, 'a_test_old');
    await rows(organizations[0]!, 'live', 10, DAY, 'a_young');
    await rows(organizations[1]!, 'live', 6_000, 4 * DAY, 'b_old');
    await rows(organizations[1]!, 'test', 10, DAY, 'b_young');
    await rows(null, 'live', 12_000, 4 * DAY, 'none_old');
    await rows(null, 'test', 5, DAY, 'none_young');
    expect(await logged()).toBe(33_325);
    expect(await t.deps.recording!.sweep()).toBe(33_300);
    const left = await sql<{ tag: string; n: number }>`
      SELECT split_part(request_id, '_', 3) || '_' || split_part(request_id, '_', 4) AS tag, count(*)::int AS n FROM request_log GROUP BY 1 ORDER BY 1
    `.execute(t.deps.store.db);
    expect(left.rows).toEqual([
      { tag: 'a_young', n: 10 },
      { tag: 'b_young', n: 10 },
      { tag: 'none_young', n: 5 },
    ]);
  });
});
