import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalInvalidationBus } from '../src/auth/invalidation.ts';
import { runCli } from '../src/cli/index.ts';
import type { Store } from '../src/db/create-db.ts';
import { parseTrustProxy } from '../src/net/client-address.ts';
import { admin, createOrganization, issueKey, partnerWithKey, withKey } from './factories.ts';
import { ADMIN_TOKEN, createTestStore, redisTestUrl, startTestApp, usingPostgres, type TestApp } from './harness.ts';

/** Check 5a of SPEC 2, SPEC 8.5 and 10.1 (issue 20): a key used only from the addresses its allowedCidrs name. */
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t.close());

const whoamiFrom = (key: string, remoteAddress: string) => t.app.inject({ url: '/v1/whoami', remoteAddress, headers: withKey(key) });

async function restrictedKey(allowedCidrs: string[]) {
  const { key: owner } = await partnerWithKey(t.app);
  const created = await t.app.inject({ method: 'POST', url: '/v1/api-keys', headers: withKey(owner.key), payload: { name: 'servers only', allowedCidrs } });
  expect(created.statusCode, created.body).toBe(201);
  return { owner, restricted: created.json() as { id: string; key: string; allowedCidrs: string[] } };
}

describe('allowedCidrs on a key', () => {
  it('admits IPv4, IPv6 and IPv4-mapped IPv6 addresses inside the ranges, and refuses the rest with 403 FORBIDDEN_IP', async () => {
    const { restricted } = await restrictedKey(['203.0.113.0/24', '2001:db8::/32']);
    expect(restricted.allowedCidrs).toEqual(['203.0.113.0/24', '2001:db8::/32']);
    for (const inside of ['203.0.113.7', '203.0.113.255', '2001:db8::5', '2001:db8:ffff::1', '::ffff:203.0.113.9']) {
      expect((await whoamiFrom(restricted.key, inside)).statusCode, inside).toBe(200);
    }
    for (const outside of ['198.51.100.1', '203.0.114.1', '2001:db9::1', '::ffff:198.51.100.1', '127.0.0.1']) {
      const refused = await whoamiFrom(restricted.key, outside);
      expect(refused.statusCode, outside).toBe(403);
      expect(refused.json().error).toMatchObject({ code: 'FORBIDDEN_IP', details: { clientAddress: outside } });
    }
    // Every route, not only whoami; and the check comes after the switches (5) and before the plan (6).
    const list = await t.app.inject({ url: '/v1/projects', remoteAddress: '198.51.100.1', headers: withKey(restricted.key) });
    expect(list.json().error.code).toBe('FORBIDDEN_IP');
  });

  it('keeps CIDRs in canonical form (the network address, mapped IPv6 as IPv4, no repeats)', async () => {
    const { restricted } = await restrictedKey(['10.1.2.3/8', '::ffff:192.0.2.0/120', '10.0.0.0/8', '2001:DB8::1']);
    expect(restricted.allowedCidrs).toEqual(['10.0.0.0/8', '192.0.2.0/24', '2001:db8::1/128']);
    expect((await whoamiFrom(restricted.key, '192.0.2.200')).statusCode).toBe(200);
  });

  it('refuses what is not an address or CIDR, and more than 32 entries, with 422', async () => {
    const { key } = await partnerWithKey(t.app);
    for (const allowedCidrs of [['not-an-address'], ['10.0.0.0/33'], ['2001:db8::/129'], ['10.0.0.0/8', 'example.com'],
      // inet_aton's old forms, which name another address than they seem to: octal, one part, hex.
      ['010.0.0.1/8'], ['10'], ['0x7f000001'], ['127.1'],
      Array.from({ length: 33 }, (_, i) => `10.0.${i}.0/24`)]) {
      const refused = await t.app.inject({ method: 'POST', url: '/v1/api-keys', headers: withKey(key.key), payload: { name: 'bad', allowedCidrs } });
      expect(refused.statusCode, JSON.stringify(allowedCidrs)).toBe(422);
      expect(refused.json().error.code).toBe('VALIDATION_FAILED');
    }
  });

  it('PATCH /v1/api-keys/:id changes the addresses (and the name), in force at once; [] lifts the restriction', async () => {
    const { owner, restricted } = await restrictedKey(['203.0.113.0/24']);
    expect((await whoamiFrom(restricted.key, '198.51.100.1')).statusCode).toBe(403);
    const patched = await t.app.inject({ method: 'PATCH', url: `/v1/api-keys/${restricted.id}`, headers: withKey(owner.key), payload: { allowedCidrs: ['198.51.100.0/24'], name: 'moved' } });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json()).toMatchObject({ name: 'moved', allowedCidrs: ['198.51.100.0/24'] });
    expect((await whoamiFrom(restricted.key, '198.51.100.1')).statusCode).toBe(200);
    expect((await whoamiFrom(restricted.key, '203.0.113.7')).statusCode).toBe(403);
    await t.app.inject({ method: 'PATCH', url: `/v1/api-keys/${restricted.id}`, headers: withKey(owner.key), payload: { allowedCidrs: [] } });
    expect((await whoamiFrom(restricted.key, '203.0.113.7')).statusCode).toBe(200);

    const empty = await t.app.inject({ method: 'PATCH', url: `/v1/api-keys/${restricted.id}`, headers: withKey(owner.key), payload: {} });
    expect(empty.statusCode).toBe(422);
    const audit = await admin(t.app, 'GET', `/admin/v1/audit?apiKeyId=${owner.id}&action=key.update`);
    // Two changes made, and the refused empty one audited as refused.
    expect(audit.json().data.map((entry: { status: number }) => entry.status).sort()).toEqual([200, 200, 422]);
  });

  it('PATCH follows the scope rule of the other key routes: a restricted key cannot change a wider key, nor another organization\'s', async () => {
    const { organization, key: fullAccess } = await partnerWithKey(t.app);
    const narrow = await issueKey(t.app, organization.id, { scopes: ['keys:write', 'keys:read'] });
    const refused = await t.app.inject({ method: 'PATCH', url: `/v1/api-keys/${fullAccess.id}`, headers: withKey(narrow.key), payload: { allowedCidrs: ['127.0.0.1'] } });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.code).toBe('FORBIDDEN_SCOPE');
    expect((await admin(t.app, 'GET', `/admin/v1/keys/${fullAccess.id}`)).json().allowedCidrs).toEqual([]);
    const stranger = await partnerWithKey(t.app);
    const foreign = await t.app.inject({ method: 'PATCH', url: `/v1/api-keys/${fullAccess.id}`, headers: withKey(stranger.key.key), payload: { name: 'mine now' } });
    expect(foreign.statusCode).toBe(404);
  });

  it('a roll keeps the allowed addresses', async () => {
    const { owner, restricted } = await restrictedKey(['203.0.113.0/24']);
    const rolled = await t.app.inject({ method: 'POST', url: `/v1/api-keys/${restricted.id}/roll`, headers: withKey(owner.key), payload: {} });
    expect(rolled.statusCode).toBe(201);
    expect(rolled.json().allowedCidrs).toEqual(['203.0.113.0/24']);
    expect((await whoamiFrom(rolled.json().key, '198.51.100.1')).statusCode).toBe(403);
  });

  it('the admin API issues and changes keys with allowedCidrs, and explain reports the check', async () => {
    const organization = await createOrganization(t.app);
    const issued = await admin(t.app, 'POST', `/admin/v1/organizations/${organization.id}/keys`, { name: 'ops', allowedCidrs: ['2001:db8::/48'] });
    expect(issued.json().allowedCidrs).toEqual(['2001:db8::/48']);
    const changed = await admin(t.app, 'PATCH', `/admin/v1/keys/${issued.json().id}`, { allowedCidrs: ['192.0.2.1'] });
    expect(changed.json().allowedCidrs).toEqual(['192.0.2.1/32']);
    const explained = await t.app.inject({ method: 'POST', url: '/v1/explain', remoteAddress: '198.51.100.1', headers: withKey(issued.json().key), payload: { method: 'GET', path: '/v1/projects' } });
    // explain itself is refused from outside the ranges, like every route.
    expect(explained.json().error.code).toBe('FORBIDDEN_IP');
    const allowed = await t.app.inject({ method: 'POST', url: '/v1/explain', remoteAddress: '192.0.2.1', headers: withKey(issued.json().key), payload: { method: 'GET', path: '/v1/projects' } });
    expect(allowed.json().checks.find((check: { check: string }) => check.check === 'client_address')).toMatchObject({ outcome: 'pass' });
  });
});

describe('gatehouse keys allow', () => {
  it('sets the list through the admin API, and --any empties it', async () => {
    const address = await t.app.listen({ host: '127.0.0.1', port: 0 });
    const organization = await createOrganization(t.app);
    const key = await issueKey(t.app, organization.id);
    const env = { GATEHOUSE_URL: address, GATEHOUSE_ADMIN_TOKEN: ADMIN_TOKEN, GATEHOUSE_DATA_DIR: '/nonexistent-gatehouse-dir' };
    const cli = async (args: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await runCli(['node', 'gatehouse', ...args], { stdout: (text) => out.push(text), stderr: (text) => err.push(text), env });
      return { code, stdout: out.join('\n'), stderr: err.join('\n') };
    };
    const set = await cli(['keys', 'allow', key.displayPrefix, '203.0.113.0/24', '2001:db8::/32', '--json']);
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout).allowedCidrs).toEqual(['203.0.113.0/24', '2001:db8::/32']);
    expect((await whoamiFrom(key.key, '198.51.100.1')).statusCode).toBe(403);
    const bad = await cli(['keys', 'allow', key.id, 'nope']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('VALIDATION_FAILED');
    expect((await cli(['keys', 'allow', key.id])).code).not.toBe(0);
    const any = await cli(['keys', 'allow', key.id, '--any']);
    expect(any.code, any.stderr).toBe(0);
    expect(any.stdout).toContain('any address');
    expect((await whoamiFrom(key.key, '198.51.100.1')).statusCode).toBe(200);
  });
});

describe('allowedCidrs through a trusted proxy (real HTTP from 127.0.0.1)', () => {
  const viaProxy = (base: string, key: string, forwardedFor: string) => fetch(`${base}/v1/whoami`, { headers: { 'x-api-key': key, 'x-forwarded-for': forwardedFor, connection: 'close' } });

  it('checks the forwarded client address when 127.0.0.1 is trusted, and the peer when it is not', async () => {
    const trusting = await startTestApp({ config: { trustProxy: parseTrustProxy('127.0.0.1') } });
    const trustingBase = await trusting.app.listen({ host: '127.0.0.1', port: 0 });
    const plain = await startTestApp();
    const plainBase = await plain.app.listen({ host: '127.0.0.1', port: 0 });
    try {
      for (const [instance, base, inside, outside] of [
        [trusting, trustingBase, 200, 403],
        [plain, plainBase, 403, 403],
      ] as const) {
        const organization = await createOrganization(instance.app);
        const key = await admin(instance.app, 'POST', `/admin/v1/organizations/${organization.id}/keys`, { name: 'proxied', allowedCidrs: ['203.0.113.0/24'] });
        expect((await viaProxy(base, key.json().key, '203.0.113.7')).status).toBe(inside);
        const refused = await viaProxy(base, key.json().key, '198.51.100.1');
        expect(refused.status).toBe(outside);
        expect(((await refused.json()) as { error: { details: unknown } }).error.details).toEqual({ clientAddress: instance === trusting ? '198.51.100.1' : '127.0.0.1' });
      }
    } finally {
      await trusting.close();
      await plain.close();
    }
  });
});

describe('allowedCidrs propagate to a second instance', () => {
  let store: Store;
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    store = await createTestStore();
    // PostgreSQL: the cluster's own bus (Redis). PGlite: two instances in one process share an in-process bus.
    const bus = new LocalInvalidationBus();
    const options = usingPostgres ? { store, config: { redisUrl: redisTestUrl } } : { store, deps: { bus } };
    a = await startTestApp(options);
    b = await startTestApp(options);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    await store.close();
  });

  it('a change on A is in force on B within one second', async () => {
    const { key } = await (async () => {
      const organization = await createOrganization(a.app);
      return { key: await issueKey(a.app, organization.id) };
    })();
    const fromB = () => b.app.inject({ url: '/v1/whoami', remoteAddress: '198.51.100.1', headers: withKey(key.key) });
    expect((await fromB()).statusCode).toBe(200);
    const started = performance.now();
    expect((await admin(a.app, 'PATCH', `/admin/v1/keys/${key.id}`, { allowedCidrs: ['203.0.113.0/24'] })).statusCode).toBe(200);
    let status = 200;
    while (performance.now() - started < 5_000) {
      status = (await fromB()).statusCode;
      if (status === 403) break;
      await sleep(10);
    }
    const elapsed = performance.now() - started;
    expect(status).toBe(403);
    expect(elapsed).toBeLessThan(1_000);
  });
});
