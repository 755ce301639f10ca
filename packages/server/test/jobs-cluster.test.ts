import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore, type Store } from '../src/db/create-db.ts';
import { partnerWithKey } from './factories.ts';
import { sendJson, sleep, startFakeUpstream, type FakeUpstream } from './fixtures/fake-upstream.ts';
import { creditBalance, ingest, insertProject, waitForJob } from './fixtures/jobs.ts';
import { ADMIN_TOKEN, createTestStore, startTestApp, TEST_SECRET, type TestApp, usingPostgres } from './harness.ts';

const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const INSTANCE_SCRIPT = fileURLToPath(new URL('./fixtures/instance.ts', import.meta.url));
const LEASE_MS = 1_500;

describe.runIf(usingPostgres)('jobs across instances on one PostgreSQL', () => {
  const hungOnce = new Set<string>();
  let upstream: FakeUpstream;
  let store: Store & { databaseUrl?: string };
  let api: TestApp;

  beforeAll(async () => {
    // `once.*` hangs on its first request and answers afterwards; everything else answers after a short pause.
    upstream = await startFakeUpstream(async (_request, response, url) => {
      const bundleId = url.searchParams.get('bundleId') ?? '';
      if (bundleId.startsWith('once.') && !hungOnce.has(bundleId)) {
        hungOnce.add(bundleId);
        return;
      }
      await sleep(20);
      sendJson(response, 200, { resultCount: 1, results: [{ trackName: `App ${bundleId}`, trackViewUrl: `https://apps.example/${bundleId}` }] });
    });
    store = await createTestStore();
    api = await instanceOn(store, { concurrency: 0 });
  });
  afterAll(async () => {
    await api?.close();
    await store?.close();
    await upstream?.close();
  });

  const upstreams = () => ({ appstoreLookupUrl: `${upstream.origin}/lookup`, playstoreUrl: upstream.origin, githubApiUrl: upstream.origin, allowPrivate: true });

  function instanceOn(instanceStore: Store, jobs: { concurrency?: number; leaseMs?: number; pollMs?: number }): Promise<TestApp> {
    return startTestApp({ store: instanceStore, config: { upstreams: upstreams(), jobs: { pollMs: 50, startDelayMs: 0, ...jobs } } });
  }

  /** A second instance: its own connection pool on the same database. */
  async function separateInstance(jobs: { concurrency?: number; leaseMs?: number }) {
    const ownStore = await createStore({ databaseUrl: store.databaseUrl, poolSize: 5 });
    const app = await instanceOn(ownStore, jobs);
    return { ...app, close: async () => (await app.close(), await ownStore.close()) };
  }

  it('two instances drain 200 jobs; each job runs exactly once', async () => {
    const { organization, key } = await partnerWithKey(api.app, { rateLimitTier: 'partner' });
    const projectId = await insertProject(api.deps, organization.id);
    const [first, second] = await Promise.all([separateInstance({ concurrency: 4 }), separateInstance({ concurrency: 4 })]);
    try {
      const bundleIds = Array.from({ length: 200 }, (_, i) => `drain.${i}.${randomUUID().slice(0, 6)}`);
      const jobIds: string[] = [];
      for (let i = 0; i < bundleIds.length; i += 10) {
        jobIds.push(...(await Promise.all(bundleIds.slice(i, i + 10).map((iosBundleId) => ingest(api.app, key.key, projectId, 'appstore', { iosBundleId })))));
      }
      const jobs = await Promise.all(jobIds.map((jobId) => waitForJob(api.app, key.key, jobId, undefined, 60_000)));
      expect(jobs.filter((job) => job.status === 'succeeded')).toHaveLength(200);
      for (const bundleId of bundleIds) expect(upstream.count(`/lookup?bundleId=${bundleId}`), bundleId).toBe(1);

      const rows = await api.deps.store.db.selectFrom('jobs').select(['attempts', 'leased_by']).where('id', 'in', jobIds).execute();
      expect(rows.every((row) => row.attempts === 1)).toBe(true);
      const byInstance = new Map<string | null, number>();
      for (const row of rows) byInstance.set(row.leased_by, (byInstance.get(row.leased_by) ?? 0) + 1);
      expect(byInstance.get(first.deps.jobs.instanceId)).toBeGreaterThan(0);
      expect(byInstance.get(second.deps.jobs.instanceId)).toBeGreaterThan(0);
      expect((byInstance.get(first.deps.jobs.instanceId) ?? 0) + (byInstance.get(second.deps.jobs.instanceId) ?? 0)).toBe(200);

      const sources = await api.deps.store.db.selectFrom('project_sources').select('id').where('project_id', '=', projectId).execute();
      expect(sources).toHaveLength(200);
      expect(await creditBalance(api.deps, organization.id)).toBe(6000 - 200 * 10);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  it('an instance killed with SIGKILL mid-job: a second instance finishes the job, once', async () => {
    const { organization, key } = await partnerWithKey(api.app);
    const projectId = await insertProject(api.deps, organization.id);
    const bundleId = `once.crash.${randomUUID().slice(0, 8)}`;
    const jobId = await ingest(api.app, key.key, projectId, 'appstore', { iosBundleId: bundleId });

    const child = spawn(process.execPath, ['--import', 'tsx', INSTANCE_SCRIPT], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        DATABASE_URL: store.databaseUrl,
        GATEHOUSE_ADMIN_TOKEN: ADMIN_TOKEN,
        GATEHOUSE_SECRET: TEST_SECRET,
        GATEHOUSE_APPSTORE_LOOKUP_URL: `${upstream.origin}/lookup`,
        GATEHOUSE_ALLOW_PRIVATE_UPSTREAMS: 'true',
        GATEHOUSE_JOB_LEASE_MS: String(LEASE_MS),
        GATEHOUSE_JOB_POLL_MS: '50',
        LOG_LEVEL: 'warn',
        PORT: '0',
      },
    });
    let killed: Promise<unknown> | undefined;
    try {
      const ready = await readyLine(child);
      await upstream.waitForRequest(`/lookup?bundleId=${bundleId}`, 30_000);
      const running = await api.deps.store.db.selectFrom('jobs').selectAll().where('id', '=', jobId).executeTakeFirstOrThrow();
      expect(running).toMatchObject({ status: 'running', leased_by: ready.instanceId, credits_charged: 10 });

      killed = once(child, 'exit');
      child.kill('SIGKILL');
      await killed;

      // The dead instance's short lease is what the takeover waits for; the survivor's own lease is long, so that a
      // stalled event loop on a loaded machine cannot let it lapse and make the survivor take its own job again.
      const survivor = await separateInstance({ concurrency: 2, leaseMs: 30_000 });
      try {
        const job = await waitForJob(api.app, key.key, jobId, undefined, 20_000);
        expect(job).toMatchObject({ status: 'succeeded', creditsCharged: 10 });
        const row = await api.deps.store.db.selectFrom('jobs').select(['attempts', 'leased_by']).where('id', '=', jobId).executeTakeFirstOrThrow();
        // Two attempts, the dead instance's and the survivor's. The child's own short lease may lapse while a loaded
        // machine stalls it before the kill; it still never claims again the job it runs (claimNextJob's `running`).
        expect(row).toEqual({ attempts: 2, leased_by: survivor.deps.jobs.instanceId });
        expect(upstream.count(`/lookup?bundleId=${bundleId}`)).toBe(2);
        const sources = await api.deps.store.db.selectFrom('project_sources').select('job_id').where('project_id', '=', projectId).execute();
        expect(sources).toEqual([{ job_id: jobId }]);
        expect(await creditBalance(api.deps, organization.id)).toBe(6000 - 10);
        const outcomes = await survivor.deps.metrics.registry.getSingleMetricAsString('gatehouse_job_outcomes_total');
        expect(outcomes).toMatch(/gatehouse_job_outcomes_total\{kind="ingest_appstore",status="succeeded"\} 1/);
      } finally {
        await survivor.close();
      }
    } finally {
      if (!killed) child.kill('SIGKILL');
    }
  });
});

/** The child's ready line on stdout, once it listens. */
async function readyLine(child: ChildProcess): Promise<{ instanceId: string; address: string }> {
  let output = '';
  let errors = '';
  child.stderr?.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`instance not ready within 30 s: ${errors}`)), 30_000);
    child.once('exit', (code) => reject(new Error(`instance exited with ${code}: ${errors}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      // The instance logs to stdout too (JSON lines at LOG_LEVEL=warn, a claim retried on a loaded machine, say):
      // the ready line is the whole line that says so, not the first JSON line.
      const line = output
        .split('\n')
        .slice(0, -1)
        .find((candidate) => candidate.startsWith('{"ready":true'));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as { instanceId: string; address: string });
      }
    });
  });
}
