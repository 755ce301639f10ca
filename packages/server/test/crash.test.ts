import { createServer } from 'node:net';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_COSTS } from '../src/jobs/kinds.ts';
import { ADMIN_TOKEN, createTestStore, TEST_SECRET, usingPostgres } from './harness.ts';
import { UNCAPPED_RATE_LIMITS_ENV } from './fixtures/uncapped-rate-limits.ts';
import { startServerProcess, type ServerProcess } from './server-process.ts';

/**
 * SPEC 6 "one unit of work" against real crashes: the server process is killed (SIGKILL) at random moments while
 * clients send idempotent POSTs of four kinds and retry each until it is answered below 500 (409
 * idempotency_in_progress included). Afterwards every Idempotency-Key has exactly one effect, every effect one audit
 * entry, every started job one charge, and no retry was held up once the server was back. PostgreSQL only: the
 * embedded store is one process's, so there is no other process to find what a dead one left.
 */
const KILLS = 4;
const WORKERS_PER_KIND = 2;
const ORGANIZATION_CREDITS = 1_000_000;
/** Longest a key may be answered 409 in a row while a server is up: a crash must not leave it held. */
const MAX_HELD_MS = 3_000;

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Kind {
  name: 'project' | 'ingest' | 'api_key' | 'webhook_endpoint';
  path: (projectId: string) => string;
  body: (marker: string) => unknown;
}

const KINDS: Kind[] = [
  { name: 'project', path: () => '/v1/projects', body: (marker) => ({ name: marker }) },
  { name: 'ingest', path: (projectId) => `/v1/projects/${projectId}/ingest/github`, body: (marker) => ({ repo: `crash/${marker}` }) },
  { name: 'api_key', path: () => '/v1/api-keys', body: (marker) => ({ name: marker }) },
  { name: 'webhook_endpoint', path: () => '/v1/webhook-endpoints', body: (marker) => ({ url: `https://example.com/hooks/${marker}`, events: ['job.succeeded'] }) },
];

describe.runIf(usingPostgres)('crashes: SIGKILL under idempotent writes', () => {
  let store: Awaited<ReturnType<typeof createTestStore>>;
  let server: ServerProcess | undefined;
  let port: number;
  let baseUrl: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    store = await createTestStore();
    port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    env = {
      DATABASE_URL: store.databaseUrl!,
      PORT: String(port),
      GATEHOUSE_ADMIN_TOKEN: ADMIN_TOKEN,
      GATEHOUSE_SECRET: TEST_SECRET,
      GATEHOUSE_BCRYPT_COST: '10',
      // Jobs fail at once (nothing listens there, and private addresses are refused): each is charged when it starts.
      GATEHOUSE_GITHUB_API_URL: 'http://127.0.0.1:9',
      GATEHOUSE_JOB_START_DELAY_MS: '200',
      GATEHOUSE_JOB_LEASE_MS: '2000',
      GATEHOUSE_WEBHOOK_CONCURRENCY: '0',
      REDIS_URL: '',
      // The clients send as fast as the machine allows: no tier's limit may turn an answer into a 429.
      GATEHOUSE_RATE_LIMITS: UNCAPPED_RATE_LIMITS_ENV,
    };
    server = await startServerProcess(env);
  }, 120_000);

  afterAll(async () => {
    server?.child.kill('SIGKILL');
    await store?.close();
  });

  const call = async (method: string, path: string, headers: Record<string, string>, body?: unknown) => {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> & { error?: { details?: { reason?: string } } } };
  };

  it('leaves exactly one effect, one audit entry and one charge per Idempotency-Key', async () => {
    const adminHeaders = { 'x-admin-token': ADMIN_TOKEN };
    const organization = (await call('POST', '/admin/v1/organizations', adminHeaders, { name: 'Crash', plan: 'partner', rateLimitTier: 'partner', creditBalance: ORGANIZATION_CREDITS })).json;
    const issued = (await call('POST', `/admin/v1/organizations/${organization.id as string}/keys`, adminHeaders, { name: 'crash' })).json;
    const keyHeaders = { 'x-api-key': issued.key as string };
    const project = (await call('POST', '/v1/projects', keyHeaders, { name: 'ingest target' })).json;

    let up = true;
    let killing = true;
    let longestHeldMs = 0;
    const answered: Array<{ kind: Kind['name']; marker: string; id: string }> = [];

    /** Sends one idempotent POST until it is answered below 500. */
    async function settle(kind: Kind, marker: string): Promise<void> {
      const headers = { ...keyHeaders, 'idempotency-key': marker };
      const deadline = Date.now() + 60_000;
      let heldSince: number | undefined;
      while (Date.now() < deadline) {
        let status: number;
        let json: Awaited<ReturnType<typeof call>>['json'] | undefined;
        try {
          ({ status, json } = await call('POST', kind.path(project.id as string), headers, kind.body(marker)));
        } catch {
          status = 0; // the process died under the request, or is not back yet
        }
        if (status === 409 && json?.error?.details?.reason === 'idempotency_in_progress') {
          if (up) heldSince ??= Date.now();
        } else heldSince = undefined;
        if (heldSince !== undefined) longestHeldMs = Math.max(longestHeldMs, Date.now() - heldSince);
        if (status > 0 && status < 500 && status !== 409) {
          expect([200, 201, 202], JSON.stringify(json)).toContain(status);
          answered.push({ kind: kind.name, marker, id: String(json!.id ?? json!.jobId) });
          return;
        }
        await sleep(status === 0 ? 100 : 50);
      }
      throw new Error(`${kind.name} ${marker} was never answered`);
    }

    async function worker(kind: Kind, index: number): Promise<void> {
      for (let n = 0; killing && n < 200; n++) await settle(kind, `crash-${kind.name}-${index}-${n}-${randomUUID().slice(0, 8)}`);
    }

    async function killer(): Promise<void> {
      for (let kill = 0; kill < KILLS; kill++) {
        await sleep(300 + Math.random() * 1_200);
        up = false;
        server!.child.kill('SIGKILL');
        await new Promise((resolve) => server!.child.once('exit', resolve));
        server = await startServerProcess(env);
        up = true;
      }
      await sleep(500);
      killing = false;
    }

    await Promise.all([killer(), ...KINDS.flatMap((kind) => Array.from({ length: WORKERS_PER_KIND }, (_, index) => worker(kind, index)))]);
    // Jobs queued just before the end start (and are charged) after it: let the runner reach them.
    await sleep(3_000);

    const client = new pg.Client({ connectionString: store.databaseUrl });
    await client.connect();
    try {
      const rows = async (text: string, values: unknown[] = []) => (await client.query(text, values)).rows as Array<Record<string, unknown>>;
      const markersOf = (kind: Kind['name']) => answered.filter((entry) => entry.kind === kind);
      // One row per key: the effect each kind leaves, found by the marker its body carried.
      const effects: Record<Kind['name'], { sql: string; action: string }> = {
        project: { sql: `SELECT id, name AS marker FROM projects WHERE name LIKE 'crash-%'`, action: 'project.create' },
        ingest: { sql: `SELECT id, substring(input->>'repo' from 7) AS marker FROM jobs WHERE input->>'repo' LIKE 'crash/%'`, action: 'ingest.github' },
        api_key: { sql: `SELECT id, name AS marker FROM api_keys WHERE name LIKE 'crash-%'`, action: 'key.create' },
        webhook_endpoint: { sql: `SELECT id, substring(url from 27) AS marker FROM webhook_endpoints WHERE url LIKE 'https://example.com/hooks/%'`, action: 'webhook_endpoint.create' },
      };
      for (const kind of KINDS) {
        const made = await rows(effects[kind.name].sql);
        const sent = markersOf(kind.name);
        expect(sent.length, kind.name).toBeGreaterThan(0);
        // Exactly one effect per key, and it is the one the client was answered with.
        expect(made.map((row) => row.marker).sort(), kind.name).toEqual(sent.map((entry) => entry.marker).sort());
        const idOf = new Map(made.map((row) => [row.marker, row.id]));
        for (const entry of sent) expect(idOf.get(entry.marker), entry.marker).toBe(entry.id);
        // One audit entry per effect (replays are marked as such and not counted), and none without an effect (the
        // ingest target, created before the kills without a key, is left out).
        const audited = await rows(
          `SELECT target_id FROM audit_entries WHERE action = $1 AND status < 300 AND (details IS NULL OR NOT details ? 'idempotentReplayOf') AND organization_id = $2 AND target_id <> $3`,
          [effects[kind.name].action, organization.id, project.id],
        );
        expect(audited.map((row) => row.target_id).sort(), kind.name).toEqual(made.map((row) => row.id).sort());
      }
      // Credits: charged once per job that started, never for one that did not; the balance agrees.
      const jobs = await rows(`SELECT started_at, credits_charged FROM jobs WHERE organization_id = $1`, [organization.id]);
      for (const job of jobs) expect(job.credits_charged).toBe(job.started_at ? JOB_COSTS.ingest_github : 0);
      const balance = (await rows(`SELECT credit_balance FROM organizations WHERE id = $1`, [organization.id]))[0]!.credit_balance;
      expect(ORGANIZATION_CREDITS - Number(balance)).toBe(jobs.reduce((sum, job) => sum + Number(job.credits_charged), 0));
    } finally {
      await client.end();
    }
    expect(longestHeldMs).toBeLessThan(MAX_HELD_MS);
    console.info(`crash test: ${answered.length} keys answered across ${KILLS} kills; longest 409 run ${longestHeldMs} ms`);
  }, 240_000);
});
