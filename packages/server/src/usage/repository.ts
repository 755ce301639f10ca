import { pipeline, Transform, type Readable } from 'node:stream';
import { sql, type Kysely } from 'kysely';
import type pg from 'pg';
import type { EndpointClass } from '../config.ts';
import type { Database, Env, RequestLogRow, Tenant, UsageGranularity } from '../db/schema.ts';
import type { KeysetPosition } from '../db/keyset.ts';
import { copyField, type CopyIn } from '../db/copy-in.ts';
import { copyRowsOut } from '../db/copy-out.ts';
import type { RequestLogEntry, UsageIncrement, UsageSink } from './sink.ts';

type Db = Kysely<Database>;

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/**
 * Increments per statement. Each is sent once, as one element of an array per column (ten arrays, each one parameter),
 * and becomes three rows in the statement: 5,000 keep a statement's parameters near a megabyte.
 */
const CHUNK = 5_000;

export const GRANULARITY_MS: Readonly<Record<UsageGranularity, number>> = { minute: MINUTE_MS, hour: HOUR_MS, day: DAY_MS };

/** Elements that need no quoting in an array literal: ids, classes, envs and integers here are all of this kind. */
const BARE_ELEMENT = /^[0-9A-Za-z_-]+$/;

/**
 * A PostgreSQL array literal, built once for a whole column: node-postgres would otherwise quote and escape each of
 * a batch's elements. An element outside BARE_ELEMENT is quoted all the same, so any value stays safe.
 */
function arrayLiteral(values: readonly (string | number)[]): string {
  let text = '{';
  for (let index = 0; index < values.length; index++) {
    const value = values[index]!;
    const element = typeof value === 'number' || BARE_ELEMENT.test(value) ? String(value) : `"${value.replace(/["\\]/g, '\\$&')}"`;
    text += index === 0 ? element : `,${element}`;
  }
  return `${text}}`;
}

/** Increments ordered by organization, key, class and minute: the order their rows are locked in (see addUsage). */
function lockOrder(a: UsageIncrement, b: UsageIncrement): number {
  if (a.organizationId !== b.organizationId) return a.organizationId < b.organizationId ? -1 : 1;
  if (a.apiKeyId !== b.apiKeyId) return a.apiKeyId < b.apiKeyId ? -1 : 1;
  if (a.endpointClass !== b.endpointClass) return a.endpointClass < b.endpointClass ? -1 : 1;
  return a.minute - b.minute;
}

/**
 * Each increment is added to its minute, hour and day row (UTC buckets of epoch time). PostgreSQL makes the three
 * rows of each increment, merges the rows a statement would otherwise update twice (GROUP BY), and upserts them in
 * (organization, key, class, granularity, bucket) order. Increments are sorted the same way before they are cut into
 * statements, so every transaction, on every instance, locks rows in one global order and none can deadlock another.
 * Expanding and merging in JavaScript instead (three string-keyed rows an increment, sorted as strings, sent as
 * three times the arrays) cost this process some 4 s of CPU for 100,000 keys' increments on PostgreSQL.
 */
async function addUsage(db: Db, increments: readonly UsageIncrement[]): Promise<void> {
  if (increments.length === 0) return;
  const sorted = increments.length > CHUNK ? [...increments].sort(lockOrder) : increments;
  // One transaction: the minute, hour and day rows of a batch are stored together or not at all.
  await db.transaction().execute(async (trx) => {
    for (let start = 0; start < sorted.length; start += CHUNK) {
      const chunk = sorted.slice(start, start + CHUNK);
      const column = (pick: (increment: UsageIncrement) => string | number) => arrayLiteral(chunk.map(pick));
      await sql`
        INSERT INTO usage_counts (organization_id, granularity, bucket, api_key_id, endpoint_class,
          requests, status_2xx, status_4xx, status_5xx, rate_limited, credits_charged, env)
        SELECT i.organization_id, g.granularity, to_timestamp(((i.minute / g.size) * g.size) / 1000.0), i.api_key_id,
          i.endpoint_class, sum(i.requests), sum(i.status_2xx), sum(i.status_4xx), sum(i.status_5xx), sum(i.rate_limited),
          sum(i.credits_charged), i.env
        FROM unnest(${column((i) => i.organizationId)}::uuid[], ${column((i) => i.apiKeyId)}::uuid[],
          ${column((i) => i.endpointClass)}::text[], ${column((i) => i.env)}::text[], ${column((i) => i.minute)}::bigint[],
          ${column((i) => i.requests)}::bigint[], ${column((i) => i.status2xx)}::bigint[], ${column((i) => i.status4xx)}::bigint[],
          ${column((i) => i.status5xx)}::bigint[], ${column((i) => i.rateLimited)}::bigint[], ${column((i) => i.creditsCharged)}::bigint[])
          AS i (organization_id, api_key_id, endpoint_class, env, minute, requests, status_2xx, status_4xx, status_5xx,
            rate_limited, credits_charged)
        CROSS JOIN (VALUES ('minute', ${MINUTE_MS}::bigint), ('hour', ${HOUR_MS}::bigint), ('day', ${DAY_MS}::bigint)) AS g (granularity, size)
        GROUP BY i.organization_id, i.api_key_id, i.endpoint_class, g.granularity, (i.minute / g.size) * g.size, i.env
        ORDER BY i.organization_id, i.api_key_id, i.endpoint_class, g.granularity, (i.minute / g.size) * g.size
        ON CONFLICT (organization_id, granularity, bucket, api_key_id, endpoint_class) DO UPDATE SET
          requests = usage_counts.requests + excluded.requests,
          status_2xx = usage_counts.status_2xx + excluded.status_2xx,
          status_4xx = usage_counts.status_4xx + excluded.status_4xx,
          status_5xx = usage_counts.status_5xx + excluded.status_5xx,
          rate_limited = usage_counts.rate_limited + excluded.rate_limited,
          credits_charged = usage_counts.credits_charged + excluded.credits_charged
      `.execute(trx);
    }
  });
}

const REQUEST_LOG_COPY =
  'COPY request_log (request_id, occurred_at, organization_id, api_key_id, env, method, route, status, error_code, endpoint_class, duration_ms, client_address) FROM STDIN';

/**
 * One COPY per batch. Request ids are unique by construction (a random part per process and a counter), so a batch
 * needs no ON CONFLICT, which COPY could not do: a duplicate would fail its batch, which the writer counts as dropped.
 */
function appendRequests(copyIn: CopyIn, entries: readonly RequestLogEntry[]): Promise<void> {
  let text = '';
  for (const e of entries) {
    text += `${copyField(e.requestId)}\t${new Date(e.at).toISOString()}\t${copyField(e.organizationId)}\t${copyField(e.apiKeyId)}\t${e.env}\t${copyField(e.method)}\t${copyField(e.route)}\t${e.status}\t${copyField(e.errorCode)}\t${copyField(e.endpointClass)}\t${e.durationMs}\t${copyField(e.clientAddress)}\n`;
  }
  return copyIn(REQUEST_LOG_COPY, text);
}

/** The store every deployment has: PostgreSQL (or PGlite). */
export const postgresUsageSink = (db: Db, copyIn: CopyIn): UsageSink => ({
  addUsage: (increments) => addUsage(db, increments),
  appendRequests: (entries) => (entries.length === 0 ? Promise.resolve() : appendRequests(copyIn, entries)),
});

export interface UsageQuery {
  granularity: UsageGranularity;
  from: Date;
  to: Date;
  organizationId?: string | undefined;
  /** A partner's usage is its key's env's only (SPEC 12); operators see both. */
  env?: Env | undefined;
  apiKeyId?: string | undefined;
  endpointClass?: EndpointClass | undefined;
}

export interface UsageRow {
  /** The bucket's start, in epoch milliseconds (read as a number: parsing thousands of timestamps costs more). */
  time: number;
  organizationId: string;
  env: Env;
  apiKeyId: string | null;
  endpointClass: string | null;
  requests: number;
  status2xx: number;
  status4xx: number;
  status5xx: number;
  rateLimited: number;
  creditsCharged: number;
}

const bucketMs = sql<number>`(extract(epoch from bucket) * 1000)::float8`.as('time');

const sums = [
  sql<number>`sum(requests)::float8`.as('requests'),
  sql<number>`sum(status_2xx)::float8`.as('status2xx'),
  sql<number>`sum(status_4xx)::float8`.as('status4xx'),
  sql<number>`sum(status_5xx)::float8`.as('status5xx'),
  sql<number>`sum(rate_limited)::float8`.as('rateLimited'),
  sql<number>`sum(credits_charged)::float8`.as('creditsCharged'),
] as const;

function usageBase(db: Db, query: UsageQuery) {
  let select = db
    .selectFrom('usage_counts')
    .where('granularity', '=', query.granularity)
    .where('bucket', '>=', query.from)
    .where('bucket', '<', query.to);
  if (query.organizationId) select = select.where('organization_id', '=', query.organizationId);
  if (query.env) select = select.where('env', '=', query.env);
  if (query.apiKeyId) select = select.where('api_key_id', '=', query.apiKeyId);
  if (query.endpointClass) select = select.where('endpoint_class', '=', query.endpointClass);
  return select;
}

/**
 * Rows per (time, key, class) of one organization, oldest first; at most `limit` (the caller asks for one more than
 * it answers, to tell a range too large to answer). Served by the primary key (organization, granularity, bucket, …),
 * which reads the rows in the answer's order: no sort. usageRowsJson reads it as JSON text.
 */
function usageByKeyQuery(db: Db, query: UsageQuery, limit: number) {
  return usageBase(db, query)
    .select(['organization_id as organizationId', 'env', 'api_key_id as apiKeyId', 'endpoint_class as endpointClass'])
    .select(bucketMs)
    .select([
      sql<number>`requests::float8`.as('requests'),
      sql<number>`status_2xx::float8`.as('status2xx'),
      sql<number>`status_4xx::float8`.as('status4xx'),
      sql<number>`status_5xx::float8`.as('status5xx'),
      sql<number>`rate_limited::float8`.as('rateLimited'),
      sql<number>`credits_charged::float8`.as('creditsCharged'),
    ])
    .orderBy('bucket')
    .orderBy('api_key_id')
    .orderBy('endpoint_class')
    .limit(limit);
}

/**
 * One usage row as the JSON text of UsageRowSchema (with `organizationId` for operators), in its fields' order. Text
 * concatenation, not json_agg of records: json_agg looks up each column's output function and escapes every value,
 * row after row, and over 31,000 rows that cost most of the answer's time. Only endpoint_class is free text here
 * (env is checked, ids are uuids, counts are integers), so it alone goes through to_json.
 */
function usageRowJson(withOrganization: boolean) {
  return sql<string>`'{"time":"' || to_char(bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')${
    withOrganization ? sql` || '","organizationId":"' || organization_id::text` : sql``
  } || '","env":"' || env || '","apiKeyId":"' || api_key_id::text || '","endpointClass":' || to_json(endpoint_class)::text
    || ',"requests":' || requests::text || ',"status2xx":' || status_2xx::text || ',"status4xx":' || status_4xx::text
    || ',"status5xx":' || status_5xx::text || ',"rateLimited":' || rate_limited::text || ',"creditsCharged":' || credits_charged::text || '}'`;
}

/**
 * usageByKeyQuery's rows, each as its JSON text, in the answer's order. PostgreSQL writes each row's text
 * (usageRowJson) and hands the rows over as it reads them off the index; the route streams them out in chunks. One
 * string for the whole answer cost most of its time: a 31-day answer for 1,000 keys is 7 MB, and every copy of it
 * (string_agg's growing buffer, the driver's, the decoded string, the encoded body) is memory touched for the first
 * time, some 20 ms per copy on a virtual machine, where rows of 220 bytes reuse memory touched before.
 */
export async function usageRowsJson(db: Db, query: UsageQuery, limit: number, withOrganization: boolean): Promise<string[]> {
  return db.transaction().execute(async (trx) => {
    await usageReadPlan(query).execute(trx);
    const rows = await usageRowsJsonQuery(trx, query, limit, withOrganization).execute();
    return rows.map((row) => row.json);
  });
}

/**
 * Planner settings for the usage read, for its transaction only. No parallel workers and no bitmap scan: left to
 * itself, PostgreSQL planned a parallel bitmap scan, sorted each worker's share and merged them (Gather Merge), 110-150
 * ms of execution for 31 days of 1,000 keys' rows against 50-80 ms for the primary key's index scan (interleaved, bench
 * data), and the workers competed with the requests being answered for the machine's cores. With an organization
 * (the primary key's leading column), no sequential scan and no sort either: once the table also held a second
 * organization of the same size, PostgreSQL read all of it and sorted the range on disk, 330-600 ms against some
 * 100, where the primary key hands the rows over in the answer's order from the first.
 */
export function usageReadPlan(query: Pick<UsageQuery, 'organizationId'>) {
  const byPrimaryKey = query.organizationId ? sql`, set_config('enable_seqscan', 'off', true), set_config('enable_sort', 'off', true)` : sql``;
  return sql`SELECT set_config('max_parallel_workers_per_gather', '0', true), set_config('enable_bitmapscan', 'off', true)${byPrimaryKey}`;
}

/**
 * usageRowsJson's rows on PostgreSQL as the text of a JSON array's elements, comma-separated (a newline after each),
 * as PostgreSQL sends them (db/copy-out.ts), so the route streams a large answer out while the rest is read: the
 * read, the answer's writing and the client's reading overlap instead of following each other (a 31-day answer for
 * 1,000 keys is 7 MB). Every row's text starts with its separator; the first row's is dropped here. Destroying the
 * returned stream ends the read and frees its connection.
 */
export function streamUsageRowsText(pool: pg.Pool, db: Db, query: UsageQuery, limit: number, withOrganization: boolean): Readable {
  const statement = usageByKeyQuery(db, query, limit).clearSelect().select(sql<string>`',' || ${usageRowJson(withOrganization)}`.as('json'));
  const rows = copyRowsOut(pool, statement.compile(), { setup: usageReadPlan(query).compile(db) });
  let first = true;
  const elements = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      done(null, first ? chunk.subarray(1) : chunk);
      first = false;
    },
  });
  // Either end's destruction reaches the other: a reader gone ends the COPY.
  pipeline(rows, elements, () => {});
  return elements;
}

/**
 * How many rows usageRowsJson would answer, counting no further than `limit`: the bound an answer is checked
 * against before its first byte goes out. Counted off the same index, without the rows' text.
 */
export async function countUsageRows(db: Db, query: UsageQuery, limit: number): Promise<number> {
  const within = usageBase(db, query).select(sql<number>`1`.as('one')).limit(limit).as('within');
  const { n } = await db.selectFrom(within).select(sql<number>`count(*)::int`.as('n')).executeTakeFirstOrThrow();
  return n;
}

/** The statement usageRowsJson runs (the benchmark EXPLAINs it). */
export function usageRowsJsonQuery(db: Db, query: UsageQuery, limit: number, withOrganization: boolean) {
  return usageByKeyQuery(db, query, limit).clearSelect().select(usageRowJson(withOrganization).as('json'));
}

/** Operators, across organizations: one row per (time, organization, env), every key and class summed. */
export async function usageByOrganization(db: Db, query: UsageQuery, limit: number): Promise<UsageRow[]> {
  const rows = await usageBase(db, query)
    .select(['organization_id as organizationId', 'env', bucketMs, ...sums])
    .groupBy(['bucket', 'organization_id', 'env'])
    .orderBy('bucket')
    .orderBy('organization_id')
    .orderBy('env')
    .limit(limit)
    .execute();
  return rows.map((row) => ({ ...row, apiKeyId: null, endpointClass: null }));
}

export interface RequestFilter {
  apiKeyId?: string | undefined;
  status?: number | undefined;
  errorCode?: string | undefined;
}

/** An organization's request log, newest first, off request_log_organization_page. */
export function listRequests(db: Db, tenant: Tenant, filter: RequestFilter, limit: number, after?: KeysetPosition): Promise<RequestLogRow[]> {
  return listRequestsQuery(db, tenant, filter, limit, after).execute();
}

/** The statement listRequests runs (the benchmark EXPLAINs it). */
export function listRequestsQuery(db: Db, tenant: Tenant, filter: RequestFilter, limit: number, after?: KeysetPosition) {
  let query = db.selectFrom('request_log').selectAll().where('organization_id', '=', tenant.organizationId).where('env', '=', tenant.env);
  if (filter.apiKeyId) query = query.where('api_key_id', '=', filter.apiKeyId);
  if (filter.status !== undefined) query = query.where('status', '=', filter.status);
  if (filter.errorCode) query = query.where('error_code', '=', filter.errorCode);
  if (after) query = query.where(sql<boolean>`(occurred_at, request_id) < (${after.at}, ${after.id})`);
  return query.orderBy('occurred_at', 'desc').orderBy('request_id', 'desc').limit(limit);
}

/** One row by its request id; with `tenant`, only that organization's and env's (another's is absent, as for 404). */
export function requestById(db: Db, requestId: string, tenant?: Tenant): Promise<RequestLogRow | undefined> {
  let query = db.selectFrom('request_log').selectAll().where('request_id', '=', requestId);
  if (tenant !== undefined) query = query.where('organization_id', '=', tenant.organizationId).where('env', '=', tenant.env);
  return query.executeTakeFirst();
}

/** Rows deleted per statement, so a sweep never holds long locks or a huge transaction. */
const SWEEP_BATCH = 10_000;

export interface RetentionCutoffs {
  minute: Date;
  hour: Date;
  day: Date;
  requestLog: Date;
}

/** Deletes what retention no longer keeps, in bounded batches; answers how many rows went. */
export async function sweepExpired(db: Db, cutoffs: RetentionCutoffs): Promise<number> {
  let deleted = 0;
  for (const granularity of ['minute', 'hour', 'day'] as const) {
    for (;;) {
      const result = await sql`
        DELETE FROM usage_counts WHERE ctid IN (
          SELECT ctid FROM usage_counts WHERE granularity = ${granularity} AND bucket < ${cutoffs[granularity]} LIMIT ${SWEEP_BATCH})
      `.execute(db);
      const count = Number(result.numAffectedRows ?? 0);
      deleted += count;
      if (count < SWEEP_BATCH) break;
    }
  }
  return deleted + (await sweepExpiredRequestLog(db, cutoffs.requestLog));
}

/**
 * The request log's rows older than `cutoff`, a batch at a time, all off request_log_organization_page (the log has no
 * index on its time alone: writing one cost some 2.5 µs of PostgreSQL CPU a row). The organizations and envs present
 * come from the index itself, one probe each (a loose index scan), and each one's expired rows are the end of its
 * range. Rows of no organization (answers to no key) are one more range of the same index.
 */
async function sweepExpiredRequestLog(db: Db, cutoff: Date): Promise<number> {
  const ofOrganizations = sql`
    WITH RECURSIVE logged (organization_id, env) AS (
      (SELECT organization_id, env FROM request_log WHERE organization_id IS NOT NULL ORDER BY organization_id, env LIMIT 1)
      UNION ALL
      SELECT following.organization_id, following.env FROM logged CROSS JOIN LATERAL (
        SELECT organization_id, env FROM request_log
        WHERE (organization_id, env) > (logged.organization_id, logged.env)
        ORDER BY organization_id, env LIMIT 1
      ) following
    )
    DELETE FROM request_log WHERE request_id = ANY(ARRAY(
      SELECT expired.request_id FROM logged CROSS JOIN LATERAL (
        SELECT request_id FROM request_log
        WHERE organization_id = logged.organization_id AND env = logged.env AND occurred_at < ${cutoff}
        LIMIT ${SWEEP_BATCH}
      ) expired
      LIMIT ${SWEEP_BATCH}))`;
  // Both envs the column admits (its CHECK, migration 0020): each is a range of the index that occurred_at bounds.
  const ofNoOrganization = sql`
    DELETE FROM request_log WHERE request_id = ANY(ARRAY(
      SELECT request_id FROM request_log WHERE organization_id IS NULL AND env IN ('live', 'test') AND occurred_at < ${cutoff} LIMIT ${SWEEP_BATCH}))`;
  let deleted = 0;
  for (const statement of [ofOrganizations, ofNoOrganization]) {
    for (;;) {
      const count = Number((await statement.execute(db)).numAffectedRows ?? 0);
      deleted += count;
      if (count < SWEEP_BATCH) break;
    }
  }
  return deleted;
}

/** The console's charts: one row per bucket, every key and class summed (at most one row per bucket in the range). */
export async function usageSeries(db: Db, query: UsageQuery) {
  const rows = await usageBase(db, query).select([bucketMs, ...sums]).groupBy('bucket').orderBy('bucket').execute();
  return rows.map((row) => ({ ...row, time: new Date(row.time).toISOString() }));
}

/**
 * The console's "top keys" tables: the range summed per key (and per class when `byClass`), the `limit` largest by
 * `order`. With an organization, served by the primary key's prefix; across organizations, by usage_counts_expiry.
 */
export async function usageTopKeys(db: Db, query: UsageQuery, order: 'requests' | 'rateLimited', limit: number, byClass: boolean) {
  const column = order === 'requests' ? sql`sum(requests)` : sql`sum(rate_limited)`;
  const rows = await usageBase(db, query)
    .select(['organization_id as organizationId', 'api_key_id as apiKeyId'])
    .$if(byClass, (select) => select.select('endpoint_class as endpointClass').groupBy('endpoint_class'))
    .select(sums.slice(0))
    .groupBy(['organization_id', 'api_key_id'])
    .$if(order === 'rateLimited', (select) => select.having(sql`sum(rate_limited)`, '>', 0))
    .orderBy(column, 'desc')
    .orderBy('api_key_id')
    .limit(limit)
    .execute();
  return rows as Array<(typeof rows)[number] & { endpointClass?: string }>;
}
