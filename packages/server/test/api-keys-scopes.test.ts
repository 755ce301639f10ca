import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES } from '../src/http/route-config.ts';
import { createOrganization, issueKey, withKey } from './factories.ts';
import { startTestApp, type TestApp } from './harness.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t.close());

type Method = 'GET' | 'POST' | 'DELETE';
const call = (key: string, method: Method, url: string, payload?: object) =>
  t.app.inject({ method, url, headers: withKey(key), ...(payload === undefined ? {} : { payload }) });

async function organizationWith(scopes: string[]) {
  const organization = await createOrganization(t.app);
  const holder = await issueKey(t.app, organization.id, { name: 'restricted', scopes });
  const full = await issueKey(t.app, organization.id, { name: 'full access' });
  return { organization, holder, full };
}

const keyCount = async (fullKey: string) => (await call(fullKey, 'GET', '/v1/api-keys?limit=100')).json().data.length as number;

describe('scopes on /v1/api-keys (SPEC 9)', () => {
  it('a key without keys:read or keys:write gets 403 FORBIDDEN_SCOPE naming the scope', async () => {
    const { holder, full } = await organizationWith(['projects:read']);
    const cases: Array<[Method, string, string]> = [
      ['GET', '/v1/api-keys', 'keys:read'],
      ['POST', '/v1/api-keys', 'keys:write'],
      ['DELETE', `/v1/api-keys/${full.id}`, 'keys:write'],
      ['POST', `/v1/api-keys/${full.id}/roll`, 'keys:write'],
      ['POST', `/v1/api-keys/${full.id}/kill`, 'keys:write'],
    ];
    for (const [method, url, scope] of cases) {
      const response = await call(holder.key, method, url, method === 'POST' ? { name: 'x' } : undefined);
      expect(response.statusCode, `${method} ${url}`).toBe(403);
      expect(response.json().error).toMatchObject({ code: 'FORBIDDEN_SCOPE', details: { requiredScope: scope } });
    }
    // Nothing happened to the target.
    const target = (await call(full.key, 'GET', '/v1/api-keys?limit=100')).json().data.find((key: { id: string }) => key.id === full.id);
    expect(target).toMatchObject({ status: 'active', killSwitch: false, expiresAt: null });
  });

  it('keys:read lists but does not write; keys:write writes but does not list', async () => {
    const reader = await organizationWith(['keys:read']);
    expect((await call(reader.holder.key, 'GET', '/v1/api-keys')).statusCode).toBe(200);
    expect((await call(reader.holder.key, 'POST', '/v1/api-keys', { name: 'x', scopes: ['keys:read'] })).json().error.details.requiredScope).toBe('keys:write');

    const writer = await organizationWith(['keys:write']);
    expect((await call(writer.holder.key, 'POST', '/v1/api-keys', { name: 'x', scopes: ['keys:write'] })).statusCode).toBe(201);
    expect((await call(writer.holder.key, 'GET', '/v1/api-keys')).json().error.details.requiredScope).toBe('keys:read');
  });

  it('a key with an empty scope list has full access', async () => {
    const { full } = await organizationWith(['keys:read']);
    expect((await call(full.key, 'GET', '/v1/api-keys')).statusCode).toBe(200);
    expect((await call(full.key, 'POST', '/v1/api-keys', { name: 'x', scopes: ['audit:read'] })).statusCode).toBe(201);
    expect((await call(full.key, 'POST', '/v1/api-keys', { name: 'y' })).statusCode).toBe(201);
  });
});

describe('escalation attempts by restricted keys', () => {
  it('cannot create a key with a scope it does not hold', async () => {
    const { holder, full } = await organizationWith(['keys:write', 'projects:read']);
    const before = await keyCount(full.key);
    for (const scopes of [['projects:write'], ['projects:read', 'audit:read'], ['keys:read'], ['keys:write', 'webhooks:write', 'jobs:cancel']]) {
      const response = await call(holder.key, 'POST', '/v1/api-keys', { name: 'escalate', scopes });
      expect(response.statusCode, scopes.join()).toBe(403);
      const missing = scopes.filter((scope) => !['keys:write', 'projects:read'].includes(scope));
      expect(response.json().error).toMatchObject({ code: 'FORBIDDEN_SCOPE', details: { requiredScope: missing[0], missingScopes: missing } });
    }
    expect(await keyCount(full.key)).toBe(before);
  });

  it('cannot create a full-access key, whether the scope list is empty or left out', async () => {
    const { holder, full } = await organizationWith(['keys:write', 'projects:read']);
    const before = await keyCount(full.key);
    for (const payload of [{ name: 'escalate', scopes: [] }, { name: 'escalate' }]) {
      const response = await call(holder.key, 'POST', '/v1/api-keys', payload);
      expect(response.statusCode).toBe(403);
      expect(response.json().error.code).toBe('FORBIDDEN_SCOPE');
      expect(response.json().error.details.missingScopes).toContain('audit:read');
    }
    expect(await keyCount(full.key)).toBe(before);
  });

  it('a key holding every scope of today still cannot mint full access (the empty list also covers scopes added later)', async () => {
    const every = [...SCOPES];
    const { holder } = await organizationWith(every);
    const response = await call(holder.key, 'POST', '/v1/api-keys', { name: 'escalate', scopes: [] });
    expect(response.statusCode).toBe(403);
    expect(response.json().error).toMatchObject({ code: 'FORBIDDEN_SCOPE', details: { requiredScope: null, missingScopes: [] } });
    expect((await call(holder.key, 'POST', '/v1/api-keys', { name: 'ok', scopes: every })).statusCode).toBe(201);
  });

  it('may create a key with the same or fewer scopes, and that key is restricted to them', async () => {
    const { holder } = await organizationWith(['keys:write', 'keys:read', 'projects:read']);
    const same = await call(holder.key, 'POST', '/v1/api-keys', { name: 'same', scopes: ['projects:read', 'keys:write', 'keys:read'] });
    expect(same.statusCode).toBe(201);
    const fewer = await call(holder.key, 'POST', '/v1/api-keys', { name: 'fewer', scopes: ['keys:read'] });
    expect(fewer.statusCode).toBe(201);
    const narrow = fewer.json().key as string;
    expect((await call(narrow, 'GET', '/v1/api-keys')).statusCode).toBe(200);
    expect((await call(narrow, 'POST', '/v1/api-keys', { name: 'x', scopes: ['keys:read'] })).statusCode).toBe(403);
  });

  it('cannot roll a key whose scopes it does not hold, full access included; the target is left untouched', async () => {
    const { organization, holder, full } = await organizationWith(['keys:write', 'keys:read', 'projects:read']);
    const wider = await issueKey(t.app, organization.id, { name: 'wider', scopes: ['projects:read', 'projects:write'] });
    const before = await keyCount(full.key);
    for (const [target, requiredScope] of [
      [full, 'projects:write'],
      [wider, 'projects:write'],
    ] as const) {
      const response = await call(holder.key, 'POST', `/v1/api-keys/${target.id}/roll`, { overlapSeconds: 0 });
      expect(response.statusCode).toBe(403);
      expect(response.json().error).toMatchObject({ code: 'FORBIDDEN_SCOPE', details: { requiredScope } });
      expect((await call(target.key, 'GET', '/v1/whoami')).statusCode).toBe(200);
    }
    expect(await keyCount(full.key)).toBe(before);
    const listed = (await call(full.key, 'GET', '/v1/api-keys?limit=100')).json().data;
    for (const key of listed) expect(key.expiresAt).toBeNull();
  });

  it('may roll a key within its own scopes, itself included', async () => {
    const { organization, holder } = await organizationWith(['keys:write', 'projects:read']);
    const narrower = await issueKey(t.app, organization.id, { name: 'narrower', scopes: ['projects:read'] });
    const rolled = await call(holder.key, 'POST', `/v1/api-keys/${narrower.id}/roll`, {});
    expect(rolled.statusCode).toBe(201);
    expect(rolled.json().scopes).toEqual(['projects:read']);
    const self = await call(holder.key, 'POST', `/v1/api-keys/${holder.id}/roll`, {});
    expect(self.statusCode).toBe(201);
    expect(self.json().scopes).toEqual(['keys:write', 'projects:read']);
  });

  it('cannot revoke or kill a key with scopes it does not hold, full access included (SPEC 9); the targets keep working', async () => {
    const { organization, holder, full } = await organizationWith(['keys:write']);
    const wider = await issueKey(t.app, organization.id, { name: 'wider', scopes: ['keys:write', 'projects:read'] });
    for (const [target, requiredScope] of [
      [full, 'projects:read'],
      [wider, 'projects:read'],
    ] as const) {
      for (const [method, url] of [
        ['POST', `/v1/api-keys/${target.id}/kill`],
        ['DELETE', `/v1/api-keys/${target.id}`],
      ] as const) {
        const response = await call(holder.key, method, url);
        expect(response.statusCode, `${method} ${url}`).toBe(403);
        expect(response.json().error).toMatchObject({ code: 'FORBIDDEN_SCOPE', details: { requiredScope } });
      }
      expect((await call(target.key, 'GET', '/v1/whoami')).json()).toMatchObject({ killSwitch: false });
      expect((await call(target.key, 'GET', '/v1/api-keys')).statusCode).not.toBe(401);
    }
  });

  it('may revoke or kill keys within its own scopes, itself included; a full-access key may act on any', async () => {
    const { organization, holder, full } = await organizationWith(['keys:write', 'projects:read']);
    const narrower = await issueKey(t.app, organization.id, { name: 'narrower', scopes: ['projects:read'] });
    const same = await issueKey(t.app, organization.id, { name: 'same', scopes: ['projects:read', 'keys:write'] });
    expect((await call(holder.key, 'POST', `/v1/api-keys/${narrower.id}/kill`)).statusCode).toBe(200);
    expect((await call(holder.key, 'DELETE', `/v1/api-keys/${same.id}`)).statusCode).toBe(200);
    expect((await call(narrower.key, 'GET', '/v1/projects')).statusCode).toBe(503);
    expect((await call(same.key, 'GET', '/v1/projects')).statusCode).toBe(401);
    expect((await call(holder.key, 'POST', `/v1/api-keys/${holder.id}/kill`)).statusCode).toBe(200);
    expect((await call(full.key, 'DELETE', `/v1/api-keys/${holder.id}`)).statusCode).toBe(200);
  });
});

describe("a roll carries the old key's restrictions (SPEC 8.5)", () => {
  it('rolls a killed key into a killed successor', async () => {
    const { organization, full } = await organizationWith(['keys:write']);
    const leaked = await issueKey(t.app, organization.id, { name: 'leaked' });
    expect((await call(full.key, 'POST', `/v1/api-keys/${leaked.id}/kill`)).statusCode).toBe(200);
    const rolled = await call(full.key, 'POST', `/v1/api-keys/${leaked.id}/roll`, {});
    expect(rolled.statusCode).toBe(201);
    expect(rolled.json()).toMatchObject({ killSwitch: true, previousKey: { killSwitch: true } });
    const successor = await call(rolled.json().key, 'GET', '/v1/projects');
    expect(successor.statusCode).toBe(503);
    expect(successor.json().error.code).toBe('KILL_SWITCH');
  });

  it('gives the successor of an expiring key no later an expiry, even when it rolls itself', async () => {
    const organization = await createOrganization(t.app);
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    const expiring = await issueKey(t.app, organization.id, { name: 'expiring', expiresAt });
    const rolled = await call(expiring.key, 'POST', `/v1/api-keys/${expiring.id}/roll`, { overlapSeconds: 60 });
    expect(rolled.statusCode).toBe(201);
    expect(rolled.json().expiresAt).toBe(expiresAt);
    // And the successor's successor still cannot outlive it.
    const again = await call(rolled.json().key, 'POST', `/v1/api-keys/${rolled.json().id}/roll`, {});
    expect(again.statusCode).toBe(201);
    expect(again.json().expiresAt).toBe(expiresAt);
    // A key without an expiry still rolls into one without.
    const lasting = await issueKey(t.app, organization.id, { name: 'lasting' });
    expect((await call(lasting.key, 'POST', `/v1/api-keys/${lasting.id}/roll`, {})).json().expiresAt).toBeNull();
  });
});
