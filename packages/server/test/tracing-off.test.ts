import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, createTestStore, redisTestUrl, TEST_SECRET, usingPostgres } from './harness.ts';
import { startServerProcess } from './server-process.ts';

/** A module hook that makes every `@opentelemetry/*` import fail, as a build without the packages would. */
const WITHOUT_OPENTELEMETRY = ['--import', fileURLToPath(new URL('./fixtures/without-opentelemetry.mjs', import.meta.url))];

/**
 * SPEC 11: with no OTEL_* variable set, nothing of OpenTelemetry is loaded, so a deployment without traces runs the
 * code a build without the tracing packages would (the bench's "OTEL_* unset" arm measures the same thing as a
 * throughput, where this shows it as a fact).
 */
describe('traces off: no OpenTelemetry module is loaded (SPEC 11)', () => {
  let store: Awaited<ReturnType<typeof createTestStore>> | undefined;
  let dataDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    // PostgreSQL: a database of this test's own; the embedded store: a data directory the server process creates.
    store = usingPostgres ? await createTestStore() : undefined;
    dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-tracing-off-'));
    env = {
      GATEHOUSE_DATA_DIR: dataDir,
      DATABASE_URL: store?.databaseUrl ?? '',
      REDIS_URL: usingPostgres ? redisTestUrl : '',
      GATEHOUSE_ADMIN_TOKEN: ADMIN_TOKEN,
      GATEHOUSE_SECRET: TEST_SECRET,
      GATEHOUSE_BCRYPT_COST: '10',
      OTEL_EXPORTER_OTLP_ENDPOINT: '',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '',
    };
  }, 60_000);
  afterAll(async () => {
    await store?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('npm start issues a key and serves it, writes through the store and answers /metrics with every @opentelemetry import failing', async () => {
    const server = await startServerProcess(env, 60_000, WITHOUT_OPENTELEMETRY);
    try {
      const asOperator = { 'x-admin-token': ADMIN_TOKEN, 'content-type': 'application/json' };
      const organization = await fetch(`${server.baseUrl}/admin/v1/organizations`, {
        method: 'POST',
        headers: asOperator,
        body: JSON.stringify({ name: 'Untraced', plan: 'partner', creditBalance: 100 }),
      });
      expect(organization.status).toBe(201);
      const { id } = (await organization.json()) as { id: string };
      const issued = await fetch(`${server.baseUrl}/admin/v1/organizations/${id}/keys`, { method: 'POST', headers: asOperator, body: JSON.stringify({ name: 'untraced' }) });
      expect(issued.status).toBe(201);
      const { key } = (await issued.json()) as { key: string };

      const whoami = await fetch(`${server.baseUrl}/v1/whoami`, { headers: { 'x-api-key': key } });
      expect(whoami.status).toBe(200);
      expect(((await whoami.json()) as { organizationId: string }).organizationId).toBe(id);
      const project = await fetch(`${server.baseUrl}/v1/projects`, {
        method: 'POST',
        headers: { 'x-api-key': key, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Untraced project' }),
      });
      expect(project.status).toBe(201);
      expect((await fetch(`${server.baseUrl}/metrics`)).status).toBe(200);
      expect((await fetch(`${server.baseUrl}/readyz`)).status).toBe(200);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 90_000);

  it('the same start with an OTLP endpoint set fails on the missing package: the hook does keep OpenTelemetry out', async () => {
    const traced = { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' };
    await expect(startServerProcess(traced, 60_000, WITHOUT_OPENTELEMETRY)).rejects.toThrow(/Cannot find package @opentelemetry\//);
  }, 90_000);
});
