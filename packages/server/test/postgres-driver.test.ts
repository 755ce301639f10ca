import { sql, type Kysely } from 'kysely';
import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { endingTransaction, travelingWithNext } from '../src/db/postgres-driver.ts';
import type { Database } from '../src/db/schema.ts';
import { createTestStore, usingPostgres } from './harness.ts';

/**
 * The PostgreSQL driver (src/db/postgres-driver.ts) sends BEGIN with a transaction's first statement, a statement
 * marked to travel with the next one along with it, and COMMIT with the statement marked as the last. Counted here
 * in messages sent to the server, and checked for what a transaction must still do: commit, roll back, isolate.
 */
describe.runIf(usingPostgres)('PostgreSQL driver: a transaction in fewer round trips', () => {
  let store: Awaited<ReturnType<typeof createTestStore>>;
  let db: Kysely<Database>;
  const sent: string[] = [];

  beforeAll(async () => {
    store = await createTestStore();
    db = store.db;
    const counted = new WeakSet<pg.PoolClient>();
    store.pgPool!.on('acquire', (client) => {
      if (counted.has(client)) return;
      counted.add(client);
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as { query: unknown }).query = (...args: unknown[]) => {
        sent.push(String(typeof args[0] === 'string' ? args[0] : (args[0] as { text: string }).text));
        return query(...args);
      };
    });
    await sql`CREATE TABLE driver_rows (id integer PRIMARY KEY, note text)`.execute(db);
  });
  afterAll(() => store.close());
  beforeEach(async () => {
    await sql`TRUNCATE driver_rows`.execute(db);
    sent.length = 0;
  });

  const insert = (trx: Kysely<Database>, id: number, note = 'n') => sql`INSERT INTO driver_rows (id, note) VALUES (${id}, ${note})`.compile(trx);
  const rows = async () => (await sql<{ id: number }>`SELECT id FROM driver_rows ORDER BY id`.execute(db)).rows.map((row) => row.id);

  it('commits a transaction of three statements in three messages: BEGIN goes with the first, COMMIT with the last', async () => {
    const result = await db.transaction().execute(async (trx) => {
      await trx.executeQuery(insert(trx, 1, "it's"));
      await trx.executeQuery(insert(trx, 2));
      return trx.executeQuery(endingTransaction(sql<{ n: number }>`INSERT INTO driver_rows (id) VALUES (${3}) RETURNING id AS n`.compile(trx)));
    });
    expect(result.rows).toEqual([{ n: 3 }]);
    expect(sent).toHaveLength(3);
    expect(sent[0]).toMatch(/^BEGIN;\nINSERT INTO driver_rows .* VALUES \('1', 'it''s'\)$/s);
    expect(sent[2]).toMatch(/;\nCOMMIT$/);
    expect(await rows()).toEqual([1, 2, 3]);
  });

  it('sends nothing for a transaction that ran no statement', async () => {
    await db.transaction().execute(async () => undefined);
    expect(sent).toEqual([]);
  });

  it('sends a statement marked to travel with the next one in that one message, and reads its answer afterwards', async () => {
    const read = await db.transaction().execute(async (trx) => {
      const held = await travelingWithNext<{ n: number }>(trx, sql`SELECT count(*)::int AS n FROM driver_rows`.compile(trx));
      expect(sent).toEqual([]);
      await trx.executeQuery(insert(trx, 7));
      expect(sent).toHaveLength(1);
      expect(sent[0]).toMatch(/^BEGIN;\nSELECT count.*;\nINSERT INTO driver_rows/s);
      return held();
    });
    expect(read.rows).toEqual([{ n: 0 }]);
    expect(sent).toEqual([expect.stringMatching(/^BEGIN;/), 'COMMIT']);
  });

  it('sends the held statement on its own when it is read before anything else went, and never with the COMMIT', async () => {
    await db.transaction().execute(async (trx) => {
      const held = await travelingWithNext<{ n: number }>(trx, sql`SELECT ${41}::int + 1 AS n`.compile(trx));
      expect((await held()).rows).toEqual([{ n: 42 }]);
      const again = await travelingWithNext<{ n: number }>(trx, sql`SELECT 1 AS n`.compile(trx));
      // Not deferred once the transaction is open: it ran at once.
      expect((await again()).rows).toEqual([{ n: 1 }]);
      await trx.executeQuery(endingTransaction(insert(trx, 8)));
    });
    expect(sent).toEqual(["BEGIN;\nSELECT '41'::int + 1 AS n", 'SELECT 1 AS n', expect.stringMatching(/^INSERT.*;\nCOMMIT$/s)]);
    expect(await rows()).toEqual([8]);
  });

  it('rolls back what came before when the last statement fails, COMMIT and all, and the connection serves again', async () => {
    await expect(
      db.transaction().execute(async (trx) => {
        await trx.executeQuery(insert(trx, 1));
        await trx.executeQuery(endingTransaction(insert(trx, 1)));
      }),
    ).rejects.toMatchObject({ code: '23505' });
    expect(sent.at(-1)).toBe('ROLLBACK');
    expect(await rows()).toEqual([]);
    // Every pooled connection is usable: none was left inside an aborted transaction.
    const checks = await Promise.all(Array.from({ length: 5 }, () => db.transaction().execute((trx) => sql<{ ok: number }>`SELECT 1 AS ok`.execute(trx))));
    expect(checks.map((check) => check.rows[0]!.ok)).toEqual([1, 1, 1, 1, 1]);
  });

  it('fails a held statement and the one it travelled with together when their message fails, and rolls both back', async () => {
    let held: (() => Promise<unknown>) | undefined;
    await expect(
      db.transaction().execute(async (trx) => {
        held = await travelingWithNext(trx, insert(trx, 5));
        await trx.executeQuery(insert(trx, 5));
      }),
    ).rejects.toMatchObject({ code: '23505' });
    await expect(held!()).rejects.toMatchObject({ code: '23505' });
    expect(await rows()).toEqual([]);
  });

  it('keeps the isolation level asked for, sent with the first statement', async () => {
    const level = await db
      .transaction()
      .setIsolationLevel('serializable')
      .execute((trx) => sql<{ level: string }>`SELECT current_setting('transaction_isolation') AS level`.execute(trx));
    expect(level.rows[0]!.level).toBe('serializable');
    expect(sent[0]).toMatch(/^BEGIN ISOLATION LEVEL serializable;\n/);
  });

  it('refuses a statement after the one that ended the transaction, which would run outside it', async () => {
    await expect(
      db.transaction().execute(async (trx) => {
        await trx.executeQuery(endingTransaction(insert(trx, 1)));
        await trx.executeQuery(insert(trx, 2));
      }),
    ).rejects.toThrow(/after the one that ended its transaction/);
    expect(await rows()).toEqual([1]);
  });

  it('sees another transaction only once it committed with its last statement', async () => {
    await db.transaction().execute(async (trx) => {
      await trx.executeQuery(insert(trx, 1));
      expect(await rows()).toEqual([]);
      await trx.executeQuery(endingTransaction(insert(trx, 2)));
      expect(await rows()).toEqual([1, 2]);
    });
  });
});
