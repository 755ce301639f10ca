import type { CompiledQuery } from 'kysely';
import type pg from 'pg';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { to as copyTo } from 'pg-copy-streams';
import { describeStatement, fixedStatement, traceStatement } from '../observability/query-tracing.ts';
import { inlineParameters } from './inline-parameters.ts';

export interface CopyOutOptions {
  /** Run first in the same transaction (planner settings with set_config(…, true), which end with it). */
  setup?: CompiledQuery;
}

/**
 * CSV whose delimiter and quote are bytes JSON text never holds raw (to_json escapes every control character): a
 * single text column then comes out exactly as it is, one line per row. COPY's text format would double every
 * backslash of a JSON escape instead.
 */
const ONE_COLUMN_VERBATIM = "(FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02')";

/** Above anything a bounded statement sends, so the COPY never waits for the reader (see copyRowsOut). */
const NEVER_PAUSES_THE_COPY = 256 * 1024 * 1024;

/**
 * Runs `statement` (one text column, JSON or anything else without a raw newline, carriage return, \x01 or \x02) as
 * `COPY (…) TO STDOUT` in a transaction of its own on a connection of `pool`, and hands over the bytes PostgreSQL
 * sends, each row's text and a newline, as they arrive. Rows read this way cost this process one buffer per socket
 * read rather than a parsed message and a string per row (31,000 usage rows: some 40 ms less of this thread's time
 * a read, and 35 less of the garbage collector's threads; docs/usage.md).
 *
 * COPY takes no parameters: they are written into the statement as literals (inlineParameters). PostgreSQL sends
 * at its own pace, not its reader's: what the reader has not taken yet waits here, bounded by the statement's LIMIT
 * (50,000 usage rows are some 12 MB), and the connection goes back to the pool as soon as the last row is in. Paced
 * by a slow client instead, every such client held one of the pool's connections for as long as it took to read.
 * Destroying the stream before the COPY's end (a refused answer, a client gone) closes the connection rather than
 * return one that is mid-COPY to the pool; so does a failure, or a COPY still running after the pool's
 * query_timeout (which does not apply to a stream).
 */
export function copyRowsOut(pool: pg.Pool, statement: CompiledQuery, options: CopyOutOptions = {}): Readable {
  const bytes = new PassThrough({ highWaterMark: NEVER_PAUSES_THE_COPY });
  // A failure before anyone reads is for the reader to meet, not the process's end.
  bytes.on('error', () => {});
  void run(pool, statement, options, bytes);
  return bytes;
}

async function run(pool: pg.Pool, statement: CompiledQuery, options: CopyOutOptions, bytes: PassThrough): Promise<void> {
  let client: pg.PoolClient | undefined;
  const timeoutMs = pool.options.query_timeout;
  const timer = timeoutMs ? setTimeout(() => bytes.destroy(new Error(`COPY took longer than ${timeoutMs} ms`)), timeoutMs) : undefined;
  try {
    client = await pool.connect();
    const connection = client;
    // Spans as the store's Kysely driver gives its statements (observability/query-tracing.ts).
    const traced = (description: () => { operation: string; table: string | undefined }, sql: string, parameters: readonly unknown[] = []) =>
      traceStatement('postgresql', description, () => connection.query(sql, [...parameters]));
    const { setup } = options;
    await traced(fixedStatement('BEGIN'), 'BEGIN');
    if (setup) await traced(() => describeStatement(setup), setup.sql, setup.parameters);
    const copy = `COPY (${inlineParameters(statement.sql, statement.parameters)}) TO STDOUT ${ONE_COLUMN_VERBATIM}`;
    await traceStatement('postgresql', () => describeStatement(statement), () => pipeline(connection.query(copyTo(copy)), bytes));
    clearTimeout(timer);
    await traced(fixedStatement('COMMIT'), 'COMMIT');
    client.release();
  } catch (caught) {
    clearTimeout(timer);
    const error = caught instanceof Error ? caught : new Error(String(caught));
    client?.release(error);
    bytes.destroy(error);
  }
}
