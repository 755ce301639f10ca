import type { CompiledQuery } from 'kysely';
import pg from 'pg';
import { Readable } from 'node:stream';
import { describeStatement, fixedStatement, traceStatement } from '../observability/query-tracing.ts';

export interface StreamedRowsOptions {
  /** Run first in the same transaction (planner settings with set_config(…, true), which end with it). */
  setup?: CompiledQuery;
  /** Rows per batch handed over. */
  batch: number;
}

/**
 * Runs `statement` in a transaction of its own on a connection of `pool` and hands its rows over (each an array of its
 * columns) in batches as PostgreSQL sends them, so a large answer can go out to its client while the rest is still
 * being read: node-postgres otherwise hands a result over once its last row has arrived. The rows wait in the
 * returned stream until it is read; the statement's LIMIT is what bounds them. A failure ends the stream with the
 * error (the connection is thrown away, not reused mid-protocol); destroying the stream lets the statement run out
 * and frees its connection.
 */
export function streamRows(pool: pg.Pool, statement: CompiledQuery, options: StreamedRowsOptions): Readable {
  const rows = new Readable({ objectMode: true, read() {} });
  // A failure before anyone reads is for the reader to meet (async iteration rethrows it), not the process's end.
  rows.on('error', () => {});
  void run(pool, statement, options, rows);
  return rows;
}

async function run(pool: pg.Pool, statement: CompiledQuery, options: StreamedRowsOptions, rows: Readable): Promise<void> {
  let client: pg.PoolClient | undefined;
  try {
    client = await pool.connect();
    const connection = client;
    // Spans as the store's Kysely driver gives its statements (observability/query-tracing.ts).
    const traced = (description: () => { operation: string; table: string | undefined }, sql: string, parameters: readonly unknown[] = []) =>
      traceStatement('postgresql', description, () => connection.query(sql, [...parameters]));
    const { setup } = options;
    await traced(fixedStatement('BEGIN'), 'BEGIN');
    if (setup) await traced(() => describeStatement(setup), setup.sql, setup.parameters);
    await traceStatement('postgresql', () => describeStatement(statement), () => readInBatches(connection, statement, options.batch, rows));
    await traced(fixedStatement('COMMIT'), 'COMMIT');
    client.release();
  } catch (caught) {
    const error = caught instanceof Error ? caught : new Error(String(caught));
    client?.release(error);
    rows.destroy(error);
  }
}

function readInBatches(client: pg.PoolClient, statement: CompiledQuery, size: number, rows: Readable): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let batch: unknown[][] = [];
    // The callback also receives the end and any failure, including the pool's query_timeout, which settles a
    // query through its callback rather than its events.
    const config: pg.QueryArrayConfig = { text: statement.sql, values: [...statement.parameters], rowMode: 'array' };
    const query = new pg.Query(config, (error: Error | undefined) => {
      if (error) return reject(error);
      if (batch.length > 0) rows.push(batch);
      rows.push(null);
      resolve();
    });
    query.on('row', (row: unknown[]) => {
      batch.push(row);
      if (batch.length >= size) {
        rows.push(batch);
        batch = [];
      }
    });
    void client.query(query);
  });
}
