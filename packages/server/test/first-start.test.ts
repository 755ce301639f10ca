import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { usingPostgres } from './harness.ts';
import { startServerProcess } from './server-process.ts';

const run = promisify(execFile);
const examples = fileURLToPath(new URL('../../../examples/boot-check/', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-first-start-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

// `npm start` on the embedded store: the first start seeds and prints a key, later starts print no secret.
describe.runIf(!usingPostgres)('first start on an empty embedded store (SPEC 11)', () => {
  const env = { GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_BCRYPT_COST: '10', DATABASE_URL: '', REDIS_URL: '', GATEHOUSE_ADMIN_TOKEN: '', GATEHOUSE_SECRET: '' };
  let key = '';
  let adminToken = '';
  let deploymentSecret = '';

  it('prints a working test key on a line of its own, with a curl line, and an admin token kept for the CLI', async () => {
    const server = await startServerProcess(env);
    try {
      const lines = server.output().split('\n');
      key = lines.find((line) => /^lp_test_[0-9A-Z]{16}_[A-Za-z0-9_-]{43}$/.test(line)) ?? '';
      adminToken = lines.find((line) => /^gha_[A-Za-z0-9_-]{43}$/.test(line)) ?? '';
      expect(key).not.toBe('');
      expect(adminToken).not.toBe('');
      expect(lines.some((line) => line.startsWith('curl ') && line.includes('/v1/whoami') && line.includes(key))).toBe(true);

      const tokenFile = join(dataDir, 'admin-token');
      expect(readFileSync(tokenFile, 'utf8').trim()).toBe(adminToken);
      expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
      // The deployment secret, generated on first start, kept beside the store and never printed.
      const secretFile = join(dataDir, 'secret');
      deploymentSecret = readFileSync(secretFile, 'utf8').trim();
      expect(deploymentSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(statSync(secretFile).mode & 0o777).toBe(0o600);
      expect(server.output()).not.toContain(deploymentSecret);

      // Beside the key: the console's address (SPEC 14), served by this server.
      expect(lines).toContain(`${server.baseUrl}/console/`);
      const consolePage = await fetch(`${server.baseUrl}/console/`);
      expect(consolePage.status).toBe(200);
      expect(consolePage.headers.get('content-type')).toBe('text/html; charset=utf-8');

      const me = (await (await fetch(`${server.baseUrl}/v1/whoami`, { headers: { 'X-Api-Key': key } })).json()) as Record<string, unknown>;
      expect(me).toMatchObject({ organizationName: 'Development', creditBalance: 6000, env: 'test', killSwitch: false });
      const plans = await fetch(`${server.baseUrl}/admin/v1/organizations`, { headers: { 'X-Admin-Token': adminToken } });
      expect(((await plans.json()) as { data: { plan: string }[] }).data[0]?.plan).toBe('partner');

      // The seeds' boot checks, base URL pointed at the server, report the key healthy.
      const checkEnv = { ...process.env, GATEHOUSE_URL: server.baseUrl, LAYERS_API_KEY: key };
      const bash = await run('bash', [join(examples, 'boot-check.sh')], { env: checkEnv });
      expect(bash.stdout).toMatch(/^key healthy: [0-9a-f-]{36}$/m);
      const ts = await run(process.execPath, ['--import', 'tsx', join(examples, 'boot-check.ts')], { env: checkEnv });
      expect(ts.stdout).toContain('key healthy — org=');
      const python = await run('python3', [join(examples, 'boot_check.py')], { env: checkEnv }).catch((error: { stderr?: string }) => error);
      if ('stdout' in python) expect(python.stdout).toContain('key healthy — org=');
      else expect(String(python.stderr)).toMatch(/No module named 'requests'/);

      // A bad key makes the boot checks fail.
      const badEnv = { ...checkEnv, LAYERS_API_KEY: key.slice(0, -2) + 'xx' };
      await expect(run('bash', [join(examples, 'boot-check.sh')], { env: badEnv })).rejects.toMatchObject({ code: 1 });
      await expect(run(process.execPath, ['--import', 'tsx', join(examples, 'boot-check.ts')], { env: badEnv })).rejects.toMatchObject({ code: 1 });
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it('a second start prints no secret, and the first key still works', async () => {
    const server = await startServerProcess(env);
    try {
      expect(server.output()).not.toContain(key);
      expect(server.output()).not.toContain(adminToken);
      expect(server.output()).not.toMatch(/lp_test_\w{16}_/);
      const response = await fetch(`${server.baseUrl}/v1/whoami`, { headers: { 'X-Api-Key': key } });
      expect(response.status).toBe(200);
      expect(readFileSync(join(dataDir, 'secret'), 'utf8').trim()).toBe(deploymentSecret);

      // PORT=0 and no GATEHOUSE_PUBLIC_URL: the public URL is the address it listens on, port included, so a sign-in
      // from the console at the address it printed passes the Origin check (a wrong password is 401, not 403 origin).
      const signIn = await fetch(`${server.baseUrl}/console/api/sign-in`, {
        method: 'POST',
        headers: { origin: new URL(server.baseUrl).origin, 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'nobody@example.com', password: 'not the password at all' }),
      });
      expect(signIn.status).toBe(401);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});

// SPEC 11: with DATABASE_URL the deployment secret is required; the store is never reached without it.
describe('GATEHOUSE_SECRET in cluster mode', () => {
  const nowhere = { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere', REDIS_URL: '', GATEHOUSE_SECRET_PREVIOUS: '' };
  const failedStart = (env: Record<string, string>) =>
    startServerProcess(env).then(
      async (server) => {
        await server.stop();
        return 'started';
      },
      (error: Error) => error.message,
    );

  it('refuses to start without it, and says which variable is missing', async () => {
    const message = await failedStart({ ...nowhere, GATEHOUSE_SECRET: '' });
    expect(message).toMatch(/exited with 1/);
    expect(message).toContain('configuration error: GATEHOUSE_SECRET is required with DATABASE_URL');
  });

  it('refuses one too short to be 32 random bytes, without repeating it', async () => {
    const message = await failedStart({ ...nowhere, GATEHOUSE_SECRET: 'short-and-guessable' });
    expect(message).toContain('GATEHOUSE_SECRET must be 32 or more random bytes');
    expect(message).not.toContain('short-and-guessable');
  });
});
