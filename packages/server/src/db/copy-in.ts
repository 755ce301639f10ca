import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { PGlitePool } from './pglite-pool.ts';

/**
 * Runs `COPY <table> (<columns>) FROM STDIN` with `text` as its data (PostgreSQL's text format: a line per row, fields
 * separated by tabs, written with copyField). For rows written in bulk behind requests (the request log): PostgreSQL
 * spends some 30% less CPU a row on COPY than on INSERT … SELECT FROM unnest of one array per column, and this process
 * builds one string instead of a dozen arrays that pg then escapes element by element.
 */
export type CopyIn = (statement: string, text: string) => Promise<void>;

/**
 * PostgreSQL: node-postgres has no COPY of its own; pg-copy-streams (by node-postgres's author, no dependencies) adds it
 * as a query that is a writable stream. `timeoutMs` bounds the whole COPY as query_timeout bounds a query (it does
 * not apply to a stream): a store that stops answering fails the write, and its connection is thrown away.
 */
export function postgresCopyIn(pool: pg.Pool, timeoutMs: number | undefined): CopyIn {
  return async (statement, text) => {
    const client = await pool.connect();
    let failure: Error | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = timeoutMs ? setTimeout(() => reject(new Error(`COPY took longer than ${timeoutMs} ms`)), timeoutMs) : undefined;
        const stream = client.query(copyFrom(statement));
        stream.on('finish', () => {
          clearTimeout(timer);
          resolve();
        });
        stream.on('error', (error) => {
          clearTimeout(timer);
          reject(error);
        });
        stream.end(text);
      });
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
      throw error;
    } finally {
      // A connection whose COPY failed or timed out may be mid-protocol: release(error) closes it instead of reusing it.
      client.release(failure);
    }
  };
}

/** PGlite reads COPY data from a Blob named /dev/blob; the statement names it in place of STDIN. */
export function pgliteCopyIn(pool: PGlitePool): CopyIn {
  return async (statement, text) => {
    const connection = await pool.connect();
    try {
      await pool.pglite.copyFrom(statement.replace(/FROM STDIN$/, "FROM '/dev/blob'"), text);
    } finally {
      connection.release();
    }
  };
}

/** The characters COPY's text format gives a meaning to, and how a field spells each. */
const ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const NEEDS_ESCAPE = /[\\\t\n\r]/;
const TO_ESCAPE = /[\\\t\n\r]/g;

/** A field of COPY's text format: \N for null; a backslash, tab, newline or carriage return escaped. */
export function copyField(value: string | null): string {
  if (value === null) return '\\N';
  // Most fields have none of them: a test is cheaper than a replace that finds nothing.
  return NEEDS_ESCAPE.test(value) ? value.replace(TO_ESCAPE, (c) => ESCAPES[c]!) : value;
}
