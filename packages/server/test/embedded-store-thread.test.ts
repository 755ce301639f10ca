import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createStore, type Store } from '../src/db/create-db.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { PGliteHost } from '../src/db/pglite-host.ts';
import { usingPostgres } from './harness.ts';

/**
 * The embedded store's PGlite runs on a thread of its own (db/pglite-host.ts): a statement, however long, is no pause
 * for the event loop that answers requests, and what the store says comes back as it said it.
 */
describe.skipIf(usingPostgres)('the embedded store on its own thread', () => {
  let store: Store;
  beforeAll(async () => {
    store = await createStore({ dataDir: 'memory://' });
    await migrateToLatest(store.db);
  });
  afterAll(() => store.close());

  it('keeps the event loop turning while a statement runs', async () => {
    const ticks: number[] = [];
    const timer = setInterval(() => ticks.push(performance.now()), 10);
    const started = performance.now();
    try {
      await sql`SELECT pg_sleep(0.4)`.execute(store.db);
    } finally {
      clearInterval(timer);
    }
    expect(performance.now() - started).toBeGreaterThanOrEqual(390);
    // On the event loop's thread this statement was one 400 ms pause: no tick at all until it ended.
    expect(ticks.filter((at) => at < started + 350).length).toBeGreaterThanOrEqual(5);
  });

  it('hands back rows with their types, and PostgreSQL’s errors with their SQLSTATE and constraint', async () => {
    const { rows } = await sql<{ n: number; at: Date; ok: boolean; data: unknown; bytes: Uint8Array; nothing: null }>`
      SELECT 9007199254740991::int8 AS n, timestamptz '2026-12-01T10:00:00Z' AS at, true AS ok,
        '{"a":[1,"b"]}'::jsonb AS data, '\\x00ff'::bytea AS bytes, NULL AS nothing`.execute(store.db);
    expect(rows[0]).toEqual({ n: 9007199254740991, at: new Date('2026-12-01T10:00:00Z'), ok: true, data: { a: [1, 'b'] }, bytes: new Uint8Array([0, 255]), nothing: null });
    const organization = await sql<{ id: string }>`INSERT INTO organizations (name) VALUES ('Thread') RETURNING id`.execute(store.db);
    const failure = await sql`INSERT INTO organizations (id, name) VALUES (${organization.rows[0]!.id}, 'Again')`.execute(store.db).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(Error);
    expect(failure).toMatchObject({ code: '23505', constraint: 'organizations_pkey', severity: 'ERROR' });
    // A failed statement leaves the store usable.
    expect((await sql<{ one: number }>`SELECT 1 AS one`.execute(store.db)).rows).toEqual([{ one: 1 }]);
  });

  it('rolls a transaction back as a whole', async () => {
    await expect(
      store.db.transaction().execute(async (trx) => {
        await sql`INSERT INTO organizations (name) VALUES ('Rolled back')`.execute(trx);
        throw new Error('abandon');
      }),
    ).rejects.toThrow('abandon');
    const { rows } = await sql<{ n: number }>`SELECT count(*) AS n FROM organizations WHERE name = 'Rolled back'`.execute(store.db);
    expect(rows[0]!.n).toBe(0);
  });

  it('sends a transaction’s BEGIN with its first statement, and nothing for a transaction that ran none', async () => {
    const trips = [vi.spyOn(PGliteHost.prototype, 'query'), vi.spyOn(PGliteHost.prototype, 'exec')];
    const tripCount = () => trips.reduce((sum, spy) => sum + spy.mock.calls.length, 0);
    try {
      const ids = await store.db.transaction().execute(async (trx) => {
        const first = await sql<{ id: string }>`INSERT INTO organizations (name) VALUES (${'Begun late'}) RETURNING id`.execute(trx);
        const second = await sql<{ id: string }>`INSERT INTO organizations (name) VALUES (${'Begun late'}) RETURNING id`.execute(trx);
        return [first.rows[0]!.id, second.rows[0]!.id];
      });
      // The first statement and BEGIN, the second, COMMIT: three trips, not four.
      expect(tripCount()).toBe(3);
      expect(trips[0]!.mock.calls[0]![2]).toMatch(/^begin/i);
      expect((await sql<{ n: number }>`SELECT count(*) AS n FROM organizations WHERE id IN (${ids[0]}, ${ids[1]})`.execute(store.db)).rows[0]!.n).toBe(2);

      const before = tripCount();
      await store.db.transaction().execute(async () => undefined);
      expect(tripCount()).toBe(before);

      // A first statement that fails fails inside its transaction: the rollback leaves nothing, and the store goes on.
      const failure = await store.db
        .transaction()
        .execute(async (trx) => {
          await sql`INSERT INTO organizations (id, name) VALUES (${ids[0]}, 'Duplicate')`.execute(trx);
        })
        .catch((error: unknown) => error);
      expect(failure).toMatchObject({ code: '23505' });
      const after = await store.db.transaction().execute(async (trx) => (await sql<{ n: number }>`SELECT count(*) AS n FROM organizations WHERE name = 'Duplicate'`.execute(trx)).rows[0]!.n);
      expect(after).toBe(0);
    } finally {
      for (const spy of trips) spy.mockRestore();
    }
  });

  it('prepares a statement once and runs it again by name, within a bound, and forgets them all on a schema change', async () => {
    const preparedCount = async (text: string) =>
      (await sql<{ n: number }>`SELECT count(*) AS n FROM pg_prepared_statements WHERE statement = ${text}`.execute(store.db)).rows[0]!.n;
    const sum = (n: number) => sql<{ total: number }>`SELECT ${n}::int + 1 AS total`;
    for (const n of [1, 2, 3]) expect((await sum(n).execute(store.db)).rows).toEqual([{ total: n + 1 }]);
    const text = sum(0).compile(store.db).sql;
    expect(await preparedCount(text)).toBe(1);
    // Planned for its values every time, as on PostgreSQL through node-postgres: never a generic plan.
    expect((await sql<{ plan_cache_mode: string }>`SHOW plan_cache_mode`.execute(store.db)).rows).toEqual([{ plan_cache_mode: 'force_custom_plan' }]);

    // Two hundred texts seen once each: the oldest give their place up, the store keeps at most its bound.
    for (let i = 0; i < 200; i++) await sql`SELECT ${i}::int AS ${sql.ref(`column_${i}`)}`.execute(store.db);
    const { rows } = await sql<{ n: number }>`SELECT count(*) AS n FROM pg_prepared_statements WHERE name LIKE ${'gatehouse_%'}`.execute(store.db);
    expect(rows[0]!.n).toBeLessThanOrEqual(130);
    expect(await preparedCount(text)).toBe(0);

    await sql`CREATE TABLE prepared_shape (id int PRIMARY KEY)`.execute(store.db);
    const read = () => sql<Record<string, unknown>>`SELECT * FROM prepared_shape WHERE id = ${1}`.execute(store.db);
    await sql`INSERT INTO prepared_shape (id) VALUES (${1})`.execute(store.db);
    expect((await read()).rows).toEqual([{ id: 1 }]);
    await sql`ALTER TABLE prepared_shape ADD COLUMN label text NOT NULL DEFAULT 'added'`.execute(store.db);
    expect((await read()).rows).toEqual([{ id: 1, label: 'added' }]);
  });

  it('sends parameters as node-postgres does, so a value means the same on both stores', async () => {
    await sql`CREATE TABLE parameter_kinds (at timestamptz, data jsonb, list text[], bytes bytea, flag boolean, big int8, nothing text)`.execute(store.db);
    const at = new Date('2026-12-01T10:00:00.123Z');
    const bytes = Buffer.from([0, 1, 254, 255]);
    await sql`INSERT INTO parameter_kinds VALUES (${at}, ${JSON.stringify({ a: [1, 'b'] })}, ${['x', 'y,z', 'q"uote']}, ${bytes}, ${false}, ${9007199254740991}, ${null})`.execute(store.db);
    const { rows } = await sql`SELECT * FROM parameter_kinds`.execute(store.db);
    expect(rows).toEqual([{ at, data: { a: [1, 'b'] }, list: ['x', 'y,z', 'q"uote'], bytes: new Uint8Array(bytes), flag: false, big: 9007199254740991, nothing: null }]);
  });

  it('lets a process that opened it and has nothing left to do exit', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-thread-'));
    try {
      const createDb = fileURLToPath(new URL('../src/db/create-db.ts', import.meta.url));
      // Opened and queried, never closed: the idle thread must not hold the process open.
      const script = [
        `const { createStore } = await import(${JSON.stringify(createDb)});`,
        `const store = await createStore({ dataDir: ${JSON.stringify(join(dataDir, 'data'))} });`,
        'const rows = await store.db.selectNoFrom((eb) => eb.val(2).as(\'two\')).execute();',
        'console.log(JSON.stringify(rows));',
      ].join('\n');
      const scriptPath = join(dataDir, 'open-and-leave.mjs');
      writeFileSync(scriptPath, script);
      const run = spawnSync(process.execPath, ['--import', 'tsx', scriptPath], { encoding: 'utf8', timeout: 60_000 });
      expect(run.stderr).toBe('');
      expect(run.stdout.trim()).toBe('[{"two":"2"}]');
      expect(run.status).toBe(0);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
