import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, partnerWithKey, withKey } from './factories.ts';
import { startTestApp, type TestApp } from './harness.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t.close());

describe('GET /v1/whoami', () => {
  it('answers the SPEC 3 shape for a healthy key', async () => {
    const { organization, key } = await partnerWithKey(t.app, { name: 'Acme Growth', rateLimitTier: 'pilot' });
    const response = await t.app.inject({ url: '/v1/whoami', headers: withKey(key.key) });
    expect(response.statusCode).toBe(200);
    expect(response.headers['x-request-id']).toMatch(/^req_/);
    expect(response.json()).toEqual({
      organizationId: organization.id,
      workspaceId: organization.id,
      organizationName: 'Acme Growth',
      scopes: [],
      rateLimitTier: 'pilot',
      killSwitch: false,
      apiAccessRevoked: false,
      apiKeyId: key.id,
      creditBalance: 6000,
      env: 'live',
    });
  });

  it('reports a key or organization switch with 200 and the flag, but 503 for the global one', async () => {
    const { organization, key } = await partnerWithKey(t.app);
    await admin(t.app, 'POST', `/admin/v1/keys/${key.id}/kill`);
    let response = await t.app.inject({ url: '/v1/whoami', headers: withKey(key.key) });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ killSwitch: true, apiAccessRevoked: false });

    await admin(t.app, 'PATCH', `/admin/v1/organizations/${organization.id}`, { apiAccessRevoked: true });
    response = await t.app.inject({ url: '/v1/whoami', headers: withKey(key.key) });
    expect(response.json()).toMatchObject({ killSwitch: true, apiAccessRevoked: true });

    await admin(t.app, 'PUT', '/admin/v1/kill-switch', { enabled: true });
    response = await t.app.inject({ url: '/v1/whoami', headers: withKey(key.key) });
    expect(response.statusCode).toBe(503);
    expect(response.json().error).toMatchObject({ code: 'KILL_SWITCH', details: { scope: 'global' } });
    await admin(t.app, 'PUT', '/admin/v1/kill-switch', { enabled: false });
    response = await t.app.inject({ url: '/v1/whoami', headers: withKey(key.key) });
    expect(response.statusCode).toBe(200);
  });
});
