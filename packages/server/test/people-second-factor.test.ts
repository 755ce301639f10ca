import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { totpCode } from '../src/people/totp.ts';
import { createOrganization } from './factories.ts';
import { generateSecret } from '../src/secrets/deployment-secret.ts';
import { createTestStore, TEST_SECRET, type TestApp } from './harness.ts';
import { asPerson, expectError, invited, ORIGIN, PASSWORD, signIn, startPeopleApp, TestClock, type Session } from './people-support.ts';

const STEP = 30_000;

describe('TOTP second factor with recovery codes (SPEC 13.3)', () => {
  const clock = new TestClock();
  let t: TestApp;
  let organizationId: string;

  beforeAll(async () => {
    t = await startPeopleApp({ clock });
    organizationId = (await createOrganization(t.app, { name: 'Second factor' })).id;
  }, 180_000);
  afterAll(async () => t?.close());

  const signInWith = (email: string, extra: Record<string, string>) =>
    t.app.inject({ method: 'POST', url: '/console/api/sign-in', headers: { origin: ORIGIN }, payload: { email, password: PASSWORD, ...extra } });

  async function enrolled(email: string, role = 'developer'): Promise<{ session: Session; secret: string; recoveryCodes: string[] }> {
    await invited(t.app, organizationId, email, role);
    const session = await signIn(t.app, email);
    const setup = await asPerson(t.app, session, 'POST', '/console/api/account/second-factor/setup');
    expect(setup.statusCode).toBe(200);
    const { secret, otpauthUri } = setup.json();
    expect(otpauthUri).toContain(`secret=${secret}`);
    expectError(await asPerson(t.app, session, 'POST', '/console/api/account/second-factor/enable', { code: totpCode(secret, clock.ms + 5 * STEP) }), 422, 'VALIDATION_FAILED');
    const enabled = await asPerson(t.app, session, 'POST', '/console/api/account/second-factor/enable', { code: totpCode(secret, clock.ms) });
    expect(enabled.statusCode, enabled.body).toBe(200);
    return { session, secret, recoveryCodes: enabled.json().recoveryCodes };
  }

  it('asks for the code after the right password only, and takes codes one step early or late', async () => {
    const { secret } = await enrolled('skew@2fa.test');
    const needed = await signInWith('skew@2fa.test', {});
    expectError(needed, 401, 'UNAUTHENTICATED');
    expect(needed.json().error.details).toEqual({ secondFactor: 'required' });
    expect(needed.headers['set-cookie']).toBeUndefined();
    // A wrong password never reveals that a second factor is on.
    const wrong = await t.app.inject({ method: 'POST', url: '/console/api/sign-in', headers: { origin: ORIGIN }, payload: { email: 'skew@2fa.test', password: 'wrong-password-xx' } });
    expect(wrong.json().error.details).toBeUndefined();

    clock.advance(10 * STEP);
    expect((await signInWith('skew@2fa.test', { totpCode: totpCode(secret, clock.ms - STEP) })).statusCode).toBe(200);
    clock.advance(10 * STEP);
    expect((await signInWith('skew@2fa.test', { totpCode: totpCode(secret, clock.ms + STEP) })).statusCode).toBe(200);
    clock.advance(10 * STEP);
    expect((await signInWith('skew@2fa.test', { totpCode: totpCode(secret, clock.ms) })).statusCode).toBe(200);
    clock.advance(10 * STEP);
    for (const far of [clock.ms - 2 * STEP, clock.ms + 2 * STEP]) {
      const refused = await signInWith('skew@2fa.test', { totpCode: totpCode(secret, far) });
      expectError(refused, 401, 'UNAUTHENTICATED');
      expect(refused.json().error.details).toEqual({ secondFactor: 'invalid' });
    }
  });

  it('refuses a code used once already, and any code of an earlier step', async () => {
    const { secret } = await enrolled('replay@2fa.test');
    clock.advance(10 * STEP);
    const code = totpCode(secret, clock.ms);
    expect((await signInWith('replay@2fa.test', { totpCode: code })).statusCode).toBe(200);
    const replayed = await signInWith('replay@2fa.test', { totpCode: code });
    expectError(replayed, 401, 'UNAUTHENTICATED');
    expect(replayed.json().error.details).toEqual({ secondFactor: 'invalid' });
    expectError(await signInWith('replay@2fa.test', { totpCode: totpCode(secret, clock.ms - STEP) }), 401, 'UNAUTHENTICATED');
    // Two sign-ins racing with one code: one wins.
    clock.advance(10 * STEP);
    const fresh = totpCode(secret, clock.ms);
    const raced = await Promise.all([signInWith('replay@2fa.test', { totpCode: fresh }), signInWith('replay@2fa.test', { totpCode: fresh })]);
    expect(raced.map((r) => r.statusCode).sort()).toEqual([200, 401]);
  });

  it('takes each recovery code once, typed any way', async () => {
    const { recoveryCodes } = await enrolled('recovery@2fa.test');
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    const [first, second] = recoveryCodes as [string, string];
    expect((await signInWith('recovery@2fa.test', { recoveryCode: first })).statusCode).toBe(200);
    expectError(await signInWith('recovery@2fa.test', { recoveryCode: first }), 401, 'UNAUTHENTICATED');
    expect((await signInWith('recovery@2fa.test', { recoveryCode: ` ${second.toUpperCase().replace('-', '')} ` })).statusCode).toBe(200);
  });

  it('lets an owner require a second factor of the team: members without one reach only their account until they set one up', async () => {
    const owner = await signIn(t.app, (await enrolledOwner()).email, PASSWORD, { totpCode: totpCode(ownerSecret, clock.ms) });
    await invited(t.app, organizationId, 'late@2fa.test', 'viewer');
    const late = await signIn(t.app, 'late@2fa.test');

    expect((await asPerson(t.app, owner, 'PUT', '/console/api/org/team/second-factor', { required: true })).json()).toEqual({ required: true });
    const blocked = await asPerson(t.app, late, 'GET', '/console/api/org/keys');
    expectError(blocked, 403, 'FORBIDDEN');
    expect(blocked.json().error.details).toEqual({ reason: 'second_factor_required' });
    expect((await asPerson(t.app, late, 'GET', '/console/api/session')).json().secondFactorRequired).toBe(true);

    const setup = await asPerson(t.app, late, 'POST', '/console/api/account/second-factor/setup');
    clock.advance(10 * STEP);
    expect((await asPerson(t.app, late, 'POST', '/console/api/account/second-factor/enable', { code: totpCode(setup.json().secret, clock.ms) })).statusCode).toBe(200);
    expect((await asPerson(t.app, late, 'GET', '/console/api/org/keys')).statusCode).toBe(200);
    const off = await asPerson(t.app, late, 'POST', '/console/api/account/second-factor/disable', { password: PASSWORD });
    expectError(off, 409, 'CONFLICT');
    expect(off.json().error.details).toEqual({ reason: 'second_factor_required' });

    expect((await asPerson(t.app, owner, 'PUT', '/console/api/org/team/second-factor', { required: false })).statusCode).toBe(200);
    expect((await asPerson(t.app, late, 'POST', '/console/api/account/second-factor/disable', { password: PASSWORD })).statusCode).toBe(204);
    expect((await signInWith('late@2fa.test', {})).statusCode).toBe(200);
  });

  it('refuses an owner requiring a second factor without one of their own', async () => {
    await invited(t.app, organizationId, 'bare-owner@2fa.test', 'owner');
    const bare = await signIn(t.app, 'bare-owner@2fa.test');
    const refused = await asPerson(t.app, bare, 'PUT', '/console/api/org/team/second-factor', { required: true });
    expectError(refused, 409, 'CONFLICT');
  });

  let ownerSecret = '';
  async function enrolledOwner() {
    const { secret, session } = await enrolled('owner@2fa.test', 'owner');
    ownerSecret = secret;
    clock.advance(10 * STEP);
    return { email: session.email };
  }
});

describe('a second factor through a GATEHOUSE_SECRET rotation (SPEC 11)', () => {
  it('keeps working: sealed again under the new secret at start, and opened without the old one afterwards', { timeout: 180_000 }, async () => {
    const clock = new TestClock();
    const store = await createTestStore();
    const newSecret = generateSecret();
    const sealedOf = async (email: string) => (await store.db.selectFrom('people').select('totp_secret_sealed').where('email', '=', email).executeTakeFirstOrThrow()).totp_secret_sealed;
    const signInWithCode = (app: TestApp, secret: string) =>
      app.app.inject({ method: 'POST', url: '/console/api/sign-in', headers: { origin: ORIGIN }, payload: { email: 'rotating@2fa.test', password: PASSWORD, totpCode: totpCode(secret, clock.ms) } });
    try {
      const before = await startPeopleApp({ clock, store, config: { secret: TEST_SECRET } });
      const organization = await createOrganization(before.app, { name: 'Rotation' });
      await invited(before.app, organization.id, 'rotating@2fa.test', 'developer');
      const session = await signIn(before.app, 'rotating@2fa.test');
      const { secret } = (await asPerson(before.app, session, 'POST', '/console/api/account/second-factor/setup')).json();
      expect((await asPerson(before.app, session, 'POST', '/console/api/account/second-factor/enable', { code: totpCode(secret, clock.ms) })).statusCode).toBe(200);
      const sealedUnderOld = await sealedOf('rotating@2fa.test');
      await before.close();

      clock.advance(10 * STEP);
      const during = await startPeopleApp({ clock, store, config: { secret: newSecret, secretPrevious: TEST_SECRET } });
      expect(await sealedOf('rotating@2fa.test')).not.toBe(sealedUnderOld);
      expect((await signInWithCode(during, secret)).statusCode).toBe(200);
      await during.close();

      clock.advance(10 * STEP);
      const after = await startPeopleApp({ clock, store, config: { secret: newSecret } });
      const signedIn = await signInWithCode(after, secret);
      expect(signedIn.statusCode, signedIn.body).toBe(200);
      await after.close();
    } finally {
      await store.close();
    }
  });
});
