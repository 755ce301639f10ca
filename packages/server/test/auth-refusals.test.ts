import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey } from '../src/keys/format.ts';
import { issueKey, partnerWithKey, withKey } from './factories.ts';
import { ADMIN_TOKEN, startTestApp, type TestApp } from './harness.ts';

const LIMIT = 5;

/**
 * Issue 13, findings 3 and 10: a request that never authenticated writes no audit row (anyone could write those
 * without limit) and is counted in /metrics instead; admin token failures are throttled per client address and
 * logged, and the right token is never refused because of other requests' failures.
 */
describe('refused authentication: no audit rows, counted, throttled', () => {
  let nowMs = 1_800_000_000_000;
  let t: TestApp;
  let apiKey: string;
  beforeAll(async () => {
    t = await startTestApp({ config: { authFailuresPerMinute: LIMIT }, deps: { now: () => nowMs } });
    apiKey = (await partnerWithKey(t.app)).key.key;
  });
  afterAll(async () => t.close());

  const auditRows = async () => Number((await t.deps.store.db.selectFrom('audit_entries').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
  const refusals = async (surface: string, outcome: string) =>
    (await t.deps.metrics.authRefusals.get()).values.find((value) => value.labels.surface === surface && value.labels.outcome === outcome)?.value ?? 0;
  const adminFrom = (remoteAddress: string, token: string | undefined, method: 'GET' | 'PUT' = 'GET') =>
    t.app.inject({
      method,
      url: method === 'GET' ? '/admin/v1/plans' : '/admin/v1/kill-switch',
      remoteAddress,
      headers: token === undefined ? {} : { 'x-admin-token': token },
      ...(method === 'PUT' ? { payload: { enabled: true } } : {}),
    });

  it('writes no audit row for a wrong or missing admin token, and counts the refusals', async () => {
    const rows = await auditRows();
    const counted = await refusals('admin', 'unauthenticated');
    for (const token of [undefined, 'wrong-token', '']) {
      expect((await adminFrom('10.1.0.1', token)).statusCode).toBe(401);
      expect((await adminFrom('10.1.0.2', token, 'PUT')).statusCode).toBe(401);
    }
    expect(await auditRows()).toBe(rows);
    expect(await refusals('admin', 'unauthenticated')).toBe(counted + 6);
    expect(await t.app.inject({ url: '/metrics' }).then((response) => response.body)).toMatch(/gatehouse_auth_refusals_total\{surface="admin",outcome="unauthenticated"\} \d+/);
    // An authenticated admin call is audited as before.
    expect((await adminFrom('10.1.0.1', ADMIN_TOKEN)).statusCode).toBe(200);
    expect(await auditRows()).toBe(rows + 1);
  });

  it('writes no audit row for an audited /v1 route refused for its key, and counts the refusals', async () => {
    const rows = await auditRows();
    const counted = await refusals('v1', 'unauthenticated');
    const create = (headers: Record<string, string>) => t.app.inject({ method: 'POST', url: '/v1/projects', remoteAddress: '10.1.1.1', headers, payload: { name: 'x' } });
    for (const headers of [{}, withKey('lp_live_garbage'), withKey(`${apiKey.slice(0, -4)}AAAA`)]) {
      expect((await create(headers)).statusCode).toBe(401);
    }
    expect(await auditRows()).toBe(rows);
    expect(await refusals('v1', 'unauthenticated')).toBe(counted + 3);
    expect((await create(withKey(apiKey))).statusCode).toBe(201);
    expect(await auditRows()).toBe(rows + 1);
  });

  it('throttles admin token failures per client address, logs them, and never refuses the right token', async () => {
    nowMs += 120_000;
    const address = '10.2.0.1';
    for (let i = 0; i < LIMIT; i++) expect((await adminFrom(address, `guess-${i}`)).statusCode).toBe(401);
    const refused = await adminFrom(address, 'guess-next');
    expect(refused.statusCode).toBe(429);
    expect(refused.json().error).toMatchObject({ code: 'RATE_LIMITED', details: { retryAfterMs: 60_000 } });
    expect(refused.headers['retry-after']).toBe('60');
    expect(await refusals('admin', 'throttled')).toBeGreaterThan(0);
    // No token at all counts as a failure too.
    expect((await adminFrom(address, undefined)).statusCode).toBe(429);

    // The operator on the same address (behind the same NAT) is served: the token is checked before the throttle.
    expect((await adminFrom(address, ADMIN_TOKEN)).statusCode).toBe(200);
    expect((await adminFrom(address, ADMIN_TOKEN, 'PUT')).statusCode).toBe(200);
    await t.app.inject({ method: 'PUT', url: '/admin/v1/kill-switch', headers: { 'x-admin-token': ADMIN_TOKEN }, payload: { enabled: false } });
    // Another address is not affected.
    expect((await adminFrom('10.2.0.2', 'guess')).statusCode).toBe(401);

    const logged = t.logs.lines.filter((line) => line.includes('admin token refused'));
    expect(logged.length).toBeGreaterThan(LIMIT);
    expect(logged.some((line) => line.includes(address) && line.includes('"outcome":"throttled"'))).toBe(true);
    expect(t.logs.text).not.toContain('guess-next');

    // The window is a minute.
    nowMs += 60_000;
    expect((await adminFrom(address, 'guess-again')).statusCode).toBe(401);
  });

  const whoami = (remoteAddress: string, headers: Record<string, string>) => t.app.inject({ url: '/v1/whoami', remoteAddress, headers });

  it('throttles /v1 failures of every kind per client address: no key, malformed, bad checksum (finding 3)', async () => {
    nowMs += 120_000;
    const address = '10.3.0.1';
    const badChecksum = `${apiKey.slice(0, -2)}${apiKey.endsWith('AA') ? 'BB' : 'AA'}`;
    const kinds: Record<string, string>[] = [{}, withKey('not-a-key'), withKey(badChecksum), { authorization: 'Bearer lp_live_nope' }];
    for (let i = 0; i < LIMIT; i++) expect((await whoami(address, kinds[i % kinds.length]!)).statusCode).toBe(401);
    for (const headers of kinds) {
      const refused = await whoami(address, headers);
      expect(refused.statusCode).toBe(429);
      expect(refused.json().error.code).toBe('RATE_LIMITED');
    }
    expect(await refusals('v1', 'throttled')).toBeGreaterThanOrEqual(kinds.length);
  });

  it('never refuses a correct key for other requests failures: same address, or its own key_id flooded (finding 4)', async () => {
    nowMs += 120_000;
    const { organization } = await partnerWithKey(t.app);
    // Behind one NAT: others' keyless requests put the address over its limit; a key never seen on this instance
    // (so not cached, verified now for the first time) from that address is served.
    const nat = '10.4.0.1';
    for (let i = 0; i < LIMIT + 3; i++) await whoami(nat, {});
    expect((await whoami(nat, {})).statusCode).toBe(429);
    const fresh = await issueKey(t.app, organization.id, { name: 'behind the nat' });
    expect((await whoami(nat, withKey(fresh.key))).statusCode).toBe(200);
    // ...while the failures from that address are still refused.
    expect((await whoami(nat, withKey('lp_live_nope'))).statusCode).toBe(429);

    // A victim's public key_id flooded with wrong secrets from many addresses: its real key, never verified here
    // before, is served; the next wrong secret for that key_id is still refused.
    const victim = await issueKey(t.app, organization.id, { name: 'victim' });
    for (let i = 0; i < LIMIT + 3; i++) await whoami(`10.5.0.${i + 1}`, withKey(generateKey('lp', 'live', victim.keyId).key));
    expect((await whoami('10.5.1.1', withKey(generateKey('lp', 'live', victim.keyId).key))).statusCode).toBe(429);
    expect((await whoami('10.5.1.2', withKey(victim.key))).statusCode).toBe(200);
    expect((await whoami('10.5.1.3', withKey(generateKey('lp', 'live', victim.keyId).key))).statusCode).toBe(429);
  });
});
