import type { FastifyInstance } from 'fastify';
import { sql, type Kysely } from 'kysely';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pg from 'pg';
import { buildApp, type BuildOptions } from '../src/app.ts';
import { DEFAULT_RATE_LIMITS, type Config } from '../src/config.ts';
import { createStore, type Store } from '../src/db/create-db.ts';
import type { Database } from '../src/db/schema.ts';
import { createDeps, type Deps, type DepsOverrides } from '../src/deps.ts';
import { createLogger } from '../src/observability/logger.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
/** Every test instance's GATEHOUSE_SECRET: instances that share a store share it, as a cluster's do. */
export const TEST_SECRET = 'dGVzdC1kZXBsb3ltZW50LXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVm';

/**
 * Which store this run tests against. `npm test` runs the suite twice: on PGlite, then on PostgreSQL (DATABASE_URL,
 * or the local server) with Redis (REDIS_URL, or the local server).
 */
export const usingPostgres = process.env.GATEHOUSE_TEST_STORE === 'postgres';
export const postgresBaseUrl = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
export const redisTestUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';

export function testConfig(overrides: Partial<Config> = {}): Config {
  return {
    port: 0,
    host: '127.0.0.1',
    dataDir: 'memory://',
    databaseUrl: undefined,
    redisUrl: undefined,
    redisCluster: false,
    // Generous: a loaded test machine must not be mistaken for a Redis outage (the failover tests set their own).
    redisCommandTimeoutMs: 2_000,
    dbTimeoutMs: 10_000,
    drainMs: 0,
    adminToken: ADMIN_TOKEN,
    secret: TEST_SECRET,
    secretPrevious: undefined,
    keyPrefix: 'lp',
    // Cost 4 keeps tests fast; the cost itself is bcrypt's business, not ours.
    bcryptCost: 4,
    logLevel: 'info',
    rateLimits: structuredClone(DEFAULT_RATE_LIMITS),
    bodyLimitBytes: 1024 * 1024,
    hashConcurrency: 2,
    hashNiceness: 10,
    authFailuresPerMinute: 100_000,
    // Tests of throttling want their 429s now; tarpit tests set their own hold.
    authThrottleHoldMs: 0,
    upstreams: { appstoreLookupUrl: 'http://127.0.0.1:9/lookup', playstoreUrl: 'http://127.0.0.1:9', githubApiUrl: 'http://127.0.0.1:9', allowPrivate: true },
    ...overrides,
  };
}

/**
 * A store of the test's own: a fresh PostgreSQL database (dropped on close) when DATABASE_URL is set, else an
 * in-memory PGlite. Runs and parallel files never see each other's rows.
 */
export async function createTestStore(): Promise<Store & { databaseUrl?: string }> {
  if (!usingPostgres) return createStore({ dataDir: 'memory://' });
  const baseUrl = postgresBaseUrl;
  const name = `gh_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  const store = await createStore({ databaseUrl: url.toString(), poolSize: 5 });
  return {
    ...store,
    databaseUrl: url.toString(),
    async close() {
      await store.close();
      const dropper = new pg.Client({ connectionString: baseUrl });
      await dropper.connect();
      await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await dropper.end();
    },
  };
}

/** Captures every log line the app writes, for the assertions that keys never reach the log. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  }
  get text(): string {
    return this.lines.join('\n');
  }
}

export interface TestApp {
  app: FastifyInstance;
  deps: Deps;
  logs: LogCapture;
  close(): Promise<void>;
}

export interface TestAppOptions extends BuildOptions {
  config?: Partial<Config>;
  deps?: DepsOverrides;
  /** Reuse a store (a second instance over the same database); otherwise the app gets a fresh one and owns it. */
  store?: Store;
}

export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const logs = new LogCapture();
  const config = testConfig(options.config);
  const ownsStore = !options.store;
  const store = options.store ?? (await createTestStore());
  const deps = await createDeps(config, { logger: createLogger(config.logLevel, logs), ...options.deps, store });
  const app = await buildApp(deps, options);
  await app.ready();
  return {
    app,
    deps,
    logs,
    async close() {
      await app.close();
      await deps.close();
      if (ownsStore) await store.close();
    },
  };
}

/** Every row of every table of a store, as text (`t::text`), with the tables read: what the canaries search. */
export async function everyTableAsText(db: Kysely<Database>): Promise<{ tables: string[]; rows: string[] }> {
  const tables = await sql<{ table_name: string }>`
    select table_name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE'
  `.execute(db);
  const rows: string[] = [];
  for (const { table_name } of tables.rows) {
    const read = await sql<{ row: string }>`select t::text as row from ${sql.table(table_name)} t`.execute(db);
    rows.push(...read.rows.map((row) => row.row));
  }
  return { tables: tables.rows.map((row) => row.table_name), rows };
}
