import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatehouseAdmin } from '../src/cli/client.ts';
import { adminClient, countingFetch, partnerClient, partnerWithKey, rejection, startListeningApp, type ListeningApp } from './client-support.ts';

let t: ListeningApp;
let admin: GatehouseAdmin;
beforeAll(async () => {
  t = await startListeningApp();
  admin = adminClient(t.baseUrl);
});
afterAll(async () => t.close());


describe('GatehouseAdmin against a real server', () => {
  it('plans: lists the defaults and creates a plan', async () => {
    const plans = await admin.plans.list();
    expect(plans.map((plan) => [plan.name, plan.rank, plan.features])).toEqual(
      expect.arrayContaining([
        ['free', 0, []],
        ['starter', 1, []],
        ['pro', 2, ['api_access']],
        ['partner', 3, ['api_access']],
      ]),
    );
    const created = await admin.plans.create({ name: 'enterprise', rank: 9, features: ['api_access'] });
    expect(created).toMatchObject({ name: 'enterprise', rank: 9, features: ['api_access'] });
    expect((await admin.plans.list()).map((plan) => plan.name)).toContain('enterprise');
  });

  it('organizations: create, get, update (plan, tier, credits, apiAccessRevoked both ways)', async () => {
    const created = await admin.organizations.create({ name: 'Acme Growth', plan: 'pro', rateLimitTier: 'pilot', creditBalance: 10 });
    expect(created).toMatchObject({ name: 'Acme Growth', plan: 'pro', rateLimitTier: 'pilot', creditBalance: 10, apiAccessRevoked: false });
    expect(await admin.organizations.get(created.id)).toEqual(created);

    const updated = await admin.organizations.update(created.id, { plan: null, rateLimitTier: 'partner', creditBalance: 99, apiAccessRevoked: true, name: 'Acme' });
    expect(updated).toMatchObject({ id: created.id, name: 'Acme', plan: null, rateLimitTier: 'partner', creditBalance: 99, apiAccessRevoked: true });
    expect((await admin.organizations.update(created.id, { apiAccessRevoked: false })).apiAccessRevoked).toBe(false);

    const missing = await rejection(admin.organizations.get('00000000-0000-4000-8000-000000000000'));
    expect(missing).toMatchObject({ status: 404, code: 'NOT_FOUND' });
    expect(missing.requestId).toMatch(/^req_/);
    const invalid = await rejection(admin.organizations.update(created.id, { rateLimitTier: 'no-such-tier' }));
    expect(invalid).toMatchObject({ status: 422, code: 'VALIDATION_FAILED' });
    expect(invalid.details.issues).toEqual([expect.objectContaining({ path: 'body.rateLimitTier' })]);
    // Names every object has are not tiers: `constructor` was accepted and broke every request of the organization.
    for (const inherited of ['constructor', 'tostring', 'hasownproperty']) {
      expect(await rejection(admin.organizations.update(created.id, { rateLimitTier: inherited }))).toMatchObject({ status: 422, code: 'VALIDATION_FAILED' });
    }
    expect((await rejection(admin.organizations.create({ name: 'Inherited', rateLimitTier: 'constructor' }))).status).toBe(422);
  });

  it('organizations: list walks every page, page returns one page and its cursor', async () => {
    const ids = new Set<string>();
    for (let index = 0; index < 5; index++) ids.add((await admin.organizations.create({ name: `Paged ${index}` })).id);

    const firstPage = await admin.organizations.page({ limit: 2 });
    expect(firstPage.data).toHaveLength(2);
    expect(firstPage.nextCursor).toEqual(expect.any(String));
    const secondPage = await admin.organizations.page({ limit: 2, cursor: firstPage.nextCursor! });
    expect(secondPage.data.map((org) => org.id)).not.toContain(firstPage.data[0]!.id);

    const { fetch, calls } = countingFetch();
    const walked = await adminClient(t.baseUrl, { fetch }).organizations.list({ limit: 2 }).toArray();
    const all = (await admin.organizations.page({ limit: 100 })).data;
    expect(walked.map((org) => org.id)).toEqual(all.map((org) => org.id));
    expect(new Set(walked.map((org) => org.id)).size).toBe(walked.length);
    for (const id of ids) expect(walked.map((org) => org.id)).toContain(id);
    // One request per page of two, and the walk stopped on the page whose cursor was null.
    expect(calls).toHaveLength(Math.ceil(all.length / 2));

    let pages = 0;
    for await (const page of admin.organizations.list({ limit: 2 }).pages()) {
      pages++;
      expect(page.data.length).toBeLessThanOrEqual(2);
    }
    expect(pages).toBeGreaterThanOrEqual(3);
    // The newest first: the last organization created leads the walk.
    const [newest] = await admin.organizations.list({ limit: 1 }).toArray(1);
    expect(newest!.name).toBe('Paged 4');
  });

  it('keys: issue, list, get, kill, unkill, revoke', async () => {
    const organization = await admin.organizations.create({ name: 'Keyed', plan: 'partner' });
    const issued = await admin.keys.issue(organization.id, { name: 'ci', env: 'test', scopes: ['projects:read'] });
    expect(issued.key).toMatch(new RegExp(`^${issued.displayPrefix}_`));
    expect(issued).toMatchObject({ organizationId: organization.id, name: 'ci', env: 'test', scopes: ['projects:read'], status: 'active', killSwitch: false });

    const listed = await admin.keys.list(organization.id).toArray();
    expect(listed.map((key) => key.id)).toEqual([issued.id]);
    expect(listed[0]).not.toHaveProperty('key');
    expect((await admin.keys.page(organization.id, { limit: 1 })).data).toHaveLength(1);
    expect(await admin.keys.get(issued.id)).toEqual(listed[0]);

    const gh = partnerClient(t.baseUrl, issued.key);
    expect((await admin.keys.kill(issued.id)).killSwitch).toBe(true);
    expect((await gh.whoami()).killSwitch).toBe(true);
    expect((await admin.keys.unkill(issued.id)).killSwitch).toBe(false);
    expect((await gh.whoami()).killSwitch).toBe(false);

    const revoked = await admin.keys.revoke(issued.id);
    expect(revoked).toMatchObject({ status: 'revoked', revokedAt: expect.any(String) });
    const error = await rejection(gh.whoami());
    expect(error).toMatchObject({ status: 401, code: 'UNAUTHENTICATED', message: 'API key has been revoked.' });
  });

  it('keys.killByKeyId kills by the public key_id, and answers 404 for a key_id nobody has', async () => {
    const { key } = await partnerWithKey(admin);
    expect(await admin.keys.killByKeyId(key.keyId)).toMatchObject({ id: key.id, keyId: key.keyId, killSwitch: true });
    expect((await partnerClient(t.baseUrl, key.key).whoami()).killSwitch).toBe(true);
    const unknown = key.keyId === '0000000000000000' ? '1111111111111111' : '0000000000000000';
    expect(await rejection(admin.keys.killByKeyId(unknown))).toMatchObject({ status: 404, code: 'NOT_FOUND' });
  });

  it('killSwitch: get and set both ways', async () => {
    expect(await admin.killSwitch.get()).toEqual({ enabled: false });
    try {
      expect(await admin.killSwitch.set(true)).toEqual({ enabled: true });
      expect(await admin.killSwitch.get()).toEqual({ enabled: true });
    } finally {
      expect(await admin.killSwitch.set(false)).toEqual({ enabled: false });
    }
  });

  it('audit: lists entries newest first, filtered by organization, key and action, across pages', async () => {
    const { organization, key } = await partnerWithKey(admin, { name: 'Audited' });
    await admin.keys.kill(key.id);
    await admin.keys.unkill(key.id);

    const entries = await admin.audit.list({ organizationId: organization.id, limit: 2 }).toArray();
    expect(entries.map((entry) => entry.action)).toEqual(['admin.key.unkill', 'admin.key.kill', 'admin.key.create', 'admin.organization.create']);
    expect(entries.every((entry) => entry.organizationId === organization.id && entry.actor === 'admin' && entry.status !== null)).toBe(true);

    const kills = await admin.audit.page({ organizationId: organization.id, action: 'admin.key.kill' });
    expect(kills).toEqual({ data: [expect.objectContaining({ action: 'admin.key.kill', targetId: key.id })], nextCursor: null });

    await partnerClient(t.baseUrl, key.key).whoami();
    expect(await admin.audit.page({ apiKeyId: key.id })).toEqual({ data: [], nextCursor: null });
  });

  it('refuses a wrong admin token (401) and a partner key (401), without retrying', async () => {
    const { key } = await partnerWithKey(admin);
    for (const adminToken of ['wrong-token', key.key]) {
      const { fetch, calls } = countingFetch();
      const error = await rejection(new GatehouseAdmin({ baseUrl: t.baseUrl, adminToken, fetch }).plans.list());
      expect(error).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
      expect(calls).toHaveLength(1);
    }
    expect(() => new GatehouseAdmin({ baseUrl: t.baseUrl, adminToken: undefined })).toThrow(TypeError);
  });
});
