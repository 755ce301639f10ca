import { idempotencyKeyDigest } from '../src/idempotency/sealed-replay.ts';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { sql, type Kysely } from 'kysely';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createStore } from '../src/db/create-db.ts';
import type { Database } from '../src/db/schema.ts';
import { unitOfWork } from '../src/http/unit-of-work.ts';
import { admin, createOrganization, issueKey, withKey, type KeyFixture } from './factories.ts';
import { createTestStore, startTestApp, usingPostgres, type TestApp } from './harness.ts';

const HOUR = 60 * 60 * 1000;

/**
 * Test-only routes, each a unit of work: one that fails with a 5xx the first time, one held open inside its
 * transaction until the test releases it (PostgreSQL only: on PGlite a held transaction holds the one connection).
 * A work's effect is a row in its transaction, as every real work's is (its claim travels with that statement), so
 * `runs` counts the runs that were kept: a work's first statement may run and be rolled back when its claim finds
 * the key taken, and `attempts` counts the works that went past it.
 */
function testRoutes(name: string, options: { hold: boolean }) {
  const attempts = new Map<string, number>();
  const held = new Map<string, () => void>();
  const attempt = (tag: string) => {
    const n = (attempts.get(tag) ?? 0) + 1;
    attempts.set(tag, n);
    return n;
  };
  const run = async (db: Kysely<Database>, tag: string) => {
    // A row per run, so two runs of one tag never wait for each other's row; the count is of the kept ones.
    const { rows } = await sql<{ runs: number }>`
      WITH added AS (INSERT INTO test_route_runs (tag) VALUES (${tag}))
      SELECT count(*)::int + 1 AS runs FROM test_route_runs WHERE tag = ${tag}`.execute(db);
    return rows[0]!.runs;
  };
  const register = (app: FastifyInstance) => {
    const config = { endpointClass: 'write-light', scope: null } as const;
    app.post('/v1/test/flaky', { config }, async (request, reply) =>
      unitOfWork(request, reply, async (unit) => {
        const { tag } = request.body as { tag: string };
        const runs = await run(unit.db, tag);
        if (attempt(tag) === 1) throw new Error('forced failure');
        return { status: 201, body: { tag, runs, servedBy: name } };
      }),
    );
    app.post('/v1/test/held', { config }, async (request, reply) =>
      unitOfWork(request, reply, async (unit) => {
        const { tag } = request.body as { tag: string };
        const runs = await run(unit.db, tag);
        // Only the first request under an Idempotency-Key holds: the others run on to read their claim.
        if (options.hold && attempt(String(request.headers['idempotency-key'])) === 1) await new Promise<void>((resolve) => held.set(tag, resolve));
        return { status: 201, body: { tag, runs, servedBy: name } };
      }),
    );
    // Its first statement (the one its claim travels with) fails from the second request of a tag on.
    app.post('/v1/test/breaks-on-retry', { config }, async (request, reply) =>
      unitOfWork(request, reply, async (unit) => {
        const { tag } = request.body as { tag: string };
        await sql`SELECT 1 / ${attempt(`breaks ${tag}`) > 1 ? 0 : 1}`.execute(unit.db);
        return { status: 201, body: { tag, runs: await run(unit.db, tag), servedBy: name } };
      }),
    );
    app.post('/v1/test/text', { config }, async (request, reply) =>
      unitOfWork(request, reply, async (unit) => {
        const { tag } = request.body as { tag: string };
        return { status: 202, contentType: 'text/plain; charset=utf-8', body: `accepted ${tag} #${await run(unit.db, tag)}` };
      }),
    );
    app.post('/v1/test/not-kept', { config: { ...config, idempotency: false } }, async (request, reply) =>
      unitOfWork(request, reply, async (unit) => {
        const { tag } = request.body as { tag: string };
        return { body: { runs: await run(unit.db, tag) } };
      }),
    );
  };
  return {
    register,
    /** How many works under this Idempotency-Key (the held route) went past their first statement. */
    attempts: (idempotencyKey: string) => attempts.get(idempotencyKey) ?? 0,
    /** The runs of `tag` that were kept. */
    async runs(t: TestApp, tag: string): Promise<number> {
      const { rows } = await sql<{ runs: number }>`SELECT count(*)::int AS runs FROM test_route_runs WHERE tag = ${tag}`.execute(t.deps.store.db);
      return rows[0]!.runs;
    },
    /** Resolves once the held request is inside its handler (so it holds the key), and returns its release. */
    async whenHeld(tag: string): Promise<() => void> {
      await vi.waitFor(() => expect(held.has(tag)).toBe(true), { timeout: 5000, interval: 5 });
      return held.get(tag)!;
    },
  };
}

const createRunsTable = (db: Kysely<Database>) => sql`CREATE TABLE IF NOT EXISTS test_route_runs (id bigserial PRIMARY KEY, tag text NOT NULL)`.execute(db);

const post = (app: FastifyInstance, url: string, key: string, payload: unknown, idempotencyKey?: string) =>
  app.inject({
    method: 'POST',
    url,
    headers: withKey(key, idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey }),
    payload: payload as object,
  });

const replayed = (response: LightMyRequestResponse) => response.headers['idempotent-replayed'] === 'true';

async function countWhere(t: TestApp, table: 'projects' | 'idempotency_keys', column: 'organization_id' | 'idempotency_key', value: string) {
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(table)} WHERE ${sql.ref(column)} = ${value}`.execute(t.deps.store.db);
  return rows[0]!.n;
}
const projectCount = (t: TestApp, organizationId: string) => countWhere(t, 'projects', 'organization_id', organizationId);
// The store keeps the Idempotency-Key's digest only (src/idempotency/sealed-replay.ts).
const entryCount = (t: TestApp, idempotencyKey: string) => countWhere(t, 'idempotency_keys', 'idempotency_key', idempotencyKeyDigest(idempotencyKey));

async function freshKey(app: FastifyInstance): Promise<KeyFixture> {
  const organization = await createOrganization(app, { rateLimitTier: 'partner' });
  return issueKey(app, organization.id);
}

describe('Idempotency-Key (SPEC 6)', () => {
  let t: TestApp;
  const routes = testRoutes('a', { hold: true });
  beforeAll(async () => {
    t = await startTestApp({ extraRoutes: routes.register });
    await createRunsTable(t.deps.store.db);
  });
  afterAll(async () => t?.close());

  it('replays the first answer byte for byte, with Idempotent-Replayed, and creates nothing more', async () => {
    const key = await freshKey(t.app);
    const first = await post(t.app, '/v1/projects', key.key, { name: 'Replay', timezone: 'Europe/Paris' }, 'create-1');
    expect(first.statusCode).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    // The same body with its fields in another order is the same request.
    const again = await post(t.app, '/v1/projects', key.key, { timezone: 'Europe/Paris', name: 'Replay' }, 'create-1');
    expect(again.statusCode).toBe(201);
    expect(replayed(again)).toBe(true);
    expect(again.rawPayload.equals(first.rawPayload)).toBe(true);
    expect(again.headers['content-type']).toBe(first.headers['content-type']);
    expect(await projectCount(t, key.organizationId)).toBe(1);
  });

  it('replays any stored content type and status as sent', async () => {
    const key = await freshKey(t.app);
    const first = await post(t.app, '/v1/test/text', key.key, { tag: 'text' }, 'text-1');
    const again = await post(t.app, '/v1/test/text', key.key, { tag: 'text' }, 'text-1');
    expect(first.statusCode).toBe(202);
    expect(first.body).toBe('accepted text #1');
    expect(again.statusCode).toBe(202);
    expect(again.body).toBe('accepted text #1');
    expect(again.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(await routes.runs(t, 'text')).toBe(1);
  });

  it('replays a stored 4xx envelope, whose X-Request-Id still names its requestId', async () => {
    const key = await freshKey(t.app);
    const url = `/v1/projects/${randomUUID()}/archive`;
    const first = await post(t.app, url, key.key, undefined, 'missing-1');
    expect(first.statusCode).toBe(404);
    const again = await post(t.app, url, key.key, undefined, 'missing-1');
    expect(again.statusCode).toBe(404);
    expect(replayed(again)).toBe(true);
    expect(again.body).toBe(first.body);
    expect(again.headers['x-request-id']).toBe(again.json().error.requestId);
  });

  it('refuses the same key with a different body: 422 IDEMPOTENCY_KEY_REUSED, nothing created', async () => {
    const key = await freshKey(t.app);
    await post(t.app, '/v1/projects', key.key, { name: 'First' }, 'reuse-1');
    const other = await post(t.app, '/v1/projects', key.key, { name: 'Second' }, 'reuse-1');
    expect(other.statusCode).toBe(422);
    expect(other.json().error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(other.headers['x-request-id']).toBe(other.json().error.requestId);
    expect(await projectCount(t, key.organizationId)).toBe(1);
  });

  it('scopes keys by API key and by path: the same key elsewhere runs anew', async () => {
    const key = await freshKey(t.app);
    const sibling = await issueKey(t.app, key.organizationId, { name: 'sibling' });
    const first = await post(t.app, '/v1/projects', key.key, { name: 'Scoped' }, 'scope-1');
    const bySibling = await post(t.app, '/v1/projects', sibling.key, { name: 'Scoped' }, 'scope-1');
    expect(bySibling.statusCode).toBe(201);
    expect(replayed(bySibling)).toBe(false);
    expect(bySibling.json().id).not.toBe(first.json().id);
    const otherPath = await post(t.app, `/v1/projects/${first.json().id}/influencers`, key.key, { name: 'Scoped' }, 'scope-1');
    expect(otherPath.statusCode).toBe(201);
    expect(replayed(otherPath)).toBe(false);
    expect(await projectCount(t, key.organizationId)).toBe(2);
  });

  it('answers 400 BAD_REQUEST for a malformed key and stores nothing; accepts 1 to 255 printable characters', async () => {
    const key = await freshKey(t.app);
    for (const bad of ['', 'x'.repeat(256), 'clé', 'tab\there', 'del\x7f']) {
      const response = await post(t.app, '/v1/projects', key.key, { name: 'Bad key' }, bad);
      expect(response.statusCode, JSON.stringify(bad)).toBe(400);
      expect(response.json().error).toMatchObject({ code: 'BAD_REQUEST', details: { header: 'Idempotency-Key' } });
    }
    expect(await projectCount(t, key.organizationId)).toBe(0);
    for (const good of ['k', 'x'.repeat(255), ' ~!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}'.trim()]) {
      const response = await post(t.app, '/v1/projects', key.key, { name: 'Good key' }, good);
      expect(response.statusCode, good).toBe(201);
    }
    expect(await projectCount(t, key.organizationId)).toBe(3);
  });

  it('runs every POST without a key, and ignores the key on a route that opts out', async () => {
    const key = await freshKey(t.app);
    await post(t.app, '/v1/projects', key.key, { name: 'No key' });
    await post(t.app, '/v1/projects', key.key, { name: 'No key' });
    expect(await projectCount(t, key.organizationId)).toBe(2);
    const tag = randomUUID();
    await post(t.app, '/v1/test/not-kept', key.key, { tag }, 'opt-out');
    const second = await post(t.app, '/v1/test/not-kept', key.key, { tag }, 'opt-out');
    expect(second.json()).toEqual({ runs: 2 });
    expect(await entryCount(t, 'opt-out')).toBe(0);
  });

  it.runIf(usingPostgres)('answers 409 idempotency_in_progress with Retry-After: 1 while the first request runs, then replays it', async () => {
    const key = await freshKey(t.app);
    const tag = randomUUID();
    const first = post(t.app, '/v1/test/held', key.key, { tag }, 'held-1');
    const release = await routes.whenHeld(tag);
    const during = await post(t.app, '/v1/test/held', key.key, { tag }, 'held-1');
    expect(during.statusCode).toBe(409);
    expect(during.headers['retry-after']).toBe('1');
    expect(during.json().error).toMatchObject({ code: 'CONFLICT', details: { reason: 'idempotency_in_progress' } });
    // A different body meanwhile is told the key is busy too (the first one's body is not committed yet) ...
    const different = await post(t.app, '/v1/test/held', key.key, { tag: 'other' }, 'held-1');
    expect(different.json().error.details.reason).toBe('idempotency_in_progress');
    // Neither went past the statement its claim travelled with.
    expect(routes.attempts('held-1')).toBe(1);
    release();
    expect((await first).statusCode).toBe(201);
    // ... and refused once it is.
    expect((await post(t.app, '/v1/test/held', key.key, { tag: 'other' }, 'held-1')).json().error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    const after = await post(t.app, '/v1/test/held', key.key, { tag }, 'held-1');
    expect(replayed(after)).toBe(true);
    expect(after.json()).toEqual({ tag, runs: 1, servedBy: 'a' });
    expect(await routes.runs(t, tag)).toBe(1);
  });

  it('does not store a 5xx: the retry runs again, and its answer is the one kept', async () => {
    const key = await freshKey(t.app);
    const tag = randomUUID();
    const failed = await post(t.app, '/v1/test/flaky', key.key, { tag }, 'flaky-1');
    expect(failed.statusCode).toBe(500);
    expect(failed.json().error.code).toBe('INTERNAL');
    const retried = await post(t.app, '/v1/test/flaky', key.key, { tag }, 'flaky-1');
    expect(retried.statusCode).toBe(201);
    expect(replayed(retried)).toBe(false);
    // The failed run was rolled back, so the retry's run is the first kept.
    expect(retried.json().runs).toBe(1);
    const again = await post(t.app, '/v1/test/flaky', key.key, { tag }, 'flaky-1');
    expect(replayed(again)).toBe(true);
    expect(again.json().runs).toBe(1);
    expect(await routes.runs(t, tag)).toBe(1);
  });

  it('replays the kept answer even when the retry\'s work fails in the statement its claim travelled with', async () => {
    const key = await freshKey(t.app);
    const tag = randomUUID();
    const first = await post(t.app, '/v1/test/breaks-on-retry', key.key, { tag }, 'breaks-1');
    expect(first.statusCode).toBe(201);
    const again = await post(t.app, '/v1/test/breaks-on-retry', key.key, { tag }, 'breaks-1');
    expect(again.statusCode).toBe(201);
    expect(replayed(again)).toBe(true);
    expect(again.body).toBe(first.body);
    // Under a new key the same failure is the work's own: a 5xx, nothing kept, nothing run.
    const fresh = await post(t.app, '/v1/test/breaks-on-retry', key.key, { tag }, 'breaks-2');
    expect(fresh.statusCode).toBe(500);
    expect(await entryCount(t, 'breaks-2')).toBe(0);
    expect(await routes.runs(t, tag)).toBe(1);
  });

  it('claims no key for a request refused by validation, so a corrected retry runs', async () => {
    const key = await freshKey(t.app);
    const invalid = await post(t.app, '/v1/projects', key.key, { name: 'Bad', timezone: 'Mars/Olympus' }, 'fix-1');
    expect(invalid.statusCode).toBe(422);
    const fixed = await post(t.app, '/v1/projects', key.key, { name: 'Bad', timezone: 'UTC' }, 'fix-1');
    expect(fixed.statusCode).toBe(201);
    expect(replayed(fixed)).toBe(false);
  });

  it('30 concurrent identical POSTs with one key create exactly one row; every other answer is the replay or the 409', async () => {
    const key = await freshKey(t.app);
    const body = { name: 'Concurrent' };
    const answers = await Promise.all(Array.from({ length: 30 }, () => post(t.app, '/v1/projects', key.key, body, 'race-1')));
    const ran = answers.filter((a) => a.statusCode === 201 && !replayed(a));
    expect(ran).toHaveLength(1);
    for (const answer of answers) {
      if (answer === ran[0]) continue;
      if (answer.statusCode === 409) expect(answer.json().error.details.reason).toBe('idempotency_in_progress');
      else {
        expect(replayed(answer)).toBe(true);
        expect(answer.body).toBe(ran[0]!.body);
      }
    }
    expect(await projectCount(t, key.organizationId)).toBe(1);
  });

  it('lets no revoked or killed key replay', async () => {
    const key = await freshKey(t.app);
    const killed = await issueKey(t.app, key.organizationId, { name: 'to kill' });
    await post(t.app, '/v1/projects', key.key, { name: 'Kept' }, 'auth-1');
    await post(t.app, '/v1/projects', killed.key, { name: 'Kept' }, 'auth-1');
    await admin(t.app, 'POST', `/admin/v1/keys/${key.id}/revoke`);
    await admin(t.app, 'POST', `/admin/v1/keys/${killed.id}/kill`);
    const revokedReplay = await post(t.app, '/v1/projects', key.key, { name: 'Kept' }, 'auth-1');
    expect(revokedReplay.statusCode).toBe(401);
    expect(replayed(revokedReplay)).toBe(false);
    const killedReplay = await post(t.app, '/v1/projects', killed.key, { name: 'Kept' }, 'auth-1');
    expect(killedReplay.statusCode).toBe(503);
    expect(replayed(killedReplay)).toBe(false);
  });

  it('answers a concurrent duplicate from the first one once it commits (PGlite runs one transaction at a time)', async () => {
    const key = await freshKey(t.app);
    const answers = await Promise.all(Array.from({ length: 5 }, () => post(t.app, '/v1/projects', key.key, { name: 'Queued' }, 'queued-1')));
    expect(answers.filter((answer) => answer.statusCode === 201 && !replayed(answer))).toHaveLength(1);
    expect(new Set(answers.filter((answer) => answer.statusCode === 201).map((answer) => answer.body)).size).toBe(1);
    expect(await projectCount(t, key.organizationId)).toBe(1);
  });

  it('audits a replay with the original target, marked as a replay', async () => {
    const key = await freshKey(t.app);
    const first = await post(t.app, '/v1/projects', key.key, { name: 'Audited' }, 'audit-1');
    const again = await post(t.app, '/v1/projects', key.key, { name: 'Audited' }, 'audit-1');
    const entries = await t.deps.store.db
      .selectFrom('audit_entries')
      .selectAll()
      .where('api_key_id', '=', key.id)
      .where('action', '=', 'project.create')
      .orderBy('occurred_at')
      .execute();
    expect(entries.map((e) => [e.target_id, e.status, e.details])).toEqual([
      [first.json().id, 201, { changes: { name: 'Audited' } }],
      [first.json().id, 201, { changes: { name: 'Audited' }, idempotentReplayOf: first.headers['x-request-id'] }],
    ]);
    expect(entries[1]!.request_id).not.toBe(entries[0]!.request_id);
    expect(again.headers['x-request-id']).toBe(first.headers['x-request-id']);
  });
});

describe('Idempotency-Key across instances and over time', () => {
  let store: Awaited<ReturnType<typeof createTestStore>>;
  beforeAll(async () => {
    store = await createTestStore();
  });
  afterAll(async () => store?.close());

  it.runIf(usingPostgres)('frees the key at once when the instance running the request dies: another instance runs the retry', async () => {
    const routesA = testRoutes('a', { hold: true });
    const routesB = testRoutes('b', { hold: false });
    // Each instance with a pool of its own, as two processes would have.
    const poolA = await createStore({ databaseUrl: store.databaseUrl!, poolSize: 2 });
    const a = await startTestApp({ store: poolA, extraRoutes: routesA.register });
    const b = await startTestApp({ store, extraRoutes: routesB.register });
    await createRunsTable(store.db);
    let release: (() => void) | undefined;
    try {
      const key = await freshKey(b.app);
      const tag = randomUUID();
      const stuck = post(a.app, '/v1/test/held', key.key, { tag }, 'crash-1');
      release = await routesA.whenHeld(tag);
      expect((await post(b.app, '/v1/test/held', key.key, { tag }, 'crash-1')).statusCode).toBe(409);
      // A's process dies: PostgreSQL sees its connections close, rolls the transaction back and frees the key. The
      // timeout argument waits until the backend has exited (a bare terminate only signals it, and a loaded machine
      // can take a moment to act on the signal).
      const terminated = await sql<{ gone: boolean }>`
        SELECT pg_terminate_backend(pid, 5000) AS gone FROM pg_stat_activity
        WHERE datname = current_database() AND state = 'idle in transaction'`.execute(store.db);
      expect(terminated.rows.map((row) => row.gone)).toEqual([true]);
      const started = Date.now();
      const retry = await post(b.app, '/v1/test/held', key.key, { tag }, 'crash-1');
      expect(retry.statusCode).toBe(201);
      expect(retry.json().servedBy).toBe('b');
      expect(Date.now() - started).toBeLessThan(2000);
      release();
      expect((await stuck).statusCode).toBeGreaterThanOrEqual(500);
      const replay = await post(a.app, '/v1/test/held', key.key, { tag }, 'crash-1');
      expect(replayed(replay)).toBe(true);
      expect(replay.json().servedBy).toBe('b');
    } finally {
      // A failed expectation must not leave A's request held, or closing A waits for it until the test times out.
      release?.();
      await a.close();
      await b.close();
      await poolA.close();
    }
  });

  it('forgets a key after 24 hours, and sweeps expired entries', async () => {
    const a = await startTestApp({ store });
    const key = await freshKey(a.app);
    const first = await post(a.app, '/v1/projects', key.key, { name: 'Old' }, 'day-1');
    await post(a.app, '/v1/projects', key.key, { name: 'Swept' }, 'day-2');
    const justBefore = await startTestApp({ store, deps: { now: () => Date.now() + 24 * HOUR - 60_000 } });
    let later: TestApp | undefined;
    try {
      const stillKept = await post(justBefore.app, '/v1/projects', key.key, { name: 'Old' }, 'day-1');
      expect(replayed(stillKept)).toBe(true);
      later = await startTestApp({ store, deps: { now: () => Date.now() + 24 * HOUR + 1000 }, idempotency: { sweepIntervalMs: 50 } });
      const anew = await post(later.app, '/v1/projects', key.key, { name: 'Old' }, 'day-1');
      expect(anew.statusCode).toBe(201);
      expect(replayed(anew)).toBe(false);
      expect(anew.json().id).not.toBe(first.json().id);
      await vi.waitFor(async () => expect(await entryCount(a, 'day-2')).toBe(0), { timeout: 5000, interval: 50 });
      // The entry the later request made is fresh, so the sweep keeps it.
      expect(await entryCount(a, 'day-1')).toBe(1);
    } finally {
      await justBefore.close();
      await later?.close();
      await a.close();
    }
  });
});

describe.runIf(usingPostgres)('Idempotency-Key with two instances on one PostgreSQL', () => {
  it('30 concurrent identical POSTs split across two instances create exactly one row', async () => {
    const store = await createTestStore();
    // The second instance has a pool of its own, as a second process would.
    const otherPool = await createStore({ databaseUrl: store.databaseUrl!, poolSize: 5 });
    const a = await startTestApp({ store });
    const b = await startTestApp({ store: otherPool });
    try {
      const key = await freshKey(a.app);
      const body = { name: 'Two instances' };
      const answers = await Promise.all(
        Array.from({ length: 30 }, (_, i) => post(i % 2 === 0 ? a.app : b.app, '/v1/projects', key.key, body, 'cluster-race')),
      );
      const ran = answers.filter((answer) => answer.statusCode === 201 && !replayed(answer));
      expect(ran).toHaveLength(1);
      for (const answer of answers) {
        if (answer === ran[0]) continue;
        expect([201, 409]).toContain(answer.statusCode);
        if (answer.statusCode === 201) expect(answer.body).toBe(ran[0]!.body);
        else expect(answer.json().error.details.reason).toBe('idempotency_in_progress');
      }
      expect(await projectCount(a, key.organizationId)).toBe(1);
    } finally {
      await a.close();
      await b.close();
      await otherPool.close();
      await store.close();
    }
  });
});
