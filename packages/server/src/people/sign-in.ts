import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { Deps } from '../deps.ts';
import { ApiError } from '../http/errors.ts';
import { secondsUp } from '../limits/headers.ts';
import { claimTotpStep, consumeRecoveryCode, findPersonByEmail, updatePerson } from './repository.ts';
import type { Person } from './schema.ts';
import type { SessionSigner } from './session-signing.ts';
import { endSessionOfToken, startSession } from './sessions.ts';
import { normalizeRecoveryCode, tokenDigest } from './tokens.ts';
import { totpStep } from './totp.ts';

type SignInDeps = Pick<Deps, 'store' | 'now' | 'people' | 'metrics'>;

export interface SignInInput {
  email: string;
  password: string;
  totpCode?: string | undefined;
  recoveryCode?: string | undefined;
  clientAddress: string;
  userAgent: string | null;
  /** The session token the browser already had, if any: it ends here, whatever it was (no fixation). */
  previousToken?: string | undefined;
}

/** One answer for an unknown email and a wrong password (SPEC 13.3: no account enumeration). */
export const WRONG_CREDENTIALS = 'The email or password is not correct.';

export const normalizeEmail = (email: string): string => email.trim().toLowerCase();

/** The throttle's subject for an account: a digest, so the throttle's memory holds no address book. */
const accountSubject = (email: string) => createHash('sha256').update(email).digest('base64url');

/**
 * SPEC 13.3 sign-in, the checks: whether the email has an account or not, the same work is done (a lookup, one
 * argon2 verification, a failure recorded for the account and the address) and the same answer given. A second
 * factor is asked for only after the password is right, so it tells nothing to someone without it. The session is
 * started by `startSignedInSession`, in the request's unit of work.
 */
export async function checkSignIn(deps: SignInDeps, input: SignInInput): Promise<Person> {
  const { people } = deps;
  const email = normalizeEmail(input.email);
  const account = accountSubject(email);
  const blockedMs = Math.max(people.failuresByAccount.blockedFor(account), people.failuresByAddress.blockedFor(input.clientAddress));
  if (blockedMs > 0) {
    deps.metrics.authRefusals.inc({ surface: 'console', outcome: 'sign_in_throttled' });
    throw new ApiError('RATE_LIMITED', 'Too many failed sign-ins. Retry later.', { retryAfterMs: blockedMs }, { 'retry-after': String(secondsUp(blockedMs)) });
  }
  const fail = (message: string, details?: Record<string, unknown>): never => {
    people.failuresByAccount.recordFailure(account);
    people.failuresByAddress.recordFailure(input.clientAddress);
    // Failed sign-ins are counted, not audited: anyone could write audit rows without limit (SPEC 10.1).
    deps.metrics.authRefusals.inc({ surface: 'console', outcome: 'sign_in_failed' });
    throw new ApiError('UNAUTHENTICATED', message, details);
  };

  const person = await findPersonByEmail(deps.store.db, email);
  const passwordMatches = await people.hasher.verify(person?.password_hash, input.password);
  if (!person || !passwordMatches) return fail(WRONG_CREDENTIALS);

  if (person.totp_enabled) await checkSecondFactor(deps, person, input, fail);
  return person;
}

/** The session of a checked sign-in; the token the browser brought, whatever it was, ends (no fixation). */
export async function startSignedInSession(
  trx: Kysely<Database>,
  signer: SessionSigner,
  now: number,
  person: Person,
  input: SignInInput,
): Promise<{ token: string; sessionId: string }> {
  if (input.previousToken) await endSessionOfToken(trx, signer, input.previousToken);
  const { token, session } = await startSession(trx, signer, now, person.id, { address: input.clientAddress, userAgent: input.userAgent });
  return { token, sessionId: session.id };
}

async function checkSecondFactor(
  deps: SignInDeps,
  person: Person,
  input: SignInInput,
  fail: (message: string, details?: Record<string, unknown>) => never,
): Promise<void> {
  if (input.recoveryCode) {
    const used = await consumeRecoveryCode(deps.store.db, person.id, tokenDigest(normalizeRecoveryCode(input.recoveryCode)));
    if (!used) fail('The recovery code is not valid.', { secondFactor: 'invalid' });
    return;
  }
  if (!input.totpCode) throw new ApiError('UNAUTHENTICATED', 'A second-factor code is required.', { secondFactor: 'required' });
  const opened = person.totp_secret_sealed ? deps.people.sealer.open(person.totp_secret_sealed) : null;
  // Sealed under the secret being rotated out: sealed again under the current one (SPEC 11).
  if (opened?.stale) await updatePerson(deps.store.db, person.id, { totp_secret_sealed: deps.people.sealer.seal(opened.plain) });
  const step = opened ? totpStep(opened.plain, input.totpCode, deps.now()) : null;
  // A code already used (its step, or an earlier one) is refused: a replay within its 90-second life gets nothing.
  if (step === null || !(await claimTotpStep(deps.store.db, person.id, step))) fail('The second-factor code is not valid.', { secondFactor: 'invalid' });
}
