import { sql } from 'kysely';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idempotencyKeyDigest } from '../src/idempotency/sealed-replay.ts';
import { createOrganization, issueKey, withKey, type KeyFixture } from './factories.ts';
import { startTestApp, type TestApp } from './harness.ts';

/**
 * SPEC 6 "one unit of work" under injected failures: a statement of the unit fails once (a trigger that raises the
 * first time it fires, counted by a sequence, which a rollback does not undo). The change must roll back with it,
 * the answer must be a 5xx, and the retry under the same Idempotency-Key must then run once, completely.
 */
describe('one unit of work, with a failure injected into it', () => {
  let t: TestApp;
  let key: KeyFixture;
  beforeAll(async () => {
    t = await startTestApp();
    const organization = await createOrganization(t.app, { rateLimitTier: 'partner' });
    key = await issueKey(t.app, organization.id);
  });
  afterAll(async () => t?.close());

  /** Makes the next insert into `table` whose text column `column` equals `value` fail, once. */
  async function failOnce(table: 'audit_entries' | 'idempotency_keys', column: string, value: string) {
    const name = `fail_${randomUUID().replaceAll('-', '')}`;
    await sql
      .raw(
        `CREATE SEQUENCE ${name};
         CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.${column}::text = '${value}' AND nextval('${name}') = 1 THEN RAISE EXCEPTION 'injected failure'; END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER ${name} BEFORE INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION ${name}();`,
      )
      .execute(t.deps.store.db);
  }

  const create = (name: string, idempotencyKey: string) =>
    t.app.inject({ method: 'POST', url: '/v1/projects', headers: withKey(key.key, { 'idempotency-key': idempotencyKey }), payload: { name } });

  async function effects(name: string, idempotencyKey: string) {
    const db = t.deps.store.db;
    const projects = await db.selectFrom('projects').select('id').where('name', '=', name).execute();
    const audit = await db
      .selectFrom('audit_entries')
      .select(['target_id', 'status'])
      .where('action', '=', 'project.create')
      .where('api_key_id', '=', key.id)
      .where('target_id', 'in', projects.length ? projects.map((project) => project.id) : [randomUUID()])
      .execute();
    const kept = await db.selectFrom('idempotency_keys').select('response_status').where('idempotency_key', '=', idempotencyKeyDigest(idempotencyKey)).execute();
    return { projects: projects.length, audit: audit.length, kept: kept.map((row) => row.response_status) };
  }

  it('rolls the change back when its audit entry cannot be written, answers 500, and the retry completes it', async () => {
    const name = `audit fails ${randomUUID()}`;
    // The audit entry of this request names its acting key; the request id is not known yet, so fail on the key.
    await failOnce('audit_entries', 'api_key_id', key.id);
    const failed = await create(name, 'audit-fails');
    expect(failed.statusCode).toBe(500);
    expect(failed.json().error.code).toBe('INTERNAL');
    expect(await effects(name, 'audit-fails')).toEqual({ projects: 0, audit: 0, kept: [] });
    const retried = await create(name, 'audit-fails');
    expect(retried.statusCode).toBe(201);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    expect(await effects(name, 'audit-fails')).toEqual({ projects: 1, audit: 1, kept: [201] });
    const replay = await create(name, 'audit-fails');
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toBe(retried.body);
  });

  it('rolls the change and its audit entry back when the answer cannot be kept, answers 500, and the retry completes it', async () => {
    const name = `keeping fails ${randomUUID()}`;
    await failOnce('idempotency_keys', 'idempotency_key', idempotencyKeyDigest('keeping-fails'));
    const failed = await create(name, 'keeping-fails');
    expect(failed.statusCode).toBe(500);
    expect(await effects(name, 'keeping-fails')).toEqual({ projects: 0, audit: 0, kept: [] });
    const retried = await create(name, 'keeping-fails');
    expect(retried.statusCode).toBe(201);
    expect(await effects(name, 'keeping-fails')).toEqual({ projects: 1, audit: 1, kept: [201] });
  });

  it('keeps a refusal the work threw, audited, without the change it had begun', async () => {
    // An archived project: the ingest's job insert never happens, the 409 is audited and replayed.
    const project = (await t.app.inject({ method: 'POST', url: '/v1/projects', headers: withKey(key.key), payload: { name: 'archived' } })).json();
    await t.app.inject({ method: 'POST', url: `/v1/projects/${project.id}/archive`, headers: withKey(key.key) });
    const ingest = () =>
      t.app.inject({
        method: 'POST',
        url: `/v1/projects/${project.id}/ingest/github`,
        headers: withKey(key.key, { 'idempotency-key': 'refused-1' }),
        payload: { repo: 'acme/site' },
      });
    const refused = await ingest();
    expect(refused.statusCode).toBe(409);
    const again = await ingest();
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toBe(refused.body);
    const jobs = await t.deps.store.db.selectFrom('jobs').select('id').where('project_id', '=', project.id).execute();
    expect(jobs).toHaveLength(0);
    const audit = await t.deps.store.db.selectFrom('audit_entries').select(['status', 'details']).where('request_id', '=', refused.headers['x-request-id'] as string).execute();
    expect(audit).toEqual([{ status: 409, details: { changes: { repo: 'acme/site' } } }]);
  });
});
