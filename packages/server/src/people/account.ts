import type { Deps } from '../deps.ts';
import { ApiError, conflict } from '../http/errors.ts';
import { checkPassword, invalidInput } from './links.ts';
import { claimTotpStep, deleteSessionsOf, findPerson, replaceRecoveryCodes, updatePerson } from './repository.ts';
import type { Person } from './schema.ts';
import { newRecoveryCode, tokenDigest } from './tokens.ts';
import { newTotpSecret, totpStep, totpUri } from './totp.ts';

type AccountDeps = Pick<Deps, 'store' | 'now' | 'people'>;

const RECOVERY_CODES = 10;

async function personOrGone(deps: AccountDeps, personId: string): Promise<Person> {
  const person = await findPerson(deps.store.db, personId);
  if (!person) throw new ApiError('UNAUTHENTICATED', 'Sign in to continue.');
  return person;
}

async function requirePassword(deps: AccountDeps, person: Person, password: string): Promise<void> {
  if (!(await deps.people.hasher.verify(person.password_hash, password))) throw invalidInput('body.currentPassword', 'is not correct');
}

/** SPEC 13.5: a new password ends every other session of the person; the one that changed it stays. */
export async function changePassword(deps: AccountDeps, personId: string, sessionId: string, currentPassword: string, newPassword: string): Promise<void> {
  const person = await personOrGone(deps, personId);
  await requirePassword(deps, person, currentPassword);
  checkPassword(newPassword, person.email);
  const hashed = await deps.people.hasher.hash(newPassword);
  await deps.store.db.transaction().execute(async (trx) => {
    await updatePerson(trx, person.id, { password_hash: hashed });
    await deleteSessionsOf(trx, person.id, sessionId);
  });
}

/** Step one of a second factor: a new secret, sealed at rest, shown this once for the authenticator app. */
export async function beginTotp(deps: AccountDeps, personId: string): Promise<{ secret: string; otpauthUri: string }> {
  const person = await personOrGone(deps, personId);
  if (person.totp_enabled) throw conflict('second_factor_enabled', 'A second factor is already on; turn it off first to replace it.');
  const sealer = deps.people.sealer;
  const secret = newTotpSecret();
  await updatePerson(deps.store.db, person.id, { totp_secret_sealed: sealer.seal(secret), totp_last_step: null });
  return { secret, otpauthUri: totpUri(secret, person.email) };
}

/** Step two: a code from the app proves it holds the secret; the answer carries the recovery codes, this once. */
export async function enableTotp(deps: AccountDeps, personId: string, code: string): Promise<{ recoveryCodes: string[] }> {
  const person = await personOrGone(deps, personId);
  if (person.totp_enabled) throw conflict('second_factor_enabled', 'A second factor is already on.');
  if (!person.totp_secret_sealed) throw conflict('second_factor_not_started', 'Start the second-factor setup first.');
  const step = totpStep(deps.people.sealer.open(person.totp_secret_sealed), code, deps.now());
  if (step === null || !(await claimTotpStep(deps.store.db, person.id, step))) throw invalidInput('body.code', 'is not the current code');
  const recoveryCodes = Array.from({ length: RECOVERY_CODES }, newRecoveryCode);
  await deps.store.db.transaction().execute(async (trx) => {
    await updatePerson(trx, person.id, { totp_enabled: true });
    await replaceRecoveryCodes(trx, person.id, recoveryCodes.map(tokenDigest));
  });
  return { recoveryCodes };
}

/** Turning the second factor off takes the password, and is refused while the organization requires one. */
export async function disableTotp(deps: AccountDeps, personId: string, password: string, organizationRequires: boolean): Promise<void> {
  const person = await personOrGone(deps, personId);
  await requirePassword(deps, person, password);
  if (organizationRequires) throw conflict('second_factor_required', 'Your organization requires a second factor.');
  await deps.store.db.transaction().execute(async (trx) => {
    await updatePerson(trx, person.id, { totp_enabled: false, totp_secret_sealed: null, totp_last_step: null });
    await replaceRecoveryCodes(trx, person.id, []);
  });
}
