import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendJson, sleep, startFakeUpstream, type FakeUpstream } from './fixtures/fake-upstream.ts';
import { usingPostgres } from './harness.ts';

const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const SMOKE_SCRIPT = fileURLToPath(new URL('../../../examples/ci-smoke/ci-smoke.ts', import.meta.url));
const SMOKE_PYTHON = fileURLToPath(new URL('../../../examples/ci-smoke/ci_smoke.py', import.meta.url));
const ADMIN_TOKEN = 'ci-smoke-admin-token-0123456789abcdef';

/** Runs a child to its end, collecting its output. */
async function run(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

/** True while any process of the group is alive. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops `npm start` and everything under it. npm exits on SIGTERM before the server it started has closed the
 * embedded store, so the data directory is removed only once the whole group is gone (a CI run failed on
 * ENOTEMPTY when it was removed at npm's exit).
 */
async function stopGroup(pgid: number): Promise<void> {
  process.kill(-pgid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while (groupAlive(pgid) && Date.now() < deadline) await sleep(50);
  if (groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
  // Bounded as well: an orphan that nobody reaps would still answer signal 0.
  const killDeadline = Date.now() + 5_000;
  while (groupAlive(pgid) && Date.now() < killDeadline) await sleep(50);
}

// `npm start` is the embedded store whatever the suite's mode, so this runs once, in the embedded pass.
describe.runIf(!usingPostgres)('the partner docs’ CI smoke test against `npm start`', () => {
  let upstream: FakeUpstream;
  let server: ChildProcess;
  let dataDir: string;
  let baseUrl = '';
  let key = '';

  beforeAll(async () => {
    // The App Store stand-in answers every lookup, and counts them: the test key's jobs (SPEC 12) must never reach it,
    // a live key's must.
    upstream = await startFakeUpstream((_request, response, url) =>
      sendJson(response, 200, { resultCount: 1, results: [{ trackName: 'Smoke', bundleId: url.searchParams.get('bundleId') }] }),
    );
    dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-smoke-'));
    server = spawn('npm', ['start'], {
      cwd: REPO_ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        PORT: '0',
        DATABASE_URL: '',
        REDIS_URL: '',
        GATEHOUSE_DATA_DIR: dataDir,
        GATEHOUSE_APPSTORE_LOOKUP_URL: `${upstream.origin}/lookup`,
        GATEHOUSE_PLAYSTORE_URL: upstream.origin,
        GATEHOUSE_GITHUB_API_URL: upstream.origin,
        GATEHOUSE_ADMIN_TOKEN: ADMIN_TOKEN,
        GATEHOUSE_ALLOW_PRIVATE_UPSTREAMS: 'true',
        LOG_LEVEL: 'warn',
      },
    });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm start printed no key within 60 s:\n${output}`)), 60_000);
      server.once('exit', (code) => reject(new Error(`npm start exited with ${code}:\n${output}`)));
      server.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      server.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const lines = output.split('\n');
        const listening = /listening on (\S+)/.exec(output)?.[1];
        const keyLine = lines.findIndex((line) => line.startsWith('Development API key'));
        const printedKey = keyLine >= 0 ? lines[keyLine + 1]?.trim() : undefined;
        if (listening && printedKey) {
          clearTimeout(timer);
          baseUrl = listening;
          key = printedKey;
          resolve();
        }
      });
    });
  });

  afterAll(async () => {
    if (server?.pid && groupAlive(server.pid)) await stopGroup(server.pid);
    await upstream?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  });

  const smoke = (runId: string, script: 'typescript' | 'python' = 'typescript', apiKey = key) =>
    run(
      spawn(script === 'python' ? 'python3' : process.execPath, script === 'python' ? [SMOKE_PYTHON] : ['--import', 'tsx', SMOKE_SCRIPT], {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, GATEHOUSE_BASE_URL: baseUrl, LAYERS_API_KEY: apiKey, GITHUB_RUN_ID: runId },
      }),
    );
  const v1 = async (apiKey: string, method: string, path: string, body?: unknown) => {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const jobOutcome = async (apiKey: string, jobId: string) => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const job = (await v1(apiKey, 'GET', `/v1/jobs/${jobId}`)).body;
      if (['succeeded', 'failed', 'canceled'].includes(String(job.status)) || Date.now() > deadline) return job;
      await sleep(100);
    }
  };

  it('passes, and passes again with the same run id, reusing the project', async () => {
    const runId = `smoke-${Date.now()}`;
    const first = await smoke(runId);
    expect(first.code, first.stderr).toBe(0);
    const second = await smoke(runId);
    expect(second.code, second.stderr).toBe(0);
    const projectOf = (stdout: string) => /projectId: '([^']+)'/.exec(stdout)?.[1];
    expect(projectOf(first.stdout)).toMatch(/^[0-9a-f-]{36}$/);
    expect(projectOf(second.stdout)).toBe(projectOf(first.stdout));
    expect(key).toMatch(/^lp_test_/);
    // The Python version of the docs' script, with the same test key (its `requests` ships with the CI image).
    const python = await smoke(runId, 'python');
    expect(python.code, python.stderr).toBe(0);
    expect(/'projectId': '([^']+)'/.exec(python.stdout)?.[1]).toBe(projectOf(first.stdout));

    // A test-mode job that is not canceled runs to the end on fixtures; a `fail` one ends UPSTREAM_NOT_FOUND.
    const projectId = projectOf(first.stdout)!;
    const ran = await v1(key, 'POST', `/v1/projects/${projectId}/ingest/appstore`, { iosBundleId: 'com.example.doesnotexist' });
    expect(ran.status).toBe(202);
    expect(await jobOutcome(key, String(ran.body.jobId))).toMatchObject({ status: 'succeeded', creditsCharged: 0, env: 'test' });
    const failed = await v1(key, 'POST', `/v1/projects/${projectId}/ingest/github`, { repo: 'example/fail-on-purpose' });
    expect(await jobOutcome(key, String(failed.body.jobId))).toMatchObject({ status: 'failed', error: { code: 'UPSTREAM_NOT_FOUND' }, creditsCharged: 0 });

    // Test mode: the wallet is untouched and no upstream was ever called, whatever each cancel found.
    const whoami = (await v1(key, 'GET', '/v1/whoami')).body;
    expect(whoami.creditBalance).toBe(6000);
    expect(upstream.requests.map((request) => request.path)).toEqual([]);
  });

  it('with a live key of the same organization, ingest still reads the (test-started) upstream and is charged', async () => {
    const whoami = (await v1(key, 'GET', '/v1/whoami')).body;
    const issued = await fetch(`${baseUrl}/admin/v1/organizations/${String(whoami.organizationId)}/keys`, {
      method: 'POST',
      headers: { 'x-admin-token': ADMIN_TOKEN, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'ci live', env: 'live' }),
    });
    expect(issued.status).toBe(201);
    const liveKey = String(((await issued.json()) as { key: string }).key);
    expect(liveKey).toMatch(/^lp_live_/);
    const before = Number((await v1(liveKey, 'GET', '/v1/whoami')).body.creditBalance);
    const project = await v1(liveKey, 'POST', '/v1/projects', { name: 'live smoke' });
    expect(project.status).toBe(201);
    const started = await v1(liveKey, 'POST', `/v1/projects/${String(project.body.id)}/ingest/appstore`, { iosBundleId: 'com.example.live' });
    expect(started.status).toBe(202);
    const job = await jobOutcome(liveKey, String(started.body.jobId));
    expect(job).toMatchObject({ status: 'succeeded', env: 'live' });
    expect(upstream.count('/lookup?bundleId=com.example.live')).toBe(1);
    expect(Number((await v1(liveKey, 'GET', '/v1/whoami')).body.creditBalance)).toBe(before - Number(job.creditsCharged));
    expect(Number(job.creditsCharged)).toBeGreaterThan(0);
  });
});
