import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, createOrganization, issueKey, partnerWithKey, secretOf, withKey } from './factories.ts';
import { startTestApp, type TestApp } from './harness.ts';

// A clock the tests move, so expiry is tested without sleeping.
let clock = Date.parse('2030-01-01T00:00:00.000Z');
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ deps: { now: () => clock } });
});
afterAll(async () => t.close());

type Method = 'GET' | 'POST' | 'DELETE';
const call = (key: string, method: Method, url: string, payload?: object) =>
  t.app.inject({ method, url, headers: withKey(key), ...(payload === undefined ? {} : { payload }) });

describe('POST /v1/api-keys', () => {
  it('creates a key, returns the plain key this once, and the key works', async () => {
    const { organization, key } = await partnerWithKey(t.app);
    const response = await call(key.key, 'POST', '/v1/api-keys', { name: 'ci', env: 'test', scopes: ['projects:read', 'projects:read'] });
    expect(response.statusCode).toBe(201);
    const created = response.json();
    expect(created).toMatchObject({
      organizationId: organization.id,
      name: 'ci',
      env: 'test',
      scopes: ['projects:read'],
      status: 'active',
      killSwitch: false,
      expiresAt: null,
      lastUsedAt: null,
      revokedAt: null,
    });
    expect(created.key).toMatch(new RegExp(`^${created.displayPrefix}_[A-Za-z0-9_-]{43}$`));
    expect(created.displayPrefix).toBe(`lp_test_${created.keyId}`);

    const whoami = await call(created.key, 'GET', '/v1/whoami');
    expect(whoami.statusCode).toBe(200);
    expect(whoami.json()).toMatchObject({ apiKeyId: created.id, organizationId: organization.id, env: 'test', scopes: ['projects:read'] });

    const list = await call(key.key, 'GET', '/v1/api-keys');
    expect(list.body).not.toContain(secretOf(created.key));
    expect(list.json().data.find((item: { id: string }) => item.id === created.id)).not.toHaveProperty('key');
    expect(t.logs.text).not.toContain(secretOf(created.key));
  });

  it('defaults to a live key with full access', async () => {
    const { key } = await partnerWithKey(t.app);
    const created = (await call(key.key, 'POST', '/v1/api-keys', { name: 'default' })).json();
    expect(created).toMatchObject({ env: 'live', scopes: [] });
  });

  it('validates the body: unknown scope, unknown field, past or unshowable expiry', async () => {
    const { key } = await partnerWithKey(t.app);
    const bad = [
      { name: 'x', scopes: ['keys:admin'] },
      { name: 'x', owner: 'me' },
      { name: '' },
      { name: 'x', env: 'prod' },
      { name: 'x', expiresAt: new Date(clock - 1000).toISOString() },
      // Year 10000 in UTC, which no date-time in an answer can show: a 500 before.
      { name: 'x', expiresAt: '9999-12-31T23:59:59.999-14:00' },
    ];
    for (const payload of bad) {
      const response = await call(key.key, 'POST', '/v1/api-keys', payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(422);
      expect(response.json().error.code).toBe('VALIDATION_FAILED');
    }
  });

  it('a key created with expiresAt stops at that time with "API key has expired."', async () => {
    const { key } = await partnerWithKey(t.app);
    const expiresAt = new Date(clock + 60_000).toISOString();
    const created = (await call(key.key, 'POST', '/v1/api-keys', { name: 'temporary', expiresAt })).json();
    expect(created.expiresAt).toBe(expiresAt);
    expect((await call(created.key, 'GET', '/v1/whoami')).statusCode).toBe(200);
    clock += 60_000;
    const response = await call(created.key, 'GET', '/v1/whoami');
    expect(response.statusCode).toBe(401);
    expect(response.json().error).toMatchObject({ code: 'UNAUTHENTICATED', message: 'API key has expired.' });
  });
});

describe('GET /v1/api-keys', () => {
  it("lists the organization's keys newest first, paginated, with display prefixes, status, scopes and lastUsedAt", async () => {
    const organization = await createOrganization(t.app);
    const other = await partnerWithKey(t.app);
    const keys = [];
    for (let i = 0; i < 5; i++) keys.push(await issueKey(t.app, organization.id, { name: `key ${i}`, scopes: i === 0 ? [] : ['keys:read'] }));
    const caller = keys[0]!;
    await call(keys[1]!.key, 'GET', '/v1/whoami');
    await t.deps.usage.flush();
    await admin(t.app, 'POST', `/admin/v1/keys/${keys[2]!.id}/revoke`);

    const seen: Array<Record<string, unknown>> = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const response = await call(caller.key, 'GET', `/v1/api-keys?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(response.statusCode).toBe(200);
      const page = response.json();
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data);
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen.map((item) => item.id)).toEqual(keys.map((key) => key.id).reverse());
    expect(seen.some((item) => item.id === other.key.id)).toBe(false);
    for (const item of seen) {
      expect(item).not.toHaveProperty('key');
      expect(item.displayPrefix).toMatch(/^lp_live_[0-9A-Z]{16}$/);
    }
    const byId = new Map(seen.map((item) => [item.id, item]));
    expect(byId.get(keys[1]!.id)).toMatchObject({ lastUsedAt: expect.any(String), scopes: ['keys:read'], status: 'active' });
    expect(byId.get(keys[2]!.id)).toMatchObject({ status: 'revoked', revokedAt: expect.any(String), lastUsedAt: null });
    expect(byId.get(keys[0]!.id)).toMatchObject({ scopes: [] });
    const body = JSON.stringify(seen);
    for (const key of keys) expect(body).not.toContain(secretOf(key.key));
  });

  it('refuses a cursor that does not decode', async () => {
    const { key } = await partnerWithKey(t.app);
    const response = await call(key.key, 'GET', '/v1/api-keys?cursor=not-a-cursor');
    expect(response.statusCode).toBe(400);
  });
});

describe('DELETE /v1/api-keys/:id', () => {
  it('revokes immediately and permanently', async () => {
    const { organization, key } = await partnerWithKey(t.app);
    const victim = await issueKey(t.app, organization.id, { name: 'old' });
    expect((await call(victim.key, 'GET', '/v1/whoami')).statusCode).toBe(200);

    const response = await call(key.key, 'DELETE', `/v1/api-keys/${victim.id}`);
    expect(response.statusCode).toBe(200);
    const revoked = response.json();
    expect(revoked).toMatchObject({ id: victim.id, status: 'revoked', revokedAt: new Date(clock).toISOString() });

    // The victim's state was cached by the request above: revocation must reach past the cache at once.
    const after = await call(victim.key, 'GET', '/v1/whoami');
    expect(after.statusCode).toBe(401);
    expect(after.json().error).toMatchObject({ code: 'UNAUTHENTICATED', message: 'API key has been revoked.' });

    // Permanent: revoking again changes nothing, and an operator's un-kill does not bring it back.
    clock += 1000;
    const again = await call(key.key, 'DELETE', `/v1/api-keys/${victim.id}`);
    expect(again.statusCode).toBe(200);
    expect(again.json().revokedAt).toBe(revoked.revokedAt);
    await admin(t.app, 'POST', `/admin/v1/keys/${victim.id}/unkill`);
    expect((await call(victim.key, 'GET', '/v1/whoami')).statusCode).toBe(401);
  });

  it('a key may revoke itself', async () => {
    const { key } = await partnerWithKey(t.app);
    expect((await call(key.key, 'DELETE', `/v1/api-keys/${key.id}`)).statusCode).toBe(200);
    const after = await call(key.key, 'GET', '/v1/api-keys');
    expect(after.statusCode).toBe(401);
    expect(after.json().error.message).toBe('API key has been revoked.');
  });

  it("answers 404 for another organization's key, exactly as for a missing one, and leaves it alone", async () => {
    const mine = await partnerWithKey(t.app);
    const theirs = await partnerWithKey(t.app);
    const foreign = await call(mine.key.key, 'DELETE', `/v1/api-keys/${theirs.key.id}`);
    const missing = await call(mine.key.key, 'DELETE', '/v1/api-keys/00000000-0000-4000-8000-000000000000');
    expect(foreign.statusCode).toBe(404);
    expect(missing.statusCode).toBe(404);
    expect(foreign.json().error.message).toBe(missing.json().error.message);
    expect((await call(theirs.key.key, 'GET', '/v1/whoami')).statusCode).toBe(200);
  });
});

describe('POST /v1/api-keys/:id/roll', () => {
  it('creates a key with the same name, env and scopes; the old one works through the default one-day overlap, then expires', async () => {
    const { organization, key } = await partnerWithKey(t.app);
    const old = await issueKey(t.app, organization.id, { name: 'deploy', env: 'test', scopes: ['projects:read', 'jobs:read'] });
    const response = await t.app.inject({ method: 'POST', url: `/v1/api-keys/${old.id}/roll`, headers: withKey(key.key) });
    expect(response.statusCode).toBe(201);
    const rolled = response.json();
    expect(rolled).toMatchObject({ name: 'deploy', env: 'test', scopes: ['projects:read', 'jobs:read'], status: 'active', expiresAt: null });
    expect(rolled.id).not.toBe(old.id);
    expect(rolled.key).toMatch(/^lp_test_/);
    expect(rolled.previousKey).toMatchObject({ id: old.id, status: 'active', expiresAt: new Date(clock + 86_400_000).toISOString() });

    expect((await call(rolled.key, 'GET', '/v1/whoami')).statusCode).toBe(200);
    clock += 86_400_000 - 1000;
    expect((await call(old.key, 'GET', '/v1/whoami')).statusCode).toBe(200);
    clock += 1000;
    const expired = await call(old.key, 'GET', '/v1/whoami');
    expect(expired.statusCode).toBe(401);
    expect(expired.json().error).toMatchObject({ code: 'UNAUTHENTICATED', message: 'API key has expired.' });
    expect((await call(rolled.key, 'GET', '/v1/whoami')).statusCode).toBe(200);

    // An expired key cannot be rolled again.
    const again = await call(key.key, 'POST', `/v1/api-keys/${old.id}/roll`, {});
    expect(again.statusCode).toBe(409);
    expect(again.json().error.details).toEqual({ reason: 'key_expired' });
  });

  it('takes overlapSeconds from 0 (the old key stops at once) to 604800', async () => {
    const { organization, key } = await partnerWithKey(t.app);
    const old = await issueKey(t.app, organization.id);
    expect((await call(old.key, 'GET', '/v1/whoami')).statusCode).toBe(200);
    for (const overlapSeconds of [-1, 604_801, 1.5, '60']) {
      const response = await call(key.key, 'POST', `/v1/api-keys/${old.id}/roll`, { overlapSeconds } as object);
      expect(response.statusCode, String(overlapSeconds)).toBe(422);
    }
    const week = await issueKey(t.app, organization.id);
    const longest = await call(key.key, 'POST', `/v1/api-keys/${week.id}/roll`, { overlapSeconds: 604_800 });
    expect(longest.statusCode).toBe(201);
    expect(longest.json().previousKey.expiresAt).toBe(new Date(clock + 604_800_000).toISOString());

    const now = await call(key.key, 'POST', `/v1/api-keys/${old.id}/roll`, { overlapSeconds: 0 });
    expect(now.statusCode).toBe(201);
    const after = await call(old.key, 'GET', '/v1/whoami');
    expect(after.statusCode).toBe(401);
    expect(after.json().error.message).toBe('API key has expired.');
  });

  it('never lengthens an earlier expiry', async () => {
    const { organization, key } = await partnerWithKey(t.app);
    const expiresAt = new Date(clock + 3_600_000).toISOString();
    const old = await issueKey(t.app, organization.id, { expiresAt });
    const rolled = (await call(key.key, 'POST', `/v1/api-keys/${old.id}/roll`, {})).json();
    expect(rolled.previousKey.expiresAt).toBe(expiresAt);
  });

  it('refuses a revoked key (409), and another organization’s key (404) without touching it', async () => {
    const { organization, key } = await partnerWithKey(t.app);
    const revoked = await issueKey(t.app, organization.id);
    await call(key.key, 'DELETE', `/v1/api-keys/${revoked.id}`);
    const response = await call(key.key, 'POST', `/v1/api-keys/${revoked.id}/roll`, {});
    expect(response.statusCode).toBe(409);
    expect(response.json().error).toMatchObject({ code: 'CONFLICT', details: { reason: 'key_revoked' } });

    const theirs = await partnerWithKey(t.app);
    const foreign = await call(key.key, 'POST', `/v1/api-keys/${theirs.key.id}/roll`, {});
    expect(foreign.statusCode).toBe(404);
    const theirList = (await call(theirs.key.key, 'GET', '/v1/api-keys')).json();
    expect(theirList.data).toHaveLength(1);
    expect(theirList.data[0]).toMatchObject({ id: theirs.key.id, expiresAt: null });
  });
});

describe('POST /v1/api-keys/:id/kill', () => {
  it('turns the kill switch on at once; only an operator turns it off', async () => {
    const { organization, key } = await partnerWithKey(t.app);
    const leaked = await issueKey(t.app, organization.id, { name: 'leaked' });
    expect((await call(leaked.key, 'GET', '/v1/api-keys')).statusCode).toBe(200);

    const response = await call(key.key, 'POST', `/v1/api-keys/${leaked.id}/kill`);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ id: leaked.id, killSwitch: true, status: 'active' });

    const blocked = await call(leaked.key, 'GET', '/v1/api-keys');
    expect(blocked.statusCode).toBe(503);
    expect(blocked.json().error).toMatchObject({ code: 'KILL_SWITCH', details: { scope: 'key' } });
    expect((await call(leaked.key, 'GET', '/v1/whoami')).json()).toMatchObject({ killSwitch: true });

    // There is no partner route that turns it off.
    expect((await call(key.key, 'POST', `/v1/api-keys/${leaked.id}/unkill`)).statusCode).toBe(404);
    const operator = await admin(t.app, 'POST', `/admin/v1/keys/${leaked.id}/unkill`);
    expect(operator.json()).toMatchObject({ killSwitch: false });
    expect((await call(leaked.key, 'GET', '/v1/api-keys')).statusCode).toBe(200);
  });

  it('a key may kill itself', async () => {
    const { key } = await partnerWithKey(t.app);
    expect((await call(key.key, 'POST', `/v1/api-keys/${key.id}/kill`)).statusCode).toBe(200);
    expect((await call(key.key, 'GET', '/v1/api-keys')).statusCode).toBe(503);
  });

  it("answers 404 for another organization's key and leaves it alone", async () => {
    const mine = await partnerWithKey(t.app);
    const theirs = await partnerWithKey(t.app);
    expect((await call(mine.key.key, 'POST', `/v1/api-keys/${theirs.key.id}/kill`)).statusCode).toBe(404);
    expect((await call(theirs.key.key, 'GET', '/v1/whoami')).json()).toMatchObject({ killSwitch: false });
  });
});

describe('the routes, together', () => {
  it('need a valid key (missing, malformed, wrong secret: one answer)', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    const routes: Array<[Method, string]> = [
      ['POST', '/v1/api-keys'],
      ['GET', '/v1/api-keys'],
      ['DELETE', `/v1/api-keys/${id}`],
      ['POST', `/v1/api-keys/${id}/roll`],
      ['POST', `/v1/api-keys/${id}/kill`],
    ];
    const { key } = await partnerWithKey(t.app);
    const wrongSecret = `${key.displayPrefix}_${'A'.repeat(43)}`;
    for (const [method, url] of routes) {
      for (const headers of [{}, withKey(wrongSecret), withKey('not a key')]) {
        const response = await t.app.inject({ method, url, headers, payload: method === 'POST' ? { name: 'x' } : undefined });
        expect(response.statusCode, `${method} ${url}`).toBe(401);
        expect(response.json().error).toMatchObject({ code: 'UNAUTHENTICATED', message: 'A valid API key is required.' });
      }
    }
  });

  it('write an audit entry for every mutation, naming the acting key and the target', async () => {
    const { organization, key } = await partnerWithKey(t.app);
    const created = (await call(key.key, 'POST', '/v1/api-keys', { name: 'audited' })).json();
    await call(key.key, 'POST', `/v1/api-keys/${created.id}/roll`, { overlapSeconds: 60 });
    await call(key.key, 'POST', `/v1/api-keys/${created.id}/kill`);
    await call(key.key, 'DELETE', `/v1/api-keys/${created.id}`);
    await call(key.key, 'GET', '/v1/api-keys');
    const entries = (await admin(t.app, 'GET', `/admin/v1/audit?organizationId=${organization.id}&limit=100`)).json().data;
    const mine = entries
      .filter((entry: { action: string }) => entry.action.startsWith('key.'))
      .map((entry: Record<string, unknown>) => [entry.action, entry.targetId, entry.actor, entry.status])
      .reverse();
    expect(mine).toEqual([
      ['key.create', created.id, `key:${key.id}`, 201],
      ['key.roll', created.id, `key:${key.id}`, 201],
      ['key.kill', created.id, `key:${key.id}`, 200],
      ['key.revoke', created.id, `key:${key.id}`, 200],
    ]);
  });

  it('are in the OpenAPI document with their scopes’ routes, tags and summaries', async () => {
    const document = (await t.app.inject({ url: '/v1/openapi.json' })).json();
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(['/v1/api-keys', '/v1/api-keys/{id}', '/v1/api-keys/{id}/roll', '/v1/api-keys/{id}/kill']));
    expect(document.paths['/v1/api-keys'].post).toMatchObject({ tags: ['api-keys'], summary: expect.any(String) });
  });
});

describe('POST /admin/v1/keys/by-key-id/:keyId/kill', () => {
  it('kills a key known only by its key_id (what the scanner reports)', async () => {
    const { key } = await partnerWithKey(t.app);
    expect((await call(key.key, 'GET', '/v1/api-keys')).statusCode).toBe(200);
    const response = await admin(t.app, 'POST', `/admin/v1/keys/by-key-id/${key.keyId}/kill`);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ id: key.id, killSwitch: true });
    expect((await call(key.key, 'GET', '/v1/api-keys')).statusCode).toBe(503);
    const audit = (await admin(t.app, 'GET', `/admin/v1/audit?organizationId=${key.organizationId}&action=admin.key.kill`)).json();
    expect(audit.data[0]).toMatchObject({ actor: 'admin', targetId: key.id });
  });

  it('answers 404 for an unknown key_id, 422 for a malformed one, 401 without the admin token', async () => {
    const { key } = await partnerWithKey(t.app);
    expect((await admin(t.app, 'POST', '/admin/v1/keys/by-key-id/0000000000000000/kill')).statusCode).toBe(404);
    expect((await admin(t.app, 'POST', '/admin/v1/keys/by-key-id/not-a-key-id/kill')).statusCode).toBe(422);
    const partner = await t.app.inject({ method: 'POST', url: `/admin/v1/keys/by-key-id/${key.keyId}/kill`, headers: withKey(key.key, { authorization: `Bearer ${key.key}` }) });
    expect(partner.statusCode).toBe(401);
    expect((await call(key.key, 'GET', '/v1/whoami')).json()).toMatchObject({ killSwitch: false });
  });
});
