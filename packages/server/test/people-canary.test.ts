import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { totpCode } from '../src/people/totp.ts';
import { admin, createOrganization } from './factories.ts';
import { everyTableAsText, type TestApp } from './harness.ts';
import { asPerson, MailBox, ORIGIN, PASSWORD, retriedWhileNotFound, signIn, startPeopleApp, TestClock, tokenOfLink } from './people-support.ts';

/**
 * Canary (SPEC 13, and the charter): no password, session token, CSRF token, invitation or reset token, TOTP secret
 * or recovery code in any log line or, as given, in any table. Each is used the ways a console would use it (and a
 * few ways it should not be: in a URL, in a wrong place), then looked for in every log line and every row.
 */
let t: TestApp;
const clock = new TestClock();
const mail = new MailBox();
beforeAll(async () => {
  t = await startPeopleApp({ clock, config: { logLevel: 'trace' }, deps: { mailer: mail } });
}, 180_000);
afterAll(async () => t?.close());

async function everyRowAsText(): Promise<string> {
  const { tables, rows } = await everyTableAsText(t.deps.store.db);
  expect(tables).toEqual(expect.arrayContaining(['people', 'person_sessions', 'person_links', 'person_recovery_codes']));
  return rows.join('\n');
}

const linkIn = (text: string) => /(http\S+#token=[A-Za-z0-9_-]{43})/.exec(text)![1]!;
const linkOf = (to: string) => {
  const found = [...mail.sent].reverse().find((m) => m.to === to);
  if (!found) throw new Error(`no mail to ${to}`);
  return linkIn(found.text);
};
/** The link of the reset mail a request for `to` sends after its answer. */
async function resetLinkOf(to: string): Promise<string> {
  const seen = mail.sent.length;
  await t.app.inject({ method: 'POST', url: '/console/api/password-resets', headers: { origin: ORIGIN }, payload: { email: to } });
  return linkIn((await mail.nextTo(to, seen)).text);
}

describe('canary: people’s secrets never reach a log line or a table in plain text', () => {
  it('uses every kind of secret, then finds none of them', async () => {
    const organizationId = (await createOrganization(t.app, { name: 'Canary' })).id;
    const secrets: Record<string, string> = {};

    // An invitation, accepted with a password (and a second one left pending).
    await admin(t.app, 'POST', `/admin/v1/organizations/${organizationId}/invitations`, { email: 'owner@canary.test', role: 'owner' });
    secrets.invitationToken = tokenOfLink(linkOf('owner@canary.test'));
    secrets.password = `${PASSWORD}-canary`;
    await t.app.inject({ method: 'POST', url: '/console/api/invitations/accept', headers: { origin: ORIGIN }, payload: { token: secrets.invitationToken, password: secrets.password } });
    await admin(t.app, 'POST', `/admin/v1/organizations/${organizationId}/invitations`, { email: 'pending@canary.test', role: 'viewer' });
    secrets.pendingInvitationToken = tokenOfLink(linkOf('pending@canary.test'));

    // Sign-ins, right and wrong; a wrong password that is a real one's near miss.
    const session = await signIn(t.app, 'owner@canary.test', secrets.password);
    secrets.sessionToken = session.token;
    secrets.csrfToken = session.csrf;
    await t.app.inject({ method: 'POST', url: '/console/api/sign-in', headers: { origin: ORIGIN }, payload: { email: 'owner@canary.test', password: `${secrets.password}x` } });
    // Secrets where they do not belong: a session token in a URL, a password in a query string.
    await t.app.inject({ url: `/console/api/session?token=${secrets.sessionToken}&password=${secrets.password}`, headers: { cookie: session.cookie } });

    // A second factor: its secret, a code, the recovery codes, one of them used.
    const setup = await asPerson(t.app, session, 'POST', '/console/api/account/second-factor/setup');
    const totpSecret: string = setup.json().secret;
    secrets.totpSecret = totpSecret;
    const enabled = await asPerson(t.app, session, 'POST', '/console/api/account/second-factor/enable', { code: totpCode(totpSecret, clock.ms) });
    const recoveryCodes: string[] = enabled.json().recoveryCodes;
    recoveryCodes.forEach((code, i) => (secrets[`recoveryCode${i}`] = code));
    clock.advance(60_000);
    await signIn(t.app, 'owner@canary.test', secrets.password, { totpCode: totpCode(totpSecret, clock.ms) });
    await signIn(t.app, 'owner@canary.test', secrets.password, { recoveryCode: recoveryCodes[0]! });

    // A reset, requested and completed with a new password; one requested and left.
    secrets.resetToken = tokenOfLink(await resetLinkOf('owner@canary.test'));
    secrets.newPassword = 'canary-reset-password-2026';
    const reset = await retriedWhileNotFound(() =>
      t.app.inject({ method: 'POST', url: '/console/api/password-resets/complete', headers: { origin: ORIGIN }, payload: { token: secrets.resetToken, password: secrets.newPassword } }),
    );
    expect(reset.statusCode, reset.body).toBe(200);
    secrets.pendingResetToken = tokenOfLink(await resetLinkOf('owner@canary.test'));
    expect(secrets.pendingResetToken).not.toBe(secrets.resetToken);

    const rows = await everyRowAsText();
    const logs = t.logs.text;
    expect(logs.length).toBeGreaterThan(1000);
    expect(rows).toContain('owner@canary.test');
    for (const [name, value] of Object.entries(secrets)) {
      expect(value.length, name).toBeGreaterThanOrEqual(10);
      for (const form of new Set([value, value.toLowerCase(), value.replace('-', '')])) {
        expect(logs.includes(form), `${name} in a log line`).toBe(false);
        expect(rows.includes(form), `${name} in a table`).toBe(false);
      }
    }
    // The TOTP secret is sealed in its row, and opens with the deployment's key only.
    const person = await t.deps.store.db.selectFrom('people').selectAll().where('email', '=', 'owner@canary.test').executeTakeFirstOrThrow();
    expect(person.totp_secret_sealed).toBeTruthy();
    expect(t.deps.people.sealer.open(person.totp_secret_sealed!).plain).toBe(totpSecret);
    expect(person.password_hash).toMatch(/^\$argon2id\$/);
  });
});
