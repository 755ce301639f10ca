import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../src/db/migrate.ts';
import { postgresUsageSink, requestById } from '../src/usage/repository.ts';
import type { RequestLogEntry, UsageIncrement, UsageSink } from '../src/usage/sink.ts';
import { createTestStore } from './harness.ts';

/**
 * The usage sink against the real store. The request log's rows go through COPY's text format: what is written must
 * read back unchanged. Usage increments each become their minute, hour and day rows in the statement that writes them,
 * and batches larger than one statement, written at once by several writers, neither deadlock nor lose a count.
 */

let store: Awaited<ReturnType<typeof createTestStore>>;
let sink: UsageSink;

beforeAll(async () => {
  store = await createTestStore();
  await migrateToLatest(store.db);
  sink = postgresUsageSink(store.db, store.copyIn);
});
afterAll(() => store.close());

const entry = (requestId: string, fields: Partial<RequestLogEntry> = {}): RequestLogEntry => ({
  requestId,
  at: Date.parse('2026-11-30T12:34:56.789Z'),
  organizationId: '7f1c1d3e-8a4b-4c2d-9e0f-1a2b3c4d5e6f',
  apiKeyId: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
  env: 'test',
  method: 'POST',
  route: '/v1/projects/:id',
  status: 422,
  errorCode: 'VALIDATION_FAILED',
  endpointClass: 'write-light',
  durationMs: 12.5,
  clientAddress: '2001:db8::1',
  ...fields,
});

describe('request log rows through COPY', () => {
  it('reads back every field as written, nulls and characters COPY gives a meaning to included', async () => {
    const hostile = 'a\tb\nc\rd\\e\\N';
    const written = [
      entry('req_copy_full'),
      entry('req_copy_nulls', { organizationId: null, apiKeyId: null, env: 'live', route: null, errorCode: null, endpointClass: null, clientAddress: null, status: 404 }),
      entry('req_copy_hostile', { method: hostile, route: hostile, errorCode: hostile, clientAddress: hostile }),
    ];
    await sink.appendRequests(written);
    for (const expected of written) {
      const row = await requestById(store.db, expected.requestId);
      expect(row).toMatchObject({
        request_id: expected.requestId,
        organization_id: expected.organizationId,
        api_key_id: expected.apiKeyId,
        env: expected.env,
        method: expected.method,
        route: expected.route,
        status: expected.status,
        error_code: expected.errorCode,
        endpoint_class: expected.endpointClass,
        duration_ms: expected.durationMs,
        client_address: expected.clientAddress,
      });
      expect(new Date(row!.occurred_at).getTime()).toBe(expected.at);
    }
  });

  it('fails a batch that repeats a stored request id as a whole, and keeps what was stored before', async () => {
    await sink.appendRequests([entry('req_copy_kept')]);
    await expect(sink.appendRequests([entry('req_copy_new'), entry('req_copy_kept', { status: 500 })])).rejects.toThrow();
    expect(await requestById(store.db, 'req_copy_new')).toBeUndefined();
    expect((await requestById(store.db, 'req_copy_kept'))?.status).toBe(422);
    // The store is usable after the failed COPY (PostgreSQL closes that connection; PGlite's one goes on).
    await sink.appendRequests([entry('req_copy_after')]);
    expect(await requestById(store.db, 'req_copy_after')).toBeDefined();
  });
});

const increment = (organizationId: string, apiKeyId: string, minute: string, fields: Partial<UsageIncrement> = {}): UsageIncrement => ({
  organizationId,
  apiKeyId,
  env: 'live',
  endpointClass: 'read-light',
  minute: Date.parse(minute),
  requests: 1,
  status2xx: 1,
  status4xx: 0,
  status5xx: 0,
  rateLimited: 0,
  creditsCharged: 0,
  ...fields,
});

interface StoredRow {
  granularity: string;
  bucket: string;
  requests: number;
  status_4xx: number;
  rate_limited: number;
  credits_charged: number;
}

async function rowsOf(organizationId: string): Promise<StoredRow[]> {
  const { rows } = await sql<StoredRow>`
    SELECT granularity, to_char(bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI') AS bucket, requests::int AS requests,
      status_4xx::int AS status_4xx, rate_limited::int AS rate_limited, credits_charged::int AS credits_charged
    FROM usage_counts WHERE organization_id = ${organizationId} ORDER BY granularity, bucket, api_key_id, endpoint_class`.execute(store.db);
  return rows;
}

describe('usage increments in the store', () => {
  it('adds each increment to its UTC minute, hour and day, and merges increments that share a row', async () => {
    const organizationId = randomUUID();
    const apiKeyId = randomUUID();
    await sink.addUsage([
      increment(organizationId, apiKeyId, '2026-11-30T23:59:00Z', { requests: 3, status2xx: 1, status4xx: 2, rateLimited: 2 }),
      // The same key, class and minute again (a batch given back after a failed write, then counted on): one row.
      increment(organizationId, apiKeyId, '2026-11-30T23:59:00Z', { requests: 2, status2xx: 2 }),
      increment(organizationId, apiKeyId, '2026-12-01T00:00:00Z', { endpointClass: 'long-running', creditsCharged: 5 }),
    ]);
    expect(await rowsOf(organizationId)).toEqual([
      { granularity: 'day', bucket: '2026-11-30T00:00', requests: 5, status_4xx: 2, rate_limited: 2, credits_charged: 0 },
      { granularity: 'day', bucket: '2026-12-01T00:00', requests: 1, status_4xx: 0, rate_limited: 0, credits_charged: 5 },
      { granularity: 'hour', bucket: '2026-11-30T23:00', requests: 5, status_4xx: 2, rate_limited: 2, credits_charged: 0 },
      { granularity: 'hour', bucket: '2026-12-01T00:00', requests: 1, status_4xx: 0, rate_limited: 0, credits_charged: 5 },
      { granularity: 'minute', bucket: '2026-11-30T23:59', requests: 5, status_4xx: 2, rate_limited: 2, credits_charged: 0 },
      { granularity: 'minute', bucket: '2026-12-01T00:00', requests: 1, status_4xx: 0, rate_limited: 0, credits_charged: 5 },
    ]);
  });

  it('takes batches of many statements from several writers at once without a deadlock or a lost count', async () => {
    const organizationId = randomUUID();
    const keys = Array.from({ length: 6_000 }, () => randomUUID());
    const minutes = ['2026-11-30T10:58:00Z', '2026-11-30T11:02:00Z'];
    // Each writer's batch covers every key in both minutes (more increments than one statement takes), in an order
    // of its own: sorted into one lock order, they can only wait for each other, never in a cycle.
    const batch = (shift: number) =>
      keys.flatMap((_, index) => {
        const apiKeyId = keys[(index + shift) % keys.length]!;
        return minutes.map((minute) => increment(organizationId, apiKeyId, minute));
      });
    await Promise.all([sink.addUsage(batch(0)), sink.addUsage(batch(2_999)), sink.addUsage(batch(4_321).reverse())]);
    const { rows } = await sql<{ granularity: string; rows: number; total: number; least: number; most: number }>`
      SELECT granularity, count(*)::int AS rows, sum(requests)::int AS total, min(requests)::int AS least, max(requests)::int AS most
      FROM usage_counts WHERE organization_id = ${organizationId} GROUP BY granularity ORDER BY granularity`.execute(store.db);
    expect(rows).toEqual([
      { granularity: 'day', rows: 6_000, total: 36_000, least: 6, most: 6 },
      { granularity: 'hour', rows: 12_000, total: 36_000, least: 3, most: 3 },
      { granularity: 'minute', rows: 12_000, total: 36_000, least: 3, most: 3 },
    ]);
  });
});
