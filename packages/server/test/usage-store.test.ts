import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../src/db/migrate.ts';
import { postgresUsageSink } from '../src/usage/repository.ts';
import type { UsageIncrement, UsageSink } from '../src/usage/sink.ts';
import { createTestStore } from './harness.ts';

/**
 * Usage increments through the store's sink: each becomes its minute, hour and day row in the statement that writes
 * it, and batches larger than one statement, written at once by several writers, neither deadlock nor lose a count.
 */

let store: Awaited<ReturnType<typeof createTestStore>>;
let sink: UsageSink;

beforeAll(async () => {
  store = await createTestStore();
  await migrateToLatest(store.db);
  sink = postgresUsageSink(store.db, store.copyIn);
});
afterAll(() => store.close());

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
