import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startListeningApp, type ListeningApp } from './client-support.ts';
import { createOrganization } from './factories.ts';
import { ADMIN_TOKEN } from './harness.ts';
import { FAST_PEOPLE, ORIGIN, PASSWORD, signIn, tokenOfLink } from './people-support.ts';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const cliEntry = join(root, 'packages/server/src/cli/index.ts');

function gatehouse(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', cliEntry, ...args], { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

let t: ListeningApp;
let env: Record<string, string>;
beforeAll(async () => {
  t = await startListeningApp({ config: FAST_PEOPLE });
  env = { GATEHOUSE_URL: t.baseUrl, GATEHOUSE_ADMIN_TOKEN: ADMIN_TOKEN };
}, 180_000);
afterAll(async () => t?.close());

const accept = (link: string) =>
  t.app.inject({ method: 'POST', url: '/console/api/invitations/accept', headers: { origin: ORIGIN }, payload: { token: tokenOfLink(link), password: PASSWORD } });

describe('gatehouse operators and orgs invite', { timeout: 180_000 }, () => {
  it('operators create prints the one-time link once; the invited operator sets a password and signs in', async () => {
    const run = await gatehouse(['operators', 'create', 'first.operator@ops.test', '--role', 'support', '--json'], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const issued = JSON.parse(run.stdout);
    expect(issued).toMatchObject({ email: 'first.operator@ops.test', role: 'support', mailed: false });
    expect((await accept(issued.link)).statusCode).toBe(201);
    expect((await accept(issued.link)).statusCode).toBe(404);
    const session = await signIn(t.app, 'first.operator@ops.test');
    expect(session.personId).toBeTruthy();

    const listed = await gatehouse(['operators', 'list'], env);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/first\.operator@ops\.test\s+support\s+active/);
  });

  it('orgs invite makes an owner by default and prints the link in text; a bad role is refused before any call', async () => {
    const organization = await createOrganization(t.app, { name: 'CLI Org' });
    const run = await gatehouse(['orgs', 'invite', organization.id, 'owner@cli-org.test'], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('role');
    expect(run.stdout).toContain('owner');
    const link = /(http\S+#token=\S+)/.exec(run.stdout)?.[1];
    expect(link).toBeDefined();
    const accepted = await accept(link!);
    expect(accepted.statusCode, accepted.body).toBe(201);
    const session = await signIn(t.app, 'owner@cli-org.test');
    const me = await t.app.inject({ url: '/console/api/session', headers: { cookie: session.cookie } });
    expect(me.json().person).toMatchObject({ role: 'owner', organizationId: organization.id });

    const refused = await gatehouse(['orgs', 'invite', organization.id, 'x@cli-org.test', '--role', 'admin'], env);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('owner, developer, viewer');
  });
});
