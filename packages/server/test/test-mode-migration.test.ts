import { randomUUID } from 'node:crypto';
import { Migrator, sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/schema.ts';
import { migrations } from '../src/db/migrations/index.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { createTestStore } from './harness.ts';

/**
 * Migration 0020 (SPEC 12, last bullet): rows made before test mode take the env of the key that made them when it is
 * known (the key on the row, or the key of the audit entry that created it), `live` otherwise.
 */

let store: Awaited<ReturnType<typeof createTestStore>>;
let db: Kysely<Database>;

const ids = {
  organization: randomUUID(),
  liveKey: randomUUID(),
  testKey: randomUUID(),
  testProject: randomUUID(),
  liveProject: randomUUID(),
  unknownProject: randomUUID(),
  keyedJob: randomUUID(),
  auditedJob: randomUUID(),
  unknownJob: randomUUID(),
  testInfluencer: randomUUID(),
  testEndpoint: randomUUID(),
  liveEndpoint: randomUUID(),
};

beforeAll(async () => {
  store = await createTestStore();
  db = store.db;
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const before = Object.keys(migrations).filter((name) => name < '0020');
  const { error } = await migrator.migrateTo(before.at(-1)!);
  if (error) throw error;

  const audit = (apiKeyId: string | null, action: string, targetType: string, targetId: string, status = 201) =>
    sql`INSERT INTO audit_entries (organization_id, api_key_id, actor, action, target_type, target_id, status)
        VALUES (${ids.organization}, ${apiKeyId}, ${apiKeyId ? `key:${apiKeyId}` : 'admin'}, ${action}, ${targetType}, ${targetId}, ${status})`.execute(db);
  await sql`INSERT INTO organizations (id, name) VALUES (${ids.organization}, 'Before test mode')`.execute(db);
  for (const [id, env] of [
    [ids.liveKey, 'live'],
    [ids.testKey, 'test'],
  ] as const) {
    await sql`INSERT INTO api_keys (id, key_id, organization_id, name, env, scopes, secret_hash)
              VALUES (${id}, ${`K${env.toUpperCase()}000000000000`.slice(0, 16)}, ${ids.organization}, ${env}, ${env}, '{}', 'x')`.execute(db);
  }
  for (const project of [ids.testProject, ids.liveProject, ids.unknownProject]) {
    await sql`INSERT INTO projects (id, organization_id, name) VALUES (${project}, ${ids.organization}, 'p')`.execute(db);
  }
  await audit(ids.testKey, 'project.create', 'project', ids.testProject);
  await audit(ids.liveKey, 'project.create', 'project', ids.liveProject);
  // A refused create names no project it made.
  await audit(ids.testKey, 'project.create', 'project', ids.unknownProject, 409);
  await sql`INSERT INTO influencers (id, organization_id, project_id, name) VALUES (${ids.testInfluencer}, ${ids.organization}, ${ids.testProject}, 'i')`.execute(db);
  await audit(ids.testKey, 'influencer.create', 'influencer', ids.testInfluencer);

  await sql`INSERT INTO jobs (id, organization_id, project_id, kind, input, api_key_id) VALUES (${ids.keyedJob}, ${ids.organization}, ${ids.testProject}, 'ingest_github', '{}', ${ids.testKey})`.execute(db);
  await sql`INSERT INTO jobs (id, organization_id, project_id, kind, input) VALUES (${ids.auditedJob}, ${ids.organization}, ${ids.testProject}, 'ingest_github', '{}')`.execute(db);
  await audit(ids.testKey, 'ingest.github', 'job', ids.auditedJob, 202);
  await sql`INSERT INTO jobs (id, organization_id, project_id, kind, input) VALUES (${ids.unknownJob}, ${ids.organization}, ${ids.liveProject}, 'ingest_github', '{}')`.execute(db);
  await sql`INSERT INTO project_sources (organization_id, project_id, job_id, kind, url, data) VALUES (${ids.organization}, ${ids.testProject}, ${ids.keyedJob}, 'github_repo', 'https://x', '{}')`.execute(db);

  for (const endpoint of [ids.testEndpoint, ids.liveEndpoint]) {
    await sql`INSERT INTO webhook_endpoints (id, organization_id, url, events, secret) VALUES (${endpoint}, ${ids.organization}, 'https://hook', '{job.succeeded}', 'whsec_x')`.execute(db);
    await sql`INSERT INTO webhook_deliveries (organization_id, endpoint_id, webhook_id, event_type, occurred_at, body, status)
              VALUES (${ids.organization}, ${endpoint}, 'msg_1', 'test.ping', now(), '{}', 'delivered')`.execute(db);
  }
  await audit(ids.testKey, 'webhook_endpoint.create', 'webhook_endpoint', ids.testEndpoint);
  await audit(null, 'admin.organization.update', 'organization', ids.organization, 200);

  await sql`INSERT INTO request_log (request_id, occurred_at, organization_id, api_key_id, method, status, duration_ms) VALUES ('req-test', now(), ${ids.organization}, ${ids.testKey}, 'GET', 200, 1), ('req-none', now(), null, null, 'GET', 404, 1)`.execute(db);
  await sql`INSERT INTO usage_counts (organization_id, granularity, bucket, api_key_id, endpoint_class, requests) VALUES (${ids.organization}, 'minute', now(), ${ids.testKey}, 'read-light', 1), (${ids.organization}, 'minute', now(), ${ids.liveKey}, 'read-light', 1)`.execute(db);
  await sql`INSERT INTO idempotency_keys (api_key_id, method, path, idempotency_key, fingerprint, state, request_id, created_at, expires_at) VALUES (${ids.testKey}, 'POST', '/v1/projects', 'k', 'f', 'done', 'r', now(), now() + interval '1 day')`.execute(db);

  await migrateToLatest(db);
});
afterAll(async () => store?.close());

describe('migration 0020', () => {
  const envOf = async (table: 'projects' | 'influencers' | 'jobs' | 'webhook_endpoints', id: string) =>
    (await db.selectFrom(table).select('env').where('id', '=', id).executeTakeFirstOrThrow()).env;

  it('gives a row the env of the key that made it: the key on the row, else the key of its creating audit entry', async () => {
    expect(await envOf('projects', ids.testProject)).toBe('test');
    expect(await envOf('influencers', ids.testInfluencer)).toBe('test');
    expect(await envOf('jobs', ids.keyedJob)).toBe('test');
    expect(await envOf('jobs', ids.auditedJob)).toBe('test');
    expect(await envOf('webhook_endpoints', ids.testEndpoint)).toBe('test');
    const sources = await db.selectFrom('project_sources').select('env').where('job_id', '=', ids.keyedJob).execute();
    expect(sources.map((row) => row.env)).toEqual(['test']);
    const deliveries = await db.selectFrom('webhook_deliveries').select(['endpoint_id', 'env']).execute();
    expect(Object.fromEntries(deliveries.map((row) => [row.endpoint_id, row.env]))).toEqual({ [ids.testEndpoint]: 'test', [ids.liveEndpoint]: 'live' });
    const log = await db.selectFrom('request_log').select(['request_id', 'env']).orderBy('request_id').execute();
    expect(log).toEqual([
      { request_id: 'req-none', env: 'live' },
      { request_id: 'req-test', env: 'test' },
    ]);
    const usage = await db.selectFrom('usage_counts').select(['api_key_id', 'env']).execute();
    expect(Object.fromEntries(usage.map((row) => [row.api_key_id, row.env]))).toEqual({ [ids.testKey]: 'test', [ids.liveKey]: 'live' });
    expect((await db.selectFrom('idempotency_keys').select('env').executeTakeFirstOrThrow()).env).toBe('test');
    const entries = await db.selectFrom('audit_entries').select(['api_key_id', 'env']).execute();
    for (const entry of entries) expect(entry.env).toBe(entry.api_key_id === ids.testKey ? 'test' : entry.api_key_id === ids.liveKey ? 'live' : null);
  });

  it('gives `live` to rows whose maker is not known', async () => {
    expect(await envOf('projects', ids.liveProject)).toBe('live');
    expect(await envOf('projects', ids.unknownProject)).toBe('live');
    expect(await envOf('jobs', ids.unknownJob)).toBe('live');
    expect(await envOf('webhook_endpoints', ids.liveEndpoint)).toBe('live');
  });
});
