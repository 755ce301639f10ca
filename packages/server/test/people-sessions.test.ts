import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, createOrganization, issueKey, withKey } from './factories.ts';
import type { Store } from '../src/db/create-db.ts';
import { ADMIN_TOKEN, createTestStore, type TestApp } from './harness.ts';
import { asPerson, expectError, invited, ORIGIN, PASSWORD, personWithSession, signIn, startPeopleApp, TestClock, type Session } from './people-support.ts';

const HOUR = 3_600_000;

describe('console sessions (SPEC 13.5)', () => {
  const clock = new TestClock();
  let t: TestApp;
  let organizationId: string;
  let owner: Session;

  beforeAll(async () => {
    t = await startPeopleApp({ clock });
    organizationId = (await createOrganization(t.app, { name: 'Sessions' })).id;
    owner = await personWithSession(t.app, organizationId, 'owner@sessions.test', 'owner');
  }, 180_000);
  afterAll(async () => t?.close());

  const keyCount = async () => (await asPerson(t.app, owner, 'GET', '/console/api/org/keys')).json().data.length;

  it('refuses a state change without the console’s Origin or without the session’s CSRF token, and changes nothing', async () => {
    const before = await keyCount();
    const body = { name: 'csrf' };
    const send = (headers: Record<string, string>) => t.app.inject({ method: 'POST', url: '/console/api/org/keys', headers, payload: body });
    const cookie = owner.cookie;

    const noOrigin = await send({ cookie, 'x-csrf-token': owner.csrf });
    expectError(noOrigin, 403, 'FORBIDDEN');
    expect(noOrigin.json().error.details).toEqual({ reason: 'origin' });
    expect((await send({ cookie, 'x-csrf-token': owner.csrf, origin: 'https://evil.example' })).json().error.details).toEqual({ reason: 'origin' });
    // The same host on another scheme or port is another origin.
    expect((await send({ cookie, 'x-csrf-token': owner.csrf, origin: 'https://console.gatehouse.test' })).statusCode).toBe(403);
    expect((await send({ cookie, 'x-csrf-token': owner.csrf, origin: 'null' })).statusCode).toBe(403);

    const noToken = await send({ cookie, origin: ORIGIN });
    expectError(noToken, 403, 'FORBIDDEN');
    expect(noToken.json().error.details).toEqual({ reason: 'csrf' });
    const other = await signIn(t.app, 'owner@sessions.test');
    expect((await send({ cookie, origin: ORIGIN, 'x-csrf-token': other.csrf })).json().error.details).toEqual({ reason: 'csrf' });
    expect((await send({ cookie, origin: ORIGIN, 'x-csrf-token': 'x'.repeat(43) })).json().error.details).toEqual({ reason: 'csrf' });
    expect(await keyCount()).toBe(before);

    expect((await send({ cookie, origin: ORIGIN, 'x-csrf-token': owner.csrf })).statusCode).toBe(201);
    expect(await keyCount()).toBe(before + 1);
    // Reads carry neither, as a link or an <img> would.
    expect((await t.app.inject({ url: '/console/api/org/keys', headers: { cookie } })).statusCode).toBe(200);
  });

  it('refuses a sign-in posted from another origin (login CSRF)', async () => {
    const response = await t.app.inject({ method: 'POST', url: '/console/api/sign-in', headers: { origin: 'https://evil.example' }, payload: { email: 'owner@sessions.test', password: PASSWORD } });
    expectError(response, 403, 'FORBIDDEN');
    expect(response.headers['set-cookie']).toBeUndefined();
  });

  it('sets the cookie HttpOnly, SameSite=Lax, Path=/console, and Secure only for an https public URL', { timeout: 180_000 }, async () => {
    const response = await t.app.inject({ method: 'POST', url: '/console/api/sign-in', headers: { origin: ORIGIN }, payload: { email: 'owner@sessions.test', password: PASSWORD } });
    const cookie = String(response.headers['set-cookie']);
    expect(cookie).toMatch(/^gh_session=[A-Za-z0-9_-]{43}; Max-Age=604800; Path=\/console; HttpOnly; SameSite=Lax$/);

    const https = await startPeopleApp({ config: { publicUrl: 'https://console.example.com' } });
    try {
      const orgId = (await createOrganization(https.app)).id;
      await invited(https.app, orgId, 'a@https.test', 'viewer', 'https://console.example.com');
      const secure = await https.app.inject({ method: 'POST', url: '/console/api/sign-in', headers: { origin: 'https://console.example.com' }, payload: { email: 'a@https.test', password: PASSWORD } });
      expect(String(secure.headers['set-cookie'])).toMatch(/; Secure$/);
    } finally {
      await https.close();
    }
  });

  it('never takes a session the browser brought: a planted cookie, known or not, ends at sign-in', async () => {
    const planted = 'P'.repeat(43);
    const fresh = await signIn(t.app, 'owner@sessions.test', PASSWORD, {}, { cookie: `gh_session=${planted}` });
    expect(fresh.token).not.toBe(planted);
    expectError(await t.app.inject({ url: '/console/api/session', headers: { cookie: `gh_session=${planted}` } }), 401, 'UNAUTHENTICATED');

    // An attacker's own live session planted in the victim's browser: the victim's sign-in ends it and gets a new one.
    await invited(t.app, organizationId, 'attacker@sessions.test', 'viewer');
    const attacker = await signIn(t.app, 'attacker@sessions.test');
    const victim = await signIn(t.app, 'owner@sessions.test', PASSWORD, {}, { cookie: attacker.cookie });
    expect(victim.token).not.toBe(attacker.token);
    expectError(await asPerson(t.app, attacker, 'GET', '/console/api/session'), 401, 'UNAUTHENTICATED');
    expect((await asPerson(t.app, victim, 'GET', '/console/api/session')).json().person.email).toBe('owner@sessions.test');
  });

  it('ends a session after 12 idle hours, and after 7 days however active', async () => {
    const session = await signIn(t.app, 'owner@sessions.test');
    const get = () => asPerson(t.app, session, 'GET', '/console/api/session');
    clock.advance(12 * HOUR - 60_000);
    expect((await get()).statusCode).toBe(200);
    clock.advance(12 * HOUR - 60_000);
    expect((await get()).statusCode).toBe(200);
    clock.advance(12 * HOUR);
    expectError(await get(), 401, 'UNAUTHENTICATED');

    const active = await signIn(t.app, 'owner@sessions.test');
    const started = clock.ms;
    while (clock.ms + 11 * HOUR < started + 7 * 24 * HOUR) {
      clock.advance(11 * HOUR);
      expect((await asPerson(t.app, active, 'GET', '/console/api/session')).statusCode).toBe(200);
    }
    clock.ms = started + 7 * 24 * HOUR;
    expectError(await asPerson(t.app, active, 'GET', '/console/api/session'), 401, 'UNAUTHENTICATED');
    // Every session of this file is past its limits now; the tests after this one need the owner signed in.
    expectError(await asPerson(t.app, owner, 'GET', '/console/api/session'), 401, 'UNAUTHENTICATED');
    owner = await signIn(t.app, 'owner@sessions.test');
  });

  it('ends every other session on a password change; the old password stops working', async () => {
    const email = 'changer@sessions.test';
    await invited(t.app, organizationId, email, 'developer');
    const [a, b, c] = [await signIn(t.app, email), await signIn(t.app, email), await signIn(t.app, email)];
    const newPassword = 'quartz-meadow-lantern-77';
    const weak = await asPerson(t.app, a, 'PUT', '/console/api/account/password', { currentPassword: PASSWORD, newPassword: 'short' });
    expectError(weak, 422, 'VALIDATION_FAILED');
    const common = await asPerson(t.app, a, 'PUT', '/console/api/account/password', { currentPassword: PASSWORD, newPassword: 'password1234' });
    expectError(common, 422, 'VALIDATION_FAILED');
    const wrong = await asPerson(t.app, a, 'PUT', '/console/api/account/password', { currentPassword: 'not-the-password-1', newPassword });
    expectError(wrong, 422, 'VALIDATION_FAILED');
    expect((await asPerson(t.app, b, 'GET', '/console/api/session')).statusCode).toBe(200);

    expect((await asPerson(t.app, a, 'PUT', '/console/api/account/password', { currentPassword: PASSWORD, newPassword })).statusCode).toBe(204);
    expect((await asPerson(t.app, a, 'GET', '/console/api/session')).statusCode).toBe(200);
    for (const ended of [b, c]) expectError(await asPerson(t.app, ended, 'GET', '/console/api/session'), 401, 'UNAUTHENTICATED');
    expectError(await t.app.inject({ method: 'POST', url: '/console/api/sign-in', headers: { origin: ORIGIN }, payload: { email, password: PASSWORD } }), 401, 'UNAUTHENTICATED');
    await signIn(t.app, email, newPassword);
  });

  it('ends a person’s sessions when their role changes or they are removed; an organization keeps an owner', async () => {
    const email = 'member@sessions.test';
    const memberId = await invited(t.app, organizationId, email, 'developer');
    const member = await signIn(t.app, email);
    const changed = await asPerson(t.app, owner, 'PATCH', `/console/api/org/team/members/${memberId}`, { role: 'viewer' });
    expect(changed.json()).toMatchObject({ role: 'viewer' });
    expectError(await asPerson(t.app, member, 'GET', '/console/api/session'), 401, 'UNAUTHENTICATED');

    const again = await signIn(t.app, email);
    expect((await asPerson(t.app, again, 'POST', '/console/api/org/keys', { name: 'viewer' })).statusCode).toBe(403);
    expect((await asPerson(t.app, owner, 'DELETE', `/console/api/org/team/members/${memberId}`)).statusCode).toBe(204);
    expectError(await asPerson(t.app, again, 'GET', '/console/api/session'), 401, 'UNAUTHENTICATED');

    const lastOwner = await asPerson(t.app, owner, 'PATCH', `/console/api/org/team/members/${owner.personId}`, { role: 'viewer' });
    expectError(lastOwner, 409, 'CONFLICT');
    expect(lastOwner.json().error.details).toEqual({ reason: 'last_owner' });
    expectError(await asPerson(t.app, owner, 'DELETE', `/console/api/org/team/members/${owner.personId}`), 409, 'CONFLICT');
  });

  it('lists one’s own sessions and ends one of them; another person’s session is a 404; sign-out ends this one', async () => {
    const email = 'lister@sessions.test';
    await invited(t.app, organizationId, email, 'viewer');
    const here = await signIn(t.app, email, PASSWORD, {}, { 'user-agent': 'Browser One' });
    const there = await signIn(t.app, email, PASSWORD, {}, { 'user-agent': 'Browser Two' });
    const listed = (await asPerson(t.app, here, 'GET', '/console/api/sessions')).json().data;
    expect(listed).toHaveLength(2);
    expect(listed.find((s: { current: boolean }) => s.current).userAgent).toBe('Browser One');
    const thereId = listed.find((s: { current: boolean }) => !s.current).id;

    const ownersSession = (await asPerson(t.app, owner, 'GET', '/console/api/sessions')).json().data[0].id;
    expectError(await asPerson(t.app, here, 'DELETE', `/console/api/sessions/${ownersSession}`), 404, 'NOT_FOUND');
    expect((await asPerson(t.app, owner, 'GET', '/console/api/session')).statusCode).toBe(200);

    expect((await asPerson(t.app, here, 'DELETE', `/console/api/sessions/${thereId}`)).statusCode).toBe(204);
    expectError(await asPerson(t.app, there, 'GET', '/console/api/session'), 401, 'UNAUTHENTICATED');

    const out = await asPerson(t.app, here, 'POST', '/console/api/sign-out');
    expect(out.statusCode).toBe(204);
    expect(String(out.headers['set-cookie'])).toMatch(/^gh_session=; Max-Age=0; Path=\/console/);
    expectError(await asPerson(t.app, here, 'GET', '/console/api/session'), 401, 'UNAUTHENTICATED');
  });

  it('is never opened by an API key or the admin token, and a session never opens /v1 or /admin/v1', async () => {
    const key = await issueKey(t.app, organizationId);
    for (const headers of [withKey(key.key), { authorization: `Bearer ${key.key}` }, { 'x-admin-token': ADMIN_TOKEN }, { authorization: `Bearer ${ADMIN_TOKEN}` }]) {
      expectError(await t.app.inject({ url: '/console/api/session', headers }), 401, 'UNAUTHENTICATED');
      expectError(await t.app.inject({ url: '/console/api/ops/organizations', headers }), 401, 'UNAUTHENTICATED');
      expectError(await t.app.inject({ method: 'POST', url: '/console/api/org/keys', headers: { ...headers, origin: ORIGIN }, payload: { name: 'x' } }), 401, 'UNAUTHENTICATED');
    }
    const operator = await personWithSession(t.app, null, 'operator@sessions.test', 'operator');
    for (const session of [owner, operator]) {
      const headers = { cookie: session.cookie, 'x-csrf-token': session.csrf, origin: ORIGIN };
      expectError(await t.app.inject({ url: '/v1/whoami', headers }), 401, 'UNAUTHENTICATED');
      expectError(await t.app.inject({ url: '/v1/api-keys', headers }), 401, 'UNAUTHENTICATED');
      expectError(await t.app.inject({ url: '/admin/v1/organizations', headers }), 401, 'UNAUTHENTICATED');
      expectError(await t.app.inject({ method: 'PUT', url: '/admin/v1/kill-switch', headers, payload: { enabled: true } }), 401, 'UNAUTHENTICATED');
    }
  });

  it('audits what a signed-in person does under that person, sign-ins included', async () => {
    const created = await asPerson(t.app, owner, 'POST', '/console/api/org/keys', { name: 'audited' });
    const entries = (await admin(t.app, 'GET', `/admin/v1/audit?organizationId=${organizationId}&limit=100`)).json().data;
    expect(entries.find((e: { action: string; targetId: string }) => e.action === 'key.create' && e.targetId === created.json().id)).toMatchObject({ actor: `person:${owner.personId}`, status: 201 });
    expect(entries.find((e: { action: string; actor: string }) => e.action === 'person.sign_in' && e.actor === `person:${owner.personId}`)).toMatchObject({ status: 200 });
  });

  it('creates the first operator for whoever presents the admin token, only while none exists', { timeout: 180_000 }, async () => {
    const fresh = await startPeopleApp();
    try {
      expect((await fresh.app.inject({ url: '/console/api/setup' })).json()).toEqual({ operatorExists: false });
      const body = { email: 'first@ops.test', password: PASSWORD };
      const post = (headers: Record<string, string>) => fresh.app.inject({ method: 'POST', url: '/console/api/setup', headers: { origin: ORIGIN, ...headers }, payload: body });
      expectError(await post({}), 401, 'UNAUTHENTICATED');
      expectError(await post({ 'x-admin-token': 'wrong-token-0123456789' }), 401, 'UNAUTHENTICATED');
      const [one, two] = await Promise.all([post({ 'x-admin-token': ADMIN_TOKEN }), post({ 'x-admin-token': ADMIN_TOKEN })]);
      expect([one.statusCode, two.statusCode].sort()).toEqual([201, 409]);
      expect((await fresh.app.inject({ url: '/console/api/setup' })).json()).toEqual({ operatorExists: true });
      const session = await signIn(fresh.app, 'first@ops.test');
      expect((await asPerson(fresh.app, session, 'GET', '/console/api/session')).json().person).toMatchObject({ kind: 'operator', role: 'operator' });
    } finally {
      await fresh.close();
    }
  });

  it('answers an unknown session id and a malformed one alike', async () => {
    expectError(await asPerson(t.app, owner, 'DELETE', `/console/api/sessions/${randomUUID()}`), 404, 'NOT_FOUND');
    expectError(await asPerson(t.app, owner, 'DELETE', '/console/api/sessions/not-a-uuid'), 422, 'VALIDATION_FAILED');
  });
});

describe('sessions signed under the deployment secret (SPEC 11)', () => {
  const oldSecret = randomBytes(32).toString('base64url');
  const newSecret = randomBytes(32).toString('base64url');
  let store: Store;
  const apps: TestApp[] = [];
  const appWith = async (secret: string, secretPrevious?: string) => {
    const app = await startPeopleApp({ store, config: { secret, secretPrevious } });
    apps.push(app);
    return app;
  };
  beforeAll(async () => {
    store = await createTestStore();
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await store?.close();
  });

  it('stores a keyed digest, keeps sessions through a rotation with the previous secret, and ends them without it', { timeout: 180_000 }, async () => {
    const before = await appWith(oldSecret);
    const organizationId = (await createOrganization(before.app, { name: 'Signed' })).id;
    const session = await personWithSession(before.app, organizationId, 'owner@signed.test', 'owner');
    const stored = await store.db.selectFrom('person_sessions').select('token_digest').execute();
    const unkeyed = createHash('sha256').update(session.token).digest('base64url');
    expect(stored.map((row) => row.token_digest)).not.toContain(unkeyed);
    expect(JSON.stringify(stored)).not.toContain(session.token);

    const rotating = await appWith(newSecret, oldSecret);
    expect((await asPerson(rotating.app, session, 'GET', '/console/api/session')).statusCode).toBe(200);
    expect((await asPerson(rotating.app, session, 'POST', '/console/api/org/keys', { name: 'after rotation' })).statusCode).toBe(201);

    const rotated = await appWith(newSecret);
    expectError(await asPerson(rotated.app, session, 'GET', '/console/api/session'), 401, 'UNAUTHENTICATED');
  });
});
