import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../src/db/create-db.ts';
import { STORE_LOCK_FILE } from '../src/db/store-lock.ts';
import { adminClient, partnerWithKey, startListeningApp, type ListeningApp } from './client-support.ts';
import { ADMIN_TOKEN, createTestStore, usingPostgres } from './harness.ts';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const cliEntry = join(root, 'packages/server/src/cli/index.ts');
const binEntry = join(root, 'packages/server/bin/gatehouse.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The CLI in a process of its own, as an operator runs it. The environment is built from scratch so nothing of the
 * developer's (a DATABASE_URL, a token, a key) leaks in; asynchronous, since the server answering it lives in
 * this process.
 */
function gatehouse(args: string[], env: Record<string, string> = {}, entry: string[] = ['--import', 'tsx', cliEntry]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...entry, ...args],
      { cwd: root, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, timeout: 120_000 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

let t: ListeningApp;
let remote: Record<string, string>;
let emptyDir: string;
beforeAll(async () => {
  t = await startListeningApp();
  emptyDir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-'));
  remote = { GATEHOUSE_URL: t.baseUrl, GATEHOUSE_ADMIN_TOKEN: ADMIN_TOKEN, GATEHOUSE_DATA_DIR: emptyDir };
});
afterAll(async () => {
  await t.close();
  rmSync(emptyDir, { recursive: true, force: true });
});

const json = <T>(run: Run): T => {
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as T;
};

// Each command is a process of its own (about a second when the machine is idle), so the tests get room.
describe('gatehouse CLI against a running server', { timeout: 180_000 }, () => {
  it('orgs create, keys issue, whoami; kill and unkill; the organization switch; the audit trail', async () => {
    const org = json<{ id: string; name: string; plan: string; rateLimitTier: string; creditBalance: number }>(
      await gatehouse(['orgs', 'create', 'CLI Org', '--plan', 'partner', '--tier', 'pilot', '--credits', '50', '--json'], remote),
    );
    expect(org).toMatchObject({ name: 'CLI Org', plan: 'partner', rateLimitTier: 'pilot', creditBalance: 50 });

    const issued = await gatehouse(['keys', 'issue', org.id, '--name', 'ci'], remote);
    expect(issued.code).toBe(0);
    const key = /^(lp_live_\S+)$/m.exec(issued.stdout)?.[1];
    expect(issued.stdout).toContain('shown once');
    expect(key).toBeDefined();
    const keyId = /^id:\s+(\S+)$/m.exec(issued.stdout)![1]!;

    let whoami = await gatehouse(['whoami', '--key', key!], remote);
    expect(whoami).toMatchObject({ code: 0, stderr: '' });
    expect(whoami.stdout).toContain(`key healthy — org=${org.id} name=CLI Org tier=pilot`);
    // The key from the environment, as in the seeds' boot check.
    expect((await gatehouse(['whoami'], { ...remote, LAYERS_API_KEY: key! })).code).toBe(0);
    expect((await gatehouse(['whoami'], { ...remote, GATEHOUSE_API_KEY: key! })).code).toBe(0);

    expect((await gatehouse(['keys', 'kill', keyId], remote)).stdout).toContain('killed lp_live_');
    whoami = await gatehouse(['whoami', '--key', key!], remote);
    expect(whoami.code).toBe(1);
    expect(whoami.stdout).toContain('killSwitch=true apiAccessRevoked=false');
    const keys = json<{ data: { id: string; killSwitch: boolean }[] }>(await gatehouse(['keys', 'list', org.id, '--json'], remote));
    expect(keys.data).toEqual([expect.objectContaining({ id: keyId, killSwitch: true })]);
    expect((await gatehouse(['keys', 'unkill', keyId], remote)).code).toBe(0);
    expect((await gatehouse(['whoami', '--key', key!], remote)).code).toBe(0);

    expect(json<{ apiAccessRevoked: boolean }>(await gatehouse(['orgs', 'update', org.id, '--api-access-revoked', 'true', '--json'], remote)).apiAccessRevoked).toBe(true);
    whoami = await gatehouse(['whoami', '--key', key!, '--json'], remote);
    expect(whoami.code).toBe(1);
    expect(JSON.parse(whoami.stdout)).toMatchObject({ apiAccessRevoked: true, killSwitch: false });
    const updated = await gatehouse(['orgs', 'update', org.id, '--api-access-revoked', 'false', '--credits', '75', '--tier', 'partner', '--plan', 'pro'], remote);
    expect(updated.stdout).toMatch(/credits:\s+75/);
    expect(updated.stdout).toMatch(/tier:\s+partner/);
    expect(json<{ lowCreditThreshold: number | null }>(await gatehouse(['orgs', 'update', org.id, '--low-credit-threshold', '50', '--json'], remote)).lowCreditThreshold).toBe(50);
    const noThreshold = await gatehouse(['orgs', 'update', org.id, '--low-credit-threshold', 'none'], remote);
    expect(noThreshold.stdout, noThreshold.stderr).toMatch(/low credit threshold:\s+none/);
    expect((await gatehouse(['whoami', '--key', key!], remote)).code).toBe(0);

    const audit = json<{ data: { action: string; targetId: string | null }[] }>(await gatehouse(['audit', 'list', '--org', org.id, '--json'], remote));
    expect(audit.data.map((entry) => entry.action)).toEqual([
      'admin.organization.update',
      'admin.organization.update',
      'admin.organization.update',
      'admin.organization.update',
      'admin.key.unkill',
      'admin.key.list',
      'admin.key.kill',
      'admin.key.create',
      'admin.organization.create',
    ]);
    const kills = json<{ data: { action: string; targetId: string }[] }>(await gatehouse(['audit', '--org', org.id, '--action', 'admin.key.kill', '--json'], remote));
    expect(kills.data).toEqual([expect.objectContaining({ action: 'admin.key.kill', targetId: keyId })]);
  });

  it('the global kill switch: on makes whoami fail with the code and request id, off brings it back', async () => {
    const admin = adminClient(t.baseUrl);
    const org = await admin.organizations.create({ name: 'Switched', plan: 'partner' });
    const { key } = await admin.keys.issue(org.id, { name: 'ci' });
    try {
      expect((await gatehouse(['kill-switch', 'on'], remote)).stdout).toContain('global kill switch: ON');
      expect(json<{ enabled: boolean }>(await gatehouse(['kill-switch', 'get', '--json'], remote))).toEqual({ enabled: true });
      const whoami = await gatehouse(['whoami', '--key', key], remote);
      expect(whoami.code).toBe(1);
      expect(whoami.stderr).toMatch(/^error: KILL_SWITCH \(HTTP 503\): .+ \[requestId req_\w+\]\ndetails: \{"scope":"global"\}/);
    } finally {
      expect((await gatehouse(['kill-switch', 'off'], remote)).stdout).toContain('global kill switch: off');
    }
    expect((await gatehouse(['whoami', '--key', key], remote)).code).toBe(0);
  });

  it('whoami exits non-zero for a wrong key (401) and without a key; errors carry code, message and requestId', async () => {
    const wrong = await gatehouse(['whoami', '--key', 'lp_live_0123456789ABCDEF_not-a-real-secret'], remote);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^error: UNAUTHENTICATED \(HTTP 401\): .+ \[requestId req_\w+\]/);
    const asJson = await gatehouse(['whoami', '--key', 'lp_live_0123456789ABCDEF_x', '--json'], remote);
    expect(JSON.parse(asJson.stderr)).toMatchObject({ error: { status: 401, code: 'UNAUTHENTICATED', requestId: expect.stringMatching(/^req_/) } });
    const none = await gatehouse(['whoami'], remote);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no API key');
  });

  it('reads the admin token from --token, then GATEHOUSE_ADMIN_TOKEN, then <GATEHOUSE_DATA_DIR>/admin-token', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-token-'));
    try {
      const base = { GATEHOUSE_URL: t.baseUrl, GATEHOUSE_DATA_DIR: dataDir };
      const missing = await gatehouse(['plans', 'list'], base);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('no admin token');

      writeFileSync(join(dataDir, 'admin-token'), `${ADMIN_TOKEN}\n`, { mode: 0o600 });
      const plans = json<{ data: { name: string }[] }>(await gatehouse(['plans', 'list', '--json'], base));
      expect(plans.data.map((plan) => plan.name)).toEqual(expect.arrayContaining(['free', 'starter', 'pro', 'partner']));

      const wrongEnv = await gatehouse(['plans', 'list'], { ...base, GATEHOUSE_ADMIN_TOKEN: 'wrong' });
      expect(wrongEnv.code).toBe(1);
      expect(wrongEnv.stderr).toMatch(/^error: UNAUTHENTICATED \(HTTP 401\)/);
      expect((await gatehouse(['plans', 'list', '--token', ADMIN_TOKEN], { ...base, GATEHOUSE_ADMIN_TOKEN: 'wrong' })).code).toBe(0);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('plans create and list; orgs list and get; usage errors exit non-zero', async () => {
    expect((await gatehouse(['plans', 'create', 'scale', '--rank', '5', '--features', 'api_access'], remote)).code).toBe(0);
    expect((await gatehouse(['plans', 'list'], remote)).stdout).toMatch(/^scale\s+5\s+api_access$/m);
    const org = json<{ id: string }>(await gatehouse(['orgs', 'create', 'Listed', '--plan', 'scale', '--json'], remote));
    expect((await gatehouse(['orgs', 'list', '--all'], remote)).stdout).toMatch(new RegExp(`^${org.id}\\s+Listed\\s+scale\\s+standard`, 'm'));
    expect(json<{ id: string; plan: string }>(await gatehouse(['orgs', 'get', org.id, '--json'], remote))).toMatchObject({ id: org.id, plan: 'scale' });

    const notFound = await gatehouse(['orgs', 'get', '00000000-0000-4000-8000-000000000000'], remote);
    expect(notFound.code).toBe(1);
    expect(notFound.stderr).toMatch(/^error: NOT_FOUND \(HTTP 404\)/);
    const badValue = await gatehouse(['orgs', 'update', org.id, '--api-access-revoked', 'maybe'], remote);
    expect(badValue.code).not.toBe(0);
    expect(badValue.stderr).toContain('expected true or false');
    expect((await gatehouse(['no-such-command'], remote)).code).not.toBe(0);
  });

  it('usage, requests show and explain, through the admin API', async () => {
    const { organization, key } = await partnerWithKey(adminClient(t.baseUrl));
    const answered = await fetch(`${t.baseUrl}/v1/projects`, { headers: { 'x-api-key': key.key } });
    const requestId = answered.headers.get('x-request-id')!;
    await t.deps.recording!.flush();

    const usage = json<{ data: { organizationId: string; apiKeyId: string; requests: number }[] }>(
      await gatehouse(['usage', '--org', organization.id, '--granularity', 'day', '--json'], remote),
    );
    expect(usage.data).toEqual([expect.objectContaining({ organizationId: organization.id, env: 'live', apiKeyId: key.id, requests: 1, status2xx: 1 })]);
    // Operators see both envs, with the env shown (SPEC 12).
    const usageTable = await gatehouse(['usage', '--org', organization.id, '--granularity', 'day'], remote);
    expect(usageTable.stdout).toMatch(/ENV/);
    expect(usageTable.stdout).toMatch(/\blive\b/);
    const shown = await gatehouse(['requests', 'show', requestId], remote);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('GET /v1/projects');
    expect(shown.stdout).toContain(organization.id);
    expect(shown.stdout).toMatch(/env:\s+live/);

    const explained = await gatehouse(['explain', key.id, 'post', '/v1/projects'], remote);
    expect(explained.stdout).toContain('would answer 201');
    expect(explained.code).toBe(0);
    const refused = await gatehouse(['explain', key.id, 'GET', '/v1/nothing'], remote);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain('would answer 404 NOT_FOUND');
    const badRange = await gatehouse(['usage', '--from', '2026-01-01T00:00:00Z', '--to', '2026-03-01T00:00:00Z'], remote);
    expect(badRange.code).toBe(1);
    expect(badRange.stderr).toContain('VALIDATION_FAILED');
  });

  it('the bin shim runs the CLI (npx gatehouse)', async () => {
    const run = await gatehouse(['kill-switch', 'get', '--json'], remote, [binEntry]);
    expect(json<{ enabled: boolean }>(run)).toEqual({ enabled: false });
  });
});

describe('gatehouse migrate', () => {
  it('applies the migrations once, then reports the store up to date', async () => {
    const store = usingPostgres ? await createTestStore() : null;
    const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-migrate-'));
    const env: Record<string, string> = store?.databaseUrl ? { DATABASE_URL: store.databaseUrl } : { GATEHOUSE_DATA_DIR: dataDir };
    try {
      const first = json<{ applied: string[] }>(await gatehouse(['migrate', '--json'], env));
      expect(first.applied).toContain('0001_core');
      const second = await gatehouse(['migrate'], env);
      expect(second.code).toBe(0);
      expect(second.stdout).toContain('up to date');
    } finally {
      await store?.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 180_000);

  it.skipIf(usingPostgres)('refuses while another process holds the embedded store, and takes over a lock its holder left behind', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-locked-'));
    try {
      const held = await createStore({ dataDir });
      const refused = await gatehouse(['migrate'], { GATEHOUSE_DATA_DIR: dataDir });
      await held.close();
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`is in use by another Gatehouse process (pid ${process.pid})`);
      expect(existsSync(join(dataDir, STORE_LOCK_FILE))).toBe(false);

      // A crashed holder: its pid no longer runs.
      const dead = await new Promise<number>((resolve) => {
        const child = spawn(process.execPath, ['-e', '0']);
        child.on('exit', () => resolve(child.pid!));
      });
      writeFileSync(join(dataDir, STORE_LOCK_FILE), JSON.stringify({ pid: dead }));
      expect((await gatehouse(['migrate'], { GATEHOUSE_DATA_DIR: dataDir })).code).toBe(0);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe.skipIf(usingPostgres)('gatehouse serve (embedded store, first start)', () => {
  it('starts, prints a key that whoami accepts, lets the local CLI find the admin token, and stops on SIGTERM', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-serve-'));
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_BCRYPT_COST: '10', LOG_LEVEL: 'warn' };
    const server = spawn(process.execPath, [binEntry, 'serve', '--port', '0'], { cwd: root, env });
    try {
      let output = '';
      server.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      server.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`serve did not print a key:\n${output}`)), 120_000);
        server.stdout.on('data', () => {
          if (/^lp_test_\S+$/m.test(output) && output.includes('curl')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      const url = /listening on (http:\/\/\S+)/.exec(output)![1]!;
      const key = /^(lp_test_\S+)$/m.exec(output)![1]!;
      const local = { GATEHOUSE_URL: url, GATEHOUSE_DATA_DIR: dataDir };

      const whoami = await gatehouse(['whoami', '--key', key], local);
      expect(whoami).toMatchObject({ code: 0 });
      expect(whoami.stdout).toContain('name=Development');
      expect((await gatehouse(['orgs', 'list'], local)).stdout).toMatch(/Development\s+partner\s+standard\s+6000/);
      const migrate = await gatehouse(['migrate'], { GATEHOUSE_DATA_DIR: dataDir });
      expect(migrate.code).toBe(1);
      expect(migrate.stderr).toContain('in use by another Gatehouse process');

      const exited = new Promise<number | null>((resolve) => server.on('exit', (code) => resolve(code)));
      server.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(existsSync(join(dataDir, STORE_LOCK_FILE))).toBe(false);
    } finally {
      if (server.exitCode === null) server.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('gatehouse scan', { timeout: 180_000 }, () => {
  it('finds the leaked key without printing its secret, exits 1, and --kill flips its switch through the admin API', async () => {
    const admin = adminClient(t.baseUrl);
    const { key } = await partnerWithKey(admin);
    const secret = key.key.slice(key.displayPrefix.length + 1);
    const tree = mkdtempSync(join(tmpdir(), 'gatehouse-scan-'));
    try {
      writeFileSync(join(tree, 'clean.txt'), 'nothing to see\n');
      const clean = await gatehouse(['scan', tree], remote);
      expect(clean.code).toBe(0);

      writeFileSync(join(tree, 'config.js'), `module.exports = {\n  apiKey: "${key.key}",\n};\n`);
      const found = await gatehouse(['scan', tree], remote);
      expect(found.code).toBe(1);
      expect(found.stdout).toMatch(new RegExp(`config\\.js:2:\\d+ ${key.displayPrefix}$`, 'm'));
      expect(found.stdout + found.stderr).not.toContain(secret);
      expect((await admin.keys.get(key.id)).killSwitch).toBe(false);

      const killed = await gatehouse(['scan', '--kill', tree], remote);
      expect(killed.code).toBe(1);
      expect(killed.stdout + killed.stderr).not.toContain(secret);
      expect((await admin.keys.get(key.id)).killSwitch).toBe(true);
    } finally {
      rmSync(tree, { recursive: true, force: true });
    }
  });
});
