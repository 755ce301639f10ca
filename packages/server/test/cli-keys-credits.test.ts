import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/index.ts';
import type { ApiKey, AuditEntry, CreatedApiKey, CreditTopUp, Organization } from '../src/cli/client.ts';
import { adminClient, partnerWithKey, startListeningApp, type ListeningApp } from './client-support.ts';
import { ADMIN_TOKEN } from './harness.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let t: ListeningApp;
let env: Record<string, string>;
beforeAll(async () => {
  t = await startListeningApp();
  env = { GATEHOUSE_URL: t.baseUrl, GATEHOUSE_ADMIN_TOKEN: ADMIN_TOKEN, GATEHOUSE_DATA_DIR: '/nonexistent-gatehouse-dir' };
});
afterAll(async () => t.close());

/** The CLI in this process (runCli with its own output and environment): the commands' logic, without a process start each. */
async function gatehouse(args: string[], environment: Record<string, string> = env): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['node', 'gatehouse', ...args], { stdout: (text) => out.push(text), stderr: (text) => err.push(text), env: environment });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

const json = <T>(run: Run): T => {
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as T;
};

const references = (key: CreatedApiKey) => ({ uuid: key.id, keyId: key.keyId, displayPrefix: key.displayPrefix });

describe('gatehouse keys: every key command takes the UUID, the key_id or the display prefix', () => {
  it('get, kill, unkill and revoke by each identifier', async () => {
    const admin = adminClient(t.baseUrl);
    const { organization } = await partnerWithKey(admin, { name: 'Identifiers' });
    for (const form of ['uuid', 'keyId', 'displayPrefix'] as const) {
      const key = await admin.keys.issue(organization.id, { name: `by ${form}` });
      const reference = references(key)[form];
      expect(json<ApiKey>(await gatehouse(['keys', 'get', reference, '--json'])).id).toBe(key.id);
      expect((await gatehouse(['keys', 'kill', reference])).stdout).toBe(`killed ${key.displayPrefix} (${key.id})`);
      expect((await admin.keys.get(key.id)).killSwitch).toBe(true);
      expect((await gatehouse(['keys', 'unkill', reference])).stdout).toBe(`unkilled ${key.displayPrefix} (${key.id})`);
      expect((await admin.keys.get(key.id)).killSwitch).toBe(false);
      expect((await gatehouse(['keys', 'revoke', reference])).stdout).toBe(`revoked ${key.displayPrefix} (${key.id})`);
      expect((await admin.keys.get(key.id)).status).toBe('revoked');
    }
  });

  it('refuses what is none of the three, and answers NOT_FOUND for a key_id nobody has', async () => {
    const bad = await gatehouse(['keys', 'revoke', 'not-a-key']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('error: not-a-key is neither a key UUID nor a key_id / display prefix');
    const unknown = await gatehouse(['keys', 'unkill', 'lp_live_0000000000000000']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('NOT_FOUND');
  });
});

describe('gatehouse credits add: an atomic top-up', () => {
  it('adds to the balance, reports before and after, and the audit entry carries both', async () => {
    const admin = adminClient(t.baseUrl);
    const organization = await admin.organizations.create({ name: 'Top-up', plan: 'partner', creditBalance: 5000 });
    const topUp = json<CreditTopUp>(await gatehouse(['credits', 'add', organization.id, '100', '--json']));
    expect(topUp).toEqual({ organizationId: organization.id, added: 100, creditBalanceBefore: 5000, creditBalance: 5100 });
    expect((await gatehouse(['credits', 'add', organization.id, '+25'])).stdout).toBe(`added 25 credits to ${organization.id}: 5100 → 5125`);
    const [entry] = (await admin.audit.page({ organizationId: organization.id, action: 'admin.organization.credits_add', limit: 1 })).data;
    expect(entry?.details).toMatchObject({ before: { creditBalance: 5100 }, after: { creditBalance: 5125 }, added: 25, changes: { amount: 25 } });
  });

  it('concurrent top-ups all count (the server adds; nothing is read and written back)', async () => {
    const admin = adminClient(t.baseUrl);
    const organization = await admin.organizations.create({ name: 'Concurrent top-ups', creditBalance: 0 });
    const answers = await Promise.all(Array.from({ length: 10 }, (_, index) => admin.organizations.addCredits(organization.id, index + 1)));
    expect((await admin.organizations.get(organization.id)).creditBalance).toBe(55);
    // Each answer saw its own before and after: ten distinct balances.
    expect(new Set(answers.map((answer) => answer.creditBalance)).size).toBe(10);
  });

  it('refuses a top-up past the ceiling with 409, however large, and keeps the balance', async () => {
    const admin = adminClient(t.baseUrl);
    const organization = await admin.organizations.create({ name: 'Near the ceiling', creditBalance: 1_500_000_000 });
    // 3.5 billion does not fit PostgreSQL's integer: the guard must not overflow while it compares.
    const refused = await fetch(`${t.baseUrl}/admin/v1/organizations/${organization.id}/credits`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ amount: 2_000_000_000 }),
    });
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('CONFLICT');
    expect((await admin.organizations.get(organization.id)).creditBalance).toBe(1_500_000_000);
    expect((await admin.organizations.addCredits(organization.id, 500_000_000)).creditBalance).toBe(2_000_000_000);
  });

  it('refuses a signed value where an absolute one is meant, and a non-positive amount to add', async () => {
    const admin = adminClient(t.baseUrl);
    const organization = await admin.organizations.create({ name: 'Signed', creditBalance: 5000 });
    for (const value of ['+100', '-100']) {
      const run = await gatehouse(['orgs', 'update', organization.id, '--credits', value]);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toContain('a sign is not allowed (to add credits: gatehouse credits add <org> <n>)');
    }
    expect((await gatehouse(['orgs', 'create', 'Signed too', '--credits', '+5'])).code).not.toBe(0);
    // A negative amount reads as an option and is refused as one; after `--` it reaches the amount check.
    expect((await gatehouse(['credits', 'add', organization.id, '-5'])).code).not.toBe(0);
    for (const value of ['-5', '0', '1.5', 'lots']) {
      const run = await gatehouse(['credits', 'add', organization.id, '--', value]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('must be a whole number above zero');
    }
    expect((await admin.organizations.get(organization.id)).creditBalance).toBe(5000);
    expect(json<Organization>(await gatehouse(['orgs', 'update', organization.id, '--credits', '100', '--json'])).creditBalance).toBe(100);
  });

  it('answers 404 for an unknown organization and 409 past the largest balance', async () => {
    const missing = await gatehouse(['credits', 'add', '00000000-0000-4000-8000-000000000000', '5']);
    expect(missing.stderr).toContain('NOT_FOUND');
    const admin = adminClient(t.baseUrl);
    const organization = await admin.organizations.create({ name: 'Full', creditBalance: 2_000_000_000 });
    const full = await gatehouse(['credits', 'add', organization.id, '1']);
    expect(full.code).toBe(1);
    expect(full.stderr).toContain('CONFLICT');
  });
});

describe('a 401 from the CLI names the credential it used', () => {
  it('--token, GATEHOUSE_ADMIN_TOKEN, and the partner key of whoami', async () => {
    const flag = await gatehouse(['orgs', 'list', '--token', 'wrong-token']);
    expect(flag.code).toBe(1);
    expect(flag.stderr).toContain('the server refused the admin token from --token');
    const fromEnv = await gatehouse(['orgs', 'list'], { ...env, GATEHOUSE_ADMIN_TOKEN: 'wrong-token' });
    expect(fromEnv.stderr).toContain('the server refused the admin token from GATEHOUSE_ADMIN_TOKEN');
    const whoami = await gatehouse(['whoami'], { ...env, LAYERS_API_KEY: 'lp_live_0000000000000000_notasecret' });
    expect(whoami.code).toBe(1);
    expect(whoami.stderr).toContain('the server refused the partner key from LAYERS_API_KEY');
    expect(JSON.parse((await gatehouse(['orgs', 'list', '--token', 'wrong-token', '--json'])).stderr).error.credentialSource).toBe('the admin token from --token');
  });
});

describe('gatehouse audit list', () => {
  it('shows what a change changed, and --changes-only leaves the reads out', async () => {
    const admin = adminClient(t.baseUrl);
    const organization = await admin.organizations.create({ name: 'Audited changes', rateLimitTier: 'standard' });
    await admin.organizations.get(organization.id);
    await admin.organizations.update(organization.id, { rateLimitTier: 'pilot', name: 'Audited changes, renamed' });
    const all = json<{ data: AuditEntry[] }>(await gatehouse(['audit', 'list', '--org', organization.id, '--json'])).data;
    expect(all.map((entry) => entry.action)).toEqual(['admin.organization.update', 'admin.organization.read', 'admin.organization.create']);
    const changes = json<{ data: AuditEntry[] }>(await gatehouse(['audit', 'list', '--org', organization.id, '--changes-only', '--json'])).data;
    expect(changes.map((entry) => entry.action)).toEqual(['admin.organization.update', 'admin.organization.create']);
    expect(changes[0]!.details).toMatchObject({
      before: { rateLimitTier: 'standard', name: 'Audited changes' },
      after: { rateLimitTier: 'pilot', name: 'Audited changes, renamed' },
    });
    const table = await gatehouse(['audit', 'list', '--org', organization.id, '--changes-only']);
    expect(table.stdout).toContain('"after":{"name":"Audited changes, renamed","rateLimitTier":"pilot"}');
  });
});
