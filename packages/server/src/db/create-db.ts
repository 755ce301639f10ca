import { PGliteHost } from './pglite-host.ts';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.ts';
import { PGlitePool } from './pglite-pool.ts';
import { postgresDialect } from './postgres-driver.ts';
import { tracedDialect } from '../observability/query-tracing.ts';
import { ensureOwnerOnlyDirectory, tightenToOwner } from './owner-only.ts';
import { acquireStoreLock } from './store-lock.ts';
import { pgliteCopyIn, postgresCopyIn, type CopyIn } from './copy-in.ts';

const INT8_OID = 20;
// Counts and sums come back as int8; every int8 we use fits a double, so both stores hand out numbers.
pg.types.setTypeParser(INT8_OID, (value) => Number(value));

export type StoreKind = 'postgres' | 'pglite';

export interface Store {
  db: Kysely<Database>;
  kind: StoreKind;
  /** The raw pool (pg) for LISTEN/NOTIFY, or null on the embedded store. */
  pgPool: pg.Pool | null;
  /** Bulk rows through COPY (the request log's writer), outside Kysely, which has no COPY. */
  copyIn: CopyIn;
  close(): Promise<void>;
}

export interface StoreOptions {
  databaseUrl?: string | undefined;
  /** Directory for PGlite's files; `memory://` keeps it in memory (tests). */
  dataDir?: string;
  poolSize?: number;
  /**
   * PostgreSQL only: how long a connection may take to open (or to be handed out by a full pool) and one query may
   * take, before it fails as the store being unreachable. Unset: no limit (migrations, tests on a loaded machine).
   */
  timeoutMs?: number;
}

export async function createStore(options: StoreOptions): Promise<Store> {
  if (options.databaseUrl) {
    const timeouts = options.timeoutMs ? { connectionTimeoutMillis: options.timeoutMs, query_timeout: options.timeoutMs } : {};
    // keepAlive: a server that vanished without a reset (network loss) is noticed by TCP too, not only by the timeouts.
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolSize ?? 10, keepAlive: true, ...timeouts });
    // An idle client's error (server restart) must not crash the process; the next checkout reconnects.
    pool.on('error', () => {});
    // The pool listens for errors on idle clients only. A checked-out client whose server goes away between two
    // queries (inside a transaction, say) emits 'error' with nobody listening, which would end the process: the
    // query that next uses it fails instead, and the pool drops it on release (it is no longer queryable).
    pool.on('connect', (client) => client.on('error', () => {}));
    const db = new Kysely<Database>({ dialect: tracedDialect(postgresDialect(pool), 'postgresql') });
    return { db, kind: 'postgres', pgPool: pool, copyIn: postgresCopyIn(pool, options.timeoutMs), close: () => db.destroy() };
  }
  const dataDir = options.dataDir ?? 'memory://';
  const inMemory = dataDir.startsWith('memory://');
  if (!inMemory) ensureOwnerOnlyDirectory(dataDir);
  const lock = inMemory ? null : acquireStoreLock(dataDir);
  let pglite: PGliteHost;
  try {
    pglite = await PGliteHost.start(dataDir);
  } catch (error) {
    lock?.release();
    throw error;
  }
  if (!inMemory) tightenToOwner(dataDir);
  const pool = new PGlitePool(pglite);
  const db = new Kysely<Database>({ dialect: tracedDialect(new PostgresDialect({ pool: pool as unknown as pg.Pool }), 'pglite') });
  return {
    db,
    kind: 'pglite',
    pgPool: null,
    copyIn: pgliteCopyIn(pool),
    async close() {
      await db.destroy();
      if (!inMemory) tightenToOwner(dataDir);
      lock?.release();
    },
  };
}
