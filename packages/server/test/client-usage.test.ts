import { CompiledQuery, sql } from 'kysely';
import { get, type IncomingMessage } from 'node:http';
import { json } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminUsageRow, GatehouseAdmin, UsageRow } from '../src/cli/client.ts';
import { listRequestsQuery } from '../src/usage/repository.ts';
import { adminClient, partnerClient, partnerWithKey, rejection, startListeningApp, type ListeningApp } from './client-support.ts';
import { usingPostgres } from './harness.ts';

/** gh.usage, gh.requests, gh.audit, gh.explain and their admin side, over HTTP against the real server. */

const USAGE_ROW = {
  time: true,
  env: true,
  apiKeyId: true,
  endpointClass: true,
  requests: true,
  status2xx: true,
  status4xx: true,
  status5xx: true,
  rateLimited: true,
  creditsCharged: true,
} satisfies Record<keyof UsageRow, true>;
const ADMIN_USAGE_ROW = { ...USAGE_ROW, organizationId: true } satisfies Record<keyof AdminUsageRow, true>;

let t: ListeningApp;
let admin: GatehouseAdmin;
beforeAll(async () => {
  // Written when the test flushes, so the rows hold exactly the calls made before it.
  t = await startListeningApp({ deps: { usageAutoFlush: false } });
  admin = adminClient(t.baseUrl);
});
afterAll(async () => t.close());

describe('the usage, request-log, audit and explain clients', () => {
  it('read what the key did, by the request id a call answered with', async () => {
    const { organization, key } = await partnerWithKey(admin);
    const gh = partnerClient(t.baseUrl, key.key);
    await gh.whoami();
    const project = await gh.projects.create({ name: 'counted' });
    const failure = await rejection(gh.projects.get('00000000-0000-4000-8000-000000000000'));
    expect(failure.status).toBe(404);
    await t.deps.recording!.flush();

    const rows = await gh.usage.get({ granularity: 'day' });
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(Object.keys(row).sort()).toEqual(Object.keys(USAGE_ROW).sort());
    const byClass = Object.fromEntries(rows.map((row) => [row.endpointClass, row]));
    expect(byClass['read-light']).toMatchObject({ apiKeyId: key.id, requests: 2, status2xx: 1, status4xx: 1 });
    expect(byClass['write-light']).toMatchObject({ requests: 1, status2xx: 1 });

    const logged = await gh.requests.get(failure.requestId!);
    expect(logged).toMatchObject({ route: '/v1/projects/:id', status: 404, errorCode: 'NOT_FOUND', apiKeyId: key.id });
    const listed = await gh.requests.list({ limit: 2 }).toArray();
    expect(listed.map((entry) => entry.requestId)).toContain(failure.requestId);
    expect(listed.length).toBe(3);

    const audit = await gh.audit.list({ action: 'project.create' }).toArray();
    expect(audit.map((entry) => entry.targetId)).toEqual([project.id]);

    const explanation = await gh.explain({ method: 'GET', path: `/v1/projects/${project.id}` });
    expect(explanation.wouldAnswer).toEqual({ status: 200, code: null });

    const support = await admin.requests.get(failure.requestId!);
    expect(support.organizationId).toBe(organization.id);
    const adminRows = await admin.usage.get({ organizationId: organization.id, granularity: 'hour' });
    for (const row of adminRows) expect(Object.keys(row).sort()).toEqual(Object.keys(ADMIN_USAGE_ROW).sort());
    expect(adminRows.reduce((sum, row) => sum + row.requests, 0)).toBe(3);
    const byOperator = await admin.explain({ apiKeyId: key.id, method: 'DELETE', path: '/v1/nowhere' });
    expect(byOperator.wouldAnswer.status).toBe(404);

    const invalid = await rejection(gh.usage.get({ from: '2026-01-01T00:00:00Z', to: '2026-03-01T00:00:00Z' }));
    expect(invalid.code).toBe('VALIDATION_FAILED');
    expect(invalid.details).toEqual({ issues: [{ path: 'query.from', message: 'must be at most 31 days before to' }] });
  });
});

const DAY_MS = 86_400_000;

/** Day rows for `keys` made-up key ids over `days` days from `firstDay`: `requests` is 1000 + the day's index. */
async function seedDayRows(organizationId: string, keys: number, days: number, firstDay: number): Promise<void> {
  await sql`
    INSERT INTO usage_counts (organization_id, granularity, bucket, env, api_key_id, endpoint_class, requests, status_2xx, status_4xx, status_5xx, rate_limited, credits_charged)
    SELECT ${organizationId}::uuid, 'day', to_timestamp((${firstDay}::float8 + d * ${DAY_MS}::float8) / 1000), 'live', k.id, 'read-light', 1000 + d, 990, 8, 1, 1, 0
    FROM generate_series(0, ${days - 1}::int) AS d, (SELECT gen_random_uuid() AS id FROM generate_series(1, ${keys}::int)) AS k
  `.execute(t.deps.store.db);
}

/** A GET whose client closes its socket as soon as the first bytes of the body arrive; the answer's status. */
function firstBytesThenHangUp(url: string, headers: Record<string, string>): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const request = get(url, { headers }, (response) => {
      response.once('data', () => {
        request.destroy();
        resolve(response.statusCode);
      });
    });
    request.on('error', (error) => (request.destroyed ? undefined : reject(error)));
  });
}

describe('large usage answers', () => {
  const firstDay = Date.parse('2026-01-05T00:00:00.000Z');
  const range = (days: number) => ({ granularity: 'day' as const, from: new Date(firstDay).toISOString(), to: new Date(firstDay + days * DAY_MS).toISOString() });
  const query = (days: number) => new URLSearchParams(range(days)).toString();

  it('arrive whole and in order when the server streams them in chunks, on the partner and the operator side', async () => {
    const { organization, key } = await partnerWithKey(admin);
    // 256 keys: one day is a single chunk's worth, three days are three chunks.
    await seedDayRows(organization.id, 256, 3, firstDay);
    const gh = partnerClient(t.baseUrl, key.key);

    const oneDay = await fetch(`${t.baseUrl}/v1/usage?${query(1)}`, { headers: { 'x-api-key': key.key } });
    expect(oneDay.headers.get('content-length')).not.toBeNull();
    expect(((await oneDay.json()) as { data: unknown[] }).data).toHaveLength(256);

    const threeDays = await fetch(`${t.baseUrl}/v1/usage?${query(3)}`, { headers: { 'x-api-key': key.key } });
    expect(threeDays.status).toBe(200);
    expect(threeDays.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(threeDays.headers.get('transfer-encoding')).toBe('chunked');
    const streamed = ((await threeDays.json()) as { data: UsageRow[] }).data;
    expect(streamed).toHaveLength(768);
    const order = streamed.map((row) => `${row.time}|${row.apiKeyId}`);
    expect(order).toEqual([...order].sort());
    expect(new Set(order).size).toBe(768);
    for (const [day, time] of [0, 1, 2].map((d) => [d, new Date(firstDay + d * DAY_MS).toISOString()] as const)) {
      const rows = streamed.filter((row) => row.time === time);
      expect(rows).toHaveLength(256);
      expect(rows.every((row) => row.requests === 1000 + day && row.status2xx === 990 && row.rateLimited === 1)).toBe(true);
    }

    expect(await gh.usage.get(range(3))).toEqual(streamed);
    const operator = await admin.usage.get({ ...range(3), organizationId: organization.id });
    expect(operator.map(({ organizationId, ...row }) => [organizationId, row])).toEqual(streamed.map((row) => [organization.id, row]));
  });

  it('keep every character of a row through the stream: quotes, backslashes, control characters, other scripts', async () => {
    const { organization, key } = await partnerWithKey(admin);
    // Endpoint classes are the store's free text: written through to_json, then sent as PostgreSQL sends it.
    const awkward: string = 'a"b\\c\td\ne\u0001 é 漢 😀';
    await seedDayRows(organization.id, 300, 1, firstDay);
    await sql`UPDATE usage_counts SET endpoint_class = ${awkward} WHERE organization_id = ${organization.id}::uuid`.execute(t.deps.store.db);
    const response = await fetch(`${t.baseUrl}/v1/usage?${query(1)}`, { headers: { 'x-api-key': key.key } });
    expect(response.status).toBe(200);
    const rows = ((await response.json()) as { data: UsageRow[] }).data;
    expect(rows).toHaveLength(300);
    expect(rows.every((row) => row.endpointClass === awkward && row.requests === 1000)).toBe(true);
  });

  it('refuses an answer of more than 50,000 rows with 422 naming the granularity', async () => {
    const { organization, key } = await partnerWithKey(admin);
    await seedDayRows(organization.id, 25_001, 2, firstDay);
    const refused = await rejection(partnerClient(t.baseUrl, key.key).usage.get(range(2)));
    expect(refused.status).toBe(422);
    expect(refused.details).toMatchObject({ issues: [{ path: 'query.granularity' }] });
    expect(await partnerClient(t.baseUrl, key.key).usage.get(range(1))).toHaveLength(25_001);
  });

  it('give their store connection back when the range is refused or the client goes away mid-answer', async () => {
    const { organization, key } = await partnerWithKey(admin);
    await seedDayRows(organization.id, 25_001, 2, firstDay);
    const headers = { 'x-api-key': key.key };
    // More than the pool's ten connections, each way: a read that kept its connection would leave the next waiting.
    for (let round = 0; round < 12; round++) {
      const refused = await fetch(`${t.baseUrl}/v1/usage?${query(2)}`, { headers });
      expect(refused.status).toBe(422);
      await refused.arrayBuffer();
      expect(await firstBytesThenHangUp(`${t.baseUrl}/v1/usage?${query(1)}`, headers)).toBe(200);
    }
    const pool = t.deps.store.pgPool;
    if (pool) await expect.poll(() => pool.totalCount - pool.idleCount, { timeout: 10_000 }).toBe(0);
    const whole = await fetch(`${t.baseUrl}/v1/usage?${query(1)}`, { headers, signal: AbortSignal.timeout(10_000) });
    expect(((await whole.json()) as { data: unknown[] }).data).toHaveLength(25_001);
  });

  // The embedded store reads the rows whole before the answer begins: it has no pool to hold.
  it.runIf(usingPostgres)('hold no store connection while the client takes its time: PostgreSQL sends the rows at its own pace', async () => {
    const pool = t.deps.store.pgPool;
    if (!pool) throw new Error('the PostgreSQL store has a pool');
    const { organization, key } = await partnerWithKey(admin);
    // Some 9 MB: more than the sockets between PostgreSQL, the server and this client hold.
    await seedDayRows(organization.id, 20_000, 2, firstDay);
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      get(`${t.baseUrl}/v1/usage?${query(2)}`, { headers: { 'x-api-key': key.key } }, (answer) => {
        answer.pause();
        resolve(answer);
      }).on('error', reject);
    });
    // The client has read nothing past the headers, and the read's connection is back in the pool already.
    await expect.poll(() => pool.totalCount - pool.idleCount, { timeout: 10_000 }).toBe(0);
    expect(((await json(response)) as { data: unknown[] }).data).toHaveLength(40_000);
  });
});

describe("one key's errors in the request log", () => {
  it('are read off request_log_key_errors, newest first, however sparse the key is in its organization', async () => {
    const { organization, key } = await partnerWithKey(admin);
    const now = Date.now();
    // 20,000 rows of the organization over the last day; one in a hundred is the key's, one in five of those a 429, and one in fifty of the others.
    await sql`
      INSERT INTO request_log (request_id, occurred_at, organization_id, env, api_key_id, method, route, status, error_code, endpoint_class, duration_ms, client_address)
      SELECT 'req_keyerrors' || substr(${organization.id}, 1, 8) || lpad(i::text, 6, '0'), to_timestamp((${now}::float8 - i * 4000) / 1000), ${organization.id}::uuid, 'live',
        CASE WHEN i % 100 = 0 THEN ${key.id}::uuid ELSE gen_random_uuid() END, 'GET', '/v1/whoami',
        CASE WHEN i % 500 = 0 OR i % 50 = 25 THEN 429 ELSE 200 END, CASE WHEN i % 500 = 0 OR i % 50 = 25 THEN 'RATE_LIMITED' END, 'read-light', 1.5, '127.0.0.1'
      FROM generate_series(1, 20000) AS i
    `.execute(t.deps.store.db);
    await sql`ANALYZE request_log`.execute(t.deps.store.db);

    const gh = partnerClient(t.baseUrl, key.key);
    const errors = await gh.requests.list({ apiKeyId: key.id, status: 429, limit: 25 }).toArray();
    const expected = Array.from({ length: 40 }, (_, n) => `req_keyerrors${organization.id.slice(0, 8)}${String(500 * (n + 1)).padStart(6, '0')}`);
    expect(errors.map((entry) => entry.requestId)).toEqual(expected);
    expect(errors.every((entry) => entry.apiKeyId === key.id && entry.status === 429)).toBe(true);

    const statement = listRequestsQuery(t.deps.store.db, { organizationId: organization.id, env: 'live' }, { apiKeyId: key.id, status: 429 }, 26).compile();
    const plan = await t.deps.store.db.executeQuery<{ 'QUERY PLAN': string }>(CompiledQuery.raw(`EXPLAIN ${statement.sql}`, [...statement.parameters]));
    expect(plan.rows.map((row) => row['QUERY PLAN']).join('\n')).toContain('request_log_key_errors');
  });
});
