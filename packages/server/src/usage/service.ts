import type { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import type { Deps } from '../deps.ts';
import type { EndpointClass } from '../config.ts';
import type { RequestLogRow, Tenant, UsageGranularity } from '../db/schema.ts';
import { ApiError } from '../http/errors.ts';
import { ITEMS_PER_CHUNK } from '../http/json-text.ts';
import { countUsageRows, GRANULARITY_MS, streamUsageRowsText, usageByOrganization, usageRowsJson, type UsageQuery, type UsageRow } from './repository.ts';
import { MAX_RANGE_DAYS, MAX_USAGE_ROWS } from './schemas.ts';

const DAY_MS = 86_400_000;

const invalid = (path: string, message: string) => new ApiError('VALIDATION_FAILED', 'The request is not valid.', { issues: [{ path, message }] });

export interface UsageParams {
  from?: string | undefined;
  to?: string | undefined;
  granularity: UsageGranularity;
  apiKeyId?: string | undefined;
  endpointClass?: EndpointClass | undefined;
  organizationId?: string | undefined;
}

/**
 * The range of a usage query: `to` defaults to now, `from` to a day earlier and is rounded down to the granularity,
 * so the bucket that holds it is answered whole. `from` after `to`, or more than 31 days, is a 422 naming the field.
 */
export function usageRange(params: UsageParams, now: number): { from: Date; to: Date } {
  const to = params.to === undefined ? now : Date.parse(params.to);
  const requestedFrom = params.from === undefined ? to - DAY_MS : Date.parse(params.from);
  if (requestedFrom > to) throw invalid('query.from', 'must not be after to');
  if (to - requestedFrom > MAX_RANGE_DAYS * DAY_MS) throw invalid(params.from === undefined ? 'query.to' : 'query.from', `must be at most ${MAX_RANGE_DAYS} days before to`);
  const size = GRANULARITY_MS[params.granularity];
  return { from: new Date(requestedFrom - (((requestedFrom % size) + size) % size)), to: new Date(to) };
}

function bounded(rows: number): void {
  if (rows > MAX_USAGE_ROWS) {
    throw invalid('query.granularity', `the answer would hold more than ${MAX_USAGE_ROWS} rows: choose a coarser granularity, a shorter range, an apiKeyId or an endpointClass`);
  }
}

/**
 * A usage answer's rows, oldest first: each as its JSON text, or (a large answer on PostgreSQL) the text of all of them
 * as array elements, arriving as the store sends it. The route sends them as `{ "data": [...] }`.
 */
export type UsageAnswer = readonly string[] | Readable;

/**
 * Rows per key and class (usageRowsJson), checked against MAX_USAGE_ROWS before the answer begins. On PostgreSQL the
 * rows are read as a stream while a count checks the bound on another connection: the stream waits, unread, for the
 * count, and a refused range ends it. An answer of one chunk or less is gathered and sent whole.
 */
async function usageByKey(deps: Deps, query: UsageQuery, withOrganization: boolean): Promise<UsageAnswer> {
  const { db, pgPool } = deps.store;
  if (!pgPool) {
    const rows = await usageRowsJson(db, query, MAX_USAGE_ROWS + 1, withOrganization);
    bounded(rows.length);
    return rows;
  }
  const elements = streamUsageRowsText(pgPool, db, query, MAX_USAGE_ROWS, withOrganization);
  let count: number;
  try {
    count = await countUsageRows(db, query, MAX_USAGE_ROWS + 1);
    bounded(count);
  } catch (error) {
    elements.destroy();
    throw error;
  }
  if (count > ITEMS_PER_CHUNK) return elements;
  // All the rows' text as one item: sendJsonData joins items with commas, and this text has its own.
  return [await text(elements)];
}

/** An organization's usage in one env per (time, key, class), oldest first. */
export async function organizationUsage(deps: Deps, tenant: Tenant, params: UsageParams): Promise<UsageAnswer> {
  const range = usageRange(params, deps.now());
  return usageByKey(deps, { ...params, ...range, organizationId: tenant.organizationId, env: tenant.env }, false);
}

/** Operators: one organization's (or one key's) rows per key, or every organization's, summed per organization. */
export async function adminUsage(deps: Deps, params: UsageParams): Promise<UsageAnswer> {
  const range = usageRange(params, deps.now());
  const query = { ...params, ...range };
  if (params.organizationId || params.apiKeyId) return usageByKey(deps, query, true);
  const rows = await usageByOrganization(deps.store.db, query, MAX_USAGE_ROWS + 1);
  bounded(rows.length);
  return rows.map((row) => JSON.stringify(presentAdminUsageRow(row)));
}

export const presentUsageRow = (row: UsageRow) => ({
  time: new Date(row.time).toISOString(),
  env: row.env,
  apiKeyId: row.apiKeyId,
  endpointClass: row.endpointClass,
  requests: row.requests,
  status2xx: row.status2xx,
  status4xx: row.status4xx,
  status5xx: row.status5xx,
  rateLimited: row.rateLimited,
  creditsCharged: row.creditsCharged,
});

export const presentAdminUsageRow = (row: UsageRow) => ({ ...presentUsageRow(row), organizationId: row.organizationId });

export const presentRequestLogRow = (row: RequestLogRow) => ({
  requestId: row.request_id,
  time: row.occurred_at.toISOString(),
  env: row.env,
  apiKeyId: row.api_key_id,
  method: row.method,
  route: row.route,
  status: row.status,
  errorCode: row.error_code,
  endpointClass: row.endpoint_class,
  durationMs: Math.round(row.duration_ms * 100) / 100,
  clientAddress: row.client_address,
});

export const presentAdminRequestLogRow = (row: RequestLogRow) => ({ ...presentRequestLogRow(row), organizationId: row.organization_id });
