import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { Deps } from '../deps.ts';
import { ApiError, conflict } from '../http/errors.ts';
import { checkPassword, invalidInput } from './links.ts';
import { claimTotpStep, deleteSessionsOf, findPerson, replaceRecoveryCodes, updatePerson } from './repository.ts';
import type { Person } from './schema.ts';
import { newRecoveryCode, tokenDigest } from './tokens.ts';
import { newTotpSecret, totpStep, totpUri } from './totp.ts';

type AccountDeps = Pick<Deps, 'store' | 'now' | 'people'>;

const RECOVERY_CODES = 10;

async function personOrGone(db: Kysely<Database>, personId: string): Promise<Person> {
  const person = await findPerson(db, personId);
  if (!person) throw new ApiError('UNAUTHENTICATED', 'Sign in to continue.');
  return person;
}

/**
 * The slow half of a password change, before its transaction: the current password verified and the new one
 * checked and hashed (argon2 takes tens of milliseconds, too long to hold a transaction open for).
 */
export async function prepareNewPassword(deps: AccountDeps, personId: string, currentPassword: string, newPassword: string): Promise<string> {
  const person = await personOrGone(deps.store.db, personId);
  await requirePassword(deps, personId, currentPassword);
  checkPassword(newPassword, person.email);
  return deps.people.hasher.hash(newPassword);
}

/** A person's password, checked outside any transaction (see `prepareNewPassword`). */
export async function requirePassword(deps: AccountDeps, personId: string, password: string): Promise<void> {
  const person = await personOrGone(deps.store.db, personId);
  if (!(await deps.people.hasher.verify(person.password_hash, password))) throw invalidInput('body.currentPassword', 'is not correct');
}

/** SPEC 13.5: a new password ends every other session of the person; the one that changed it stays. */
export async function storeNewPassword(trx: Kysely<Database>, personId: string, keptSessionId: string, passwordHash: string): Promise<void> {
  await updatePerson(trx, personId, { password_hash: passwordHash });
  await deleteSessionsOf(trx, personId, keptSessionId);
}

/** Step one of a second factor: a new secret, sealed at rest, shown this once for the authenticator app. */
export async function beginTotp(deps: AccountDeps, trx: Kysely<Database>, personId: string): Promise<{ secret: string; otpauthUri: string }> {
  const person = await personOrGone(trx, personId);
  if (person.totp_enabled) throw conflict('second_factor_enabled', 'A second factor is already on; turn it off first to replace it.');
  const secret = newTotpSecret();
  await updatePerson(trx, person.id, { totp_secret_sealed: deps.people.sealer.seal(secret), totp_last_step: null });
  return { secret, otpauthUri: totpUri(secret, person.email) };
}

/** Step two: a code from the app proves it holds the secret; the answer carries the recovery codes, this once. */
export async function enableTotp(deps: AccountDeps, trx: Kysely<Database>, personId: string, code: string): Promise<{ recoveryCodes: string[] }> {
  const person = await personOrGone(trx, personId);
  if (person.totp_enabled) throw conflict('second_factor_enabled', 'A second factor is already on.');
  if (!person.totp_secret_sealed) throw conflict('second_factor_not_started', 'Start the second-factor setup first.');
  const opened = deps.people.sealer.open(person.totp_secret_sealed);
  const step = totpStep(opened.plain, code, deps.now());
  if (step === null || !(await claimTotpStep(trx, person.id, step))) throw invalidInput('body.code', 'is not the current code');
  const recoveryCodes = Array.from({ length: RECOVERY_CODES }, newRecoveryCode);
  await updatePerson(trx, person.id, { totp_enabled: true, ...(opened.stale ? { totp_secret_sealed: deps.people.sealer.seal(opened.plain) } : {}) });
  await replaceRecoveryCodes(trx, person.id, recoveryCodes.map(tokenDigest));
  return { recoveryCodes };
}

/**
 * Turning the second factor off (the password is checked before, with `requirePassword`) is refused while the
 * organization requires one.
 */
export async function disableTotp(trx: Kysely<Database>, personId: string, organizationRequires: boolean): Promise<void> {
  if (organizationRequires) throw conflict('second_factor_required', 'Your organization requires a second factor.');
  await updatePerson(trx, personId, { totp_enabled: false, totp_secret_sealed: null, totp_last_step: null });
  await replaceRecoveryCodes(trx, personId, []);
}
