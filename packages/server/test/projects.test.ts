import type { LightMyRequestResponse } from 'fastify';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, createOrganization, issueKey, withKey, type KeyFixture } from './factories.ts';
import { startTestApp, type TestApp } from './harness.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.close());

async function partner(): Promise<KeyFixture> {
  const organization = await createOrganization(t.app, { rateLimitTier: 'partner' });
  return issueKey(t.app, organization.id);
}

type Method = 'GET' | 'POST' | 'PATCH';
const call = (key: KeyFixture, method: Method, url: string, payload?: unknown): Promise<LightMyRequestResponse> =>
  t.app.inject({ method, url, headers: withKey(key.key), ...(payload === undefined ? {} : { payload: payload as object }) });

async function createProject(key: KeyFixture, body: Record<string, unknown> = { name: 'Acme' }) {
  const response = await call(key, 'POST', '/v1/projects', body);
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

async function rowCounts(organizationId: string) {
  const count = async (table: 'projects' | 'influencers') =>
    Number(
      (
        await t.deps.store.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('organization_id', '=', organizationId)
          .executeTakeFirstOrThrow()
      ).n,
    );
  return { projects: await count('projects'), influencers: await count('influencers') };
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('POST /v1/projects', () => {
  it('creates a project with the SPEC 8.1 shape and defaults', async () => {
    const key = await partner();
    const response = await call(key, 'POST', '/v1/projects', { name: 'Acme' });
    expect(response.statusCode).toBe(201);
    const project = response.json();
    expect(project).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      organizationId: key.organizationId,
      env: 'live',
      name: 'Acme',
      customerExternalId: null,
      timezone: 'UTC',
      primaryLanguage: 'en',
      status: 'active',
      createdAt: expect.stringMatching(ISO),
      updatedAt: project.createdAt,
    });
  });

  it('stores a new project with updated_at equal to created_at, however the clock falls between them', async () => {
    // Each time column had a clock reading of its own; made by the thousand, some rows straddled a millisecond.
    const key = await partner();
    const made = await sql<{ straddling: string }>`
      WITH made AS (
        INSERT INTO projects (organization_id, name) SELECT ${key.organizationId}, 'p' || n FROM generate_series(1, 5000) AS n RETURNING created_at, updated_at
      )
      SELECT count(*) FILTER (WHERE updated_at <> created_at) AS straddling FROM made`.execute(t.deps.store.db);
    expect(Number(made.rows[0]!.straddling)).toBe(0);
  });

  it('keeps time zones and language tags in their canonical spelling', async () => {
    const key = await partner();
    const cases: Array<[string, string, string, string]> = [
      ['europe/paris', 'EN-us', 'Europe/Paris', 'en-US'],
      ['America/Argentina/Buenos_Aires', 'zh-hant-tw', 'America/Argentina/Buenos_Aires', 'zh-Hant-TW'],
      ['Etc/GMT+5', 'pt-BR', 'Etc/GMT+5', 'pt-BR'],
      ['UTC', 'de-CH-1996', 'UTC', 'de-CH-1996'],
    ];
    for (const [timezone, primaryLanguage, expectedZone, expectedTag] of cases) {
      const project = await createProject(key, { name: 'Locale', timezone, primaryLanguage });
      expect([project.timezone, project.primaryLanguage]).toEqual([expectedZone, expectedTag]);
    }
  });

  it('refuses a time zone that is not IANA and a tag that is not BCP-47, naming the field', async () => {
    const key = await partner();
    for (const [field, value] of [
      ['timezone', 'Mars/Olympus'],
      ['timezone', '+01:00'],
      ['timezone', 'GMT+1 hour'],
      ['primaryLanguage', 'en_US'],
      ['primaryLanguage', 'english!'],
      ['primaryLanguage', 'x'],
    ] as const) {
      const response = await call(key, 'POST', '/v1/projects', { name: 'Bad', [field]: value });
      expect(response.statusCode, `${field}=${value}`).toBe(422);
      expect(response.json().error.code).toBe('VALIDATION_FAILED');
      expect(response.json().error.details.issues).toEqual([{ path: `body.${field}`, message: expect.any(String) }]);
    }
    expect((await rowCounts(key.organizationId)).projects).toBe(0);
  });

  it('answers 200 with the existing project for a known customerExternalId and creates nothing', async () => {
    const key = await partner();
    const first = await createProject(key, { name: 'Customer', customerExternalId: 'cust-42', timezone: 'Asia/Tokyo' });
    const again = await call(key, 'POST', '/v1/projects', { name: 'Another name', customerExternalId: 'cust-42' });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(first);
    expect((await rowCounts(key.organizationId)).projects).toBe(1);
    // Another organization's customer with the same external id is its own.
    const stranger = await partner();
    const theirs = await call(stranger, 'POST', '/v1/projects', { name: 'Customer', customerExternalId: 'cust-42' });
    expect(theirs.statusCode).toBe(201);
    expect(theirs.json().id).not.toBe(first.id);
  });

  it('creates one row when 20 requests race with the same customerExternalId', async () => {
    const key = await partner();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => call(key, 'POST', '/v1/projects', { name: `Racer ${i}`, customerExternalId: 'race' })),
    );
    expect(answers.filter((a) => a.statusCode === 201)).toHaveLength(1);
    expect(answers.filter((a) => a.statusCode === 200)).toHaveLength(19);
    expect(new Set(answers.map((a) => a.json().id)).size).toBe(1);
    expect((await rowCounts(key.organizationId)).projects).toBe(1);
  });
});

describe('GET /v1/projects/:id and isolation', () => {
  it('reads the organization’s project; another organization’s answers exactly like a missing one', async () => {
    const owner = await partner();
    const stranger = await partner();
    const project = await createProject(owner);
    const read = await call(owner, 'GET', `/v1/projects/${project.id}`);
    expect(read.statusCode).toBe(200);
    expect(read.json()).toEqual(project);
    // An upper-case spelling of the id is the same id.
    expect((await call(owner, 'GET', `/v1/projects/${project.id.toUpperCase()}`)).json().id).toBe(project.id);

    const foreign = await call(stranger, 'GET', `/v1/projects/${project.id}`);
    const missing = await call(stranger, 'GET', `/v1/projects/${randomUUID()}`);
    expect(foreign.statusCode).toBe(404);
    expect(missing.statusCode).toBe(404);
    const strip = (response: LightMyRequestResponse) => ({ ...response.json().error, requestId: undefined });
    expect(strip(foreign)).toEqual(strip(missing));
    expect((await call(stranger, 'GET', '/v1/projects')).json().data).toEqual([]);
  });

  it('changes nothing of another organization’s project through PATCH, archive or influencers', async () => {
    const owner = await partner();
    const stranger = await partner();
    const project = await createProject(owner);
    expect((await call(stranger, 'PATCH', `/v1/projects/${project.id}`, { name: 'Hijacked' })).statusCode).toBe(404);
    expect((await call(stranger, 'POST', `/v1/projects/${project.id}/archive`)).statusCode).toBe(404);
    expect((await call(stranger, 'POST', `/v1/projects/${project.id}/influencers`, { name: 'Intruder' })).statusCode).toBe(404);
    expect((await call(owner, 'GET', `/v1/projects/${project.id}`)).json()).toEqual(project);
    expect(await rowCounts(owner.organizationId)).toEqual({ projects: 1, influencers: 0 });
    expect(await rowCounts(stranger.organizationId)).toEqual({ projects: 0, influencers: 0 });
  });
});

describe('PATCH /v1/projects/:id', () => {
  it('changes only the fields sent', async () => {
    const key = await partner();
    const project = await createProject(key, { name: 'Before', customerExternalId: 'c-1', timezone: 'Europe/Paris', primaryLanguage: 'fr' });
    const renamed = await call(key, 'PATCH', `/v1/projects/${project.id}`, { name: 'After' });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.json()).toEqual({ ...project, name: 'After', updatedAt: expect.stringMatching(ISO) });
    expect(Date.parse(renamed.json().updatedAt)).toBeGreaterThanOrEqual(Date.parse(project.updatedAt));

    const relocated = await call(key, 'PATCH', `/v1/projects/${project.id}`, { timezone: 'america/new_york', primaryLanguage: 'EN-gb' });
    expect(relocated.json()).toMatchObject({ name: 'After', timezone: 'America/New_York', primaryLanguage: 'en-GB', customerExternalId: 'c-1' });
    const cleared = await call(key, 'PATCH', `/v1/projects/${project.id}`, { customerExternalId: null });
    expect(cleared.json().customerExternalId).toBeNull();
  });

  it('refuses an empty patch, a bad zone, and a customerExternalId another project holds, changing nothing', async () => {
    const key = await partner();
    const project = await createProject(key, { name: 'One', customerExternalId: 'one' });
    await createProject(key, { name: 'Two', customerExternalId: 'two' });
    const empty = await call(key, 'PATCH', `/v1/projects/${project.id}`, {});
    expect(empty.statusCode).toBe(422);
    const badZone = await call(key, 'PATCH', `/v1/projects/${project.id}`, { name: 'Changed', timezone: 'Nowhere/Land' });
    expect(badZone.statusCode).toBe(422);
    expect(badZone.json().error.details.issues).toEqual([{ path: 'body.timezone', message: expect.any(String) }]);
    const taken = await call(key, 'PATCH', `/v1/projects/${project.id}`, { name: 'Changed', customerExternalId: 'two' });
    expect(taken.statusCode).toBe(409);
    expect(taken.json().error.details).toEqual({ reason: 'customer_external_id_taken' });
    expect((await call(key, 'GET', `/v1/projects/${project.id}`)).json()).toEqual(project);
    expect((await call(key, 'PATCH', `/v1/projects/${randomUUID()}`, { name: 'Ghost' })).statusCode).toBe(404);
  });
});

describe('POST /v1/projects/:id/archive', () => {
  it('archives once and answers the same archived project every time after', async () => {
    const key = await partner();
    const project = await createProject(key);
    const first = await call(key, 'POST', `/v1/projects/${project.id}/archive`);
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({ id: project.id, status: 'archived' });
    const second = await call(key, 'POST', `/v1/projects/${project.id}/archive`);
    expect(second.statusCode).toBe(200);
    expect(second.json()).toEqual(first.json());
    expect((await call(key, 'POST', `/v1/projects/${randomUUID()}/archive`)).statusCode).toBe(404);
  });
});

describe('POST /v1/projects/:id/influencers', () => {
  it('creates an influencer row under an active project, and nothing under an archived one', async () => {
    const key = await partner();
    const project = await createProject(key);
    const created = await call(key, 'POST', `/v1/projects/${project.id}/influencers`, { name: 'Ava', persona: 'Upbeat\ntech reviewer' });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      organizationId: key.organizationId,
      env: 'live',
      projectId: project.id,
      name: 'Ava',
      persona: 'Upbeat\ntech reviewer',
      createdAt: expect.stringMatching(ISO),
    });
    const noPersona = await call(key, 'POST', `/v1/projects/${project.id}/influencers`, { name: 'Ben' });
    expect(noPersona.json().persona).toBeNull();

    await call(key, 'POST', `/v1/projects/${project.id}/archive`);
    const refused = await call(key, 'POST', `/v1/projects/${project.id}/influencers`, { name: 'Cy' });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toMatchObject({ code: 'CONFLICT', details: { reason: 'project_archived' } });
    expect((await call(key, 'POST', `/v1/projects/${randomUUID()}/influencers`, { name: 'Dee' })).statusCode).toBe(404);
    expect(await rowCounts(key.organizationId)).toEqual({ projects: 1, influencers: 2 });
  });
});

describe('GET /v1/projects', () => {
  it('walks every row exactly once while rows are being inserted', async () => {
    const key = await partner();
    const existing = new Set<string>();
    for (let i = 0; i < 23; i++) existing.add((await createProject(key, { name: `Row ${i}` })).id);
    const inserted = new Set<string>();
    let walking = true;
    // A writer that keeps inserting for as long as the walk goes on.
    const writer = (async () => {
      for (let i = 0; walking && i < 200; i++) inserted.add((await createProject(key, { name: `Concurrent ${i}` })).id);
    })();
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    try {
      do {
        const url: string = `/v1/projects?limit=5${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const page = await call(key, 'GET', url);
        expect(page.statusCode).toBe(200);
        const body = page.json() as { data: Array<{ id: string }>; nextCursor: string | null };
        expect(body.data.length).toBeLessThanOrEqual(5);
        seen.push(...body.data.map((project) => project.id));
        cursor = body.nextCursor;
        // And two more land between every pair of pages.
        inserted.add((await createProject(key, { name: `Between pages ${pages}a` })).id);
        inserted.add((await createProject(key, { name: `Between pages ${pages}b` })).id);
        pages++;
      } while (cursor !== null && pages < 100);
    } finally {
      walking = false;
      await writer;
    }
    expect(inserted.size).toBeGreaterThan(10);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((id) => existing.has(id)).sort()).toEqual([...existing].sort());
    expect(seen.every((id) => existing.has(id) || inserted.has(id))).toBe(true);
  });

  it('orders newest first, honours limit, and refuses a bad cursor or limit', async () => {
    const key = await partner();
    const a = await createProject(key, { name: 'A' });
    const b = await createProject(key, { name: 'B' });
    const page = (await call(key, 'GET', '/v1/projects?limit=1')).json();
    expect(page.data.map((p: { id: string }) => p.id)).toEqual([b.id]);
    const next = (await call(key, 'GET', `/v1/projects?limit=1&cursor=${page.nextCursor}`)).json();
    expect(next).toEqual({ data: [a], nextCursor: null });
    expect((await call(key, 'GET', '/v1/projects')).json().data).toHaveLength(2);

    const badCursor = await call(key, 'GET', '/v1/projects?cursor=not-a-cursor');
    expect(badCursor.statusCode).toBe(400);
    expect(badCursor.json().error.code).toBe('BAD_REQUEST');
    const sqlCursor = await call(key, 'GET', `/v1/projects?cursor=${encodeURIComponent(Buffer.from(`["2020-01-01T00:00:00Z","' OR 1=1 --"]`).toString('base64url'))}`);
    expect(sqlCursor.statusCode).toBe(400);
    for (const limit of ['0', '101', 'ten', '-1']) {
      expect((await call(key, 'GET', `/v1/projects?limit=${limit}`)).statusCode, limit).toBe(422);
    }
    expect((await call(key, 'GET', '/v1/projects?status=active')).statusCode).toBe(422);
  });
});

describe('bad input', () => {
  it('answers each with a 4xx envelope and stores nothing', async () => {
    const key = await partner();
    const bodies: Array<[string, unknown]> = [
      ['name missing', {}],
      ['name a number', { name: 123 }],
      ['name null', { name: null }],
      ['name empty', { name: '' }],
      ['name an array', { name: ['a'] }],
      ['name an object', { name: { $gt: '' } }],
      ['name too long', { name: 'x'.repeat(201) }],
      ['name with a NUL', { name: 'a\u0000b' }],
      ['name with a newline', { name: 'a\nb' }],
      ['unknown field', { name: 'ok', organizationId: randomUUID() }],
      ['status smuggled in', { name: 'ok', status: 'archived' }],
      ['customerExternalId a number', { name: 'ok', customerExternalId: 42 }],
      ['customerExternalId too long', { name: 'ok', customerExternalId: 'x'.repeat(256) }],
      ['timezone with SQL', { name: 'ok', timezone: "UTC'; DROP TABLE projects; --" }],
      ['timezone too long', { name: 'ok', timezone: 'A'.repeat(65) }],
      ['primaryLanguage with SQL', { name: 'ok', primaryLanguage: "en' OR '1'='1" }],
      ['a body that is an array', [{ name: 'ok' }]],
      ['a body that is a string', 'name=ok'],
    ];
    for (const [label, body] of bodies) {
      const response = await t.app.inject({
        method: 'POST',
        url: '/v1/projects',
        headers: withKey(key.key, { 'content-type': 'application/json' }),
        payload: JSON.stringify(body),
      });
      expect([400, 422], `${label}: ${response.statusCode} ${response.body}`).toContain(response.statusCode);
      expect(response.json().error.requestId).toBe(response.headers['x-request-id']);
    }
    const raw: Array<[string, Record<string, string>, string, number]> = [
      ['truncated JSON', { 'content-type': 'application/json' }, '{"name": "ok"', 400],
      ['empty JSON body', { 'content-type': 'application/json' }, '', 400],
      ['form encoding', { 'content-type': 'application/x-www-form-urlencoded' }, 'name=ok', 400],
      ['two megabytes', { 'content-type': 'application/json' }, JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }), 413],
    ];
    for (const [label, headers, payload, status] of raw) {
      const response = await t.app.inject({ method: 'POST', url: '/v1/projects', headers: withKey(key.key, headers), payload });
      expect(response.statusCode, label).toBe(status);
      expect(response.json().error.code).toMatch(/^(BAD_REQUEST|PAYLOAD_TOO_LARGE)$/);
    }
    const project = await createProject(key, { name: 'Target' });
    for (const id of ['not-a-uuid', "1' OR '1'='1", '1;DROP TABLE projects', `urn:uuid:${randomUUID()}`, `${randomUUID()}x`, '%00']) {
      const url = `/v1/projects/${encodeURIComponent(id)}`;
      for (const [method, suffix, payload] of [
        ['GET', '', undefined],
        ['PATCH', '', { name: 'x' }],
        ['POST', '/archive', undefined],
        ['POST', '/influencers', { name: 'x' }],
      ] as const) {
        const response = await call(key, method, url + suffix, payload);
        expect([400, 404, 422], `${method} ${id}${suffix}: ${response.body}`).toContain(response.statusCode);
        expect(response.json().error.code).toBeDefined();
      }
    }
    const influencer = await call(key, 'POST', `/v1/projects/${project.id}/influencers`, { name: 'ok', persona: 'x'.repeat(4001) });
    expect(influencer.statusCode).toBe(422);
    expect(await rowCounts(key.organizationId)).toEqual({ projects: 1, influencers: 0 });
    expect((await call(key, 'GET', `/v1/projects/${project.id}`)).json()).toEqual(project);
  });

  it('stores SQL metacharacters in free text as plain text', async () => {
    const key = await partner();
    const name = `Robert'); DROP TABLE projects; -- "\\ %_ $1`;
    const project = await createProject(key, { name, customerExternalId: "' OR '1'='1" });
    expect((await call(key, 'GET', `/v1/projects/${project.id}`)).json()).toMatchObject({ name, customerExternalId: "' OR '1'='1" });
    const again = await call(key, 'POST', '/v1/projects', { name: 'other', customerExternalId: "' OR '1'='1" });
    expect(again.statusCode).toBe(200);
    expect(again.json().id).toBe(project.id);
    expect((await rowCounts(key.organizationId)).projects).toBe(1);
  });
});

describe('audit (SPEC 10.3)', () => {
  it('records key, action, target, requestId and status for every project mutation', async () => {
    const key = await partner();
    const created = await call(key, 'POST', '/v1/projects', { name: 'Audited', customerExternalId: 'aud' });
    const id = created.json().id;
    const existing = await call(key, 'POST', '/v1/projects', { name: 'Audited', customerExternalId: 'aud' });
    const patched = await call(key, 'PATCH', `/v1/projects/${id}`, { name: 'Audited 2' });
    const influencer = await call(key, 'POST', `/v1/projects/${id}/influencers`, { name: 'Ava' });
    const archived = await call(key, 'POST', `/v1/projects/${id}/archive`);
    const refused = await call(key, 'POST', `/v1/projects/${id}/influencers`, { name: 'Ben' });
    const missingId = randomUUID();
    const missing = await call(key, 'PATCH', `/v1/projects/${missingId}`, { name: 'Nobody' });
    await call(key, 'GET', `/v1/projects/${id}`);

    const log = await admin(t.app, 'GET', `/admin/v1/audit?apiKeyId=${key.id}&limit=100`);
    const entries = (log.json().data as Array<Record<string, unknown>>).reverse();
    const expected = (response: LightMyRequestResponse, action: string, targetType: string, targetId: string) => ({
      action,
      apiKeyId: key.id,
      actor: `key:${key.id}`,
      organizationId: key.organizationId,
      targetType,
      targetId,
      requestId: response.headers['x-request-id'],
      status: response.statusCode,
    });
    expect(entries.map(({ action, apiKeyId, actor, organizationId, targetType, targetId, requestId, status }) => ({
      action, apiKeyId, actor, organizationId, targetType, targetId, requestId, status,
    }))).toEqual([
      expected(created, 'project.create', 'project', id),
      expected(existing, 'project.create', 'project', id),
      expected(patched, 'project.update', 'project', id),
      expected(influencer, 'influencer.create', 'influencer', influencer.json().id),
      expected(archived, 'project.archive', 'project', id),
      expected(refused, 'influencer.create', 'project', id),
      expected(missing, 'project.update', 'project', missingId),
    ]);
    expect(entries.map((entry) => entry.status)).toEqual([201, 200, 200, 201, 200, 409, 404]);
  });
});
