import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../src/db/migrate.ts';
import { postgresUsageSink, requestById } from '../src/usage/repository.ts';
import type { RequestLogEntry, UsageSink } from '../src/usage/sink.ts';
import { createTestStore } from './harness.ts';

/** The request log's rows go to the store through COPY's text format: what is written must read back unchanged. */

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
