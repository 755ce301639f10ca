import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const POSTGRES_BASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = 'redis://127.0.0.1:6379';

export interface BenchDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A fresh database for one scenario, dropped (connections and all) when the scenario ends. */
export async function createDatabase(): Promise<BenchDatabase> {
  const name = `gh_bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(POSTGRES_BASE_URL);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_BASE_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}
