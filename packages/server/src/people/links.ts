import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { Deps } from '../deps.ts';
import { ApiError, conflict } from '../http/errors.ts';
import { passwordProblem } from './passwords.ts';
import { consumeLink, deleteSessionsOf, findPersonByEmail, insertLink, insertPerson, updatePerson } from './repository.ts';
import type { PersonKind, PersonLink, Role } from './schema.ts';
import { LINK_VALIDITY_MS } from './settings.ts';
import { newToken, tokenDigest } from './tokens.ts';

type LinkDeps = Pick<Deps, 'store' | 'now' | 'people' | 'logger'>;

/** What the maker of a link sees: `link` only when no mail was sent (SPEC 13.3: shown once to whoever made it). */
export interface IssuedLink {
  id: string;
  email: string;
  role: Role;
  expiresAt: string;
  link: string | null;
  mailed: boolean;
}

const PAGES = { invitation: 'accept-invitation', reset: 'reset-password' } as const;

export function invalidInput(path: string, message: string): ApiError {
  return new ApiError('VALIDATION_FAILED', 'The request is not valid.', { issues: [{ path, message }] });
}

/**
 * The token rides in the fragment: browsers never send a fragment to a server, so it stays out of request lines,
 * access logs and Referer headers; the console page reads it and posts it.
 */
const linkUrl = (deps: LinkDeps, purpose: PersonLink['purpose'], token: string) => `${deps.people.publicUrl}/console/${PAGES[purpose]}#token=${token}`;

/**
 * Stores a link in the caller's transaction and mails it before that transaction commits: a mail the server refused
 * rolls the link (and its audit entry) back, so no link exists that nobody received.
 */
async function issue(
  deps: LinkDeps,
  trx: Kysely<Database>,
  fields: Omit<PersonLink, 'id' | 'used_at' | 'token_digest' | 'created_at' | 'expires_at'>,
  mail: (url: string) => { subject: string; text: string },
): Promise<IssuedLink> {
  const token = newToken();
  const now = deps.now();
  const row = await insertLink(trx, {
    ...fields,
    token_digest: tokenDigest(token),
    created_at: new Date(now),
    expires_at: new Date(now + LINK_VALIDITY_MS),
  });
  const url = linkUrl(deps, fields.purpose, token);
  const mailer = deps.people.mailer;
  if (mailer) {
    try {
      await mailer.send({ to: fields.email, ...mail(url) });
    } catch (error) {
      // The error may quote the server's answer but never the message; the link is not logged.
      deps.logger.warn({ err: { message: (error as Error).message } }, 'invitation or reset mail could not be sent');
      throw new ApiError('UNAVAILABLE', 'The mail server did not accept the message. Try again later.');
    }
  }
  return { id: row.id, email: row.email, role: row.role, expiresAt: row.expires_at.toISOString(), link: mailer ? null : url, mailed: mailer !== null };
}

export interface InvitationInput {
  email: string;
  kind: PersonKind;
  organizationId: string | null;
  organizationName?: string;
  role: Role;
  /** `person:<id>` or `admin`: who made it, for the team page and the audit. */
  createdBy: string;
}

/** SPEC 13.1, 13.2: an invitation to a new account. An email that already has one is a 409. */
export async function invite(deps: LinkDeps, trx: Kysely<Database>, input: InvitationInput): Promise<IssuedLink> {
  if (await findPersonByEmail(trx, input.email)) throw conflict('person_exists', 'That email address already has an account.');
  const where = input.kind === 'operator' ? 'as a Gatehouse operator' : `to ${input.organizationName ?? 'an organization'} on Gatehouse`;
  return issue(
    deps,
    trx,
    { purpose: 'invitation', email: input.email, kind: input.kind, organization_id: input.organizationId, role: input.role, person_id: null, created_by: input.createdBy },
    (url) => ({
      subject: 'Your Gatehouse invitation',
      text: `You are invited ${where} (role: ${input.role}).\n\nSet your password here within 72 hours; the link works once:\n${url}\n`,
    }),
  );
}

/** A password reset link for an existing person. */
export async function issueReset(deps: LinkDeps, trx: Kysely<Database>, person: { id: string; email: string; kind: PersonKind; organization_id: string | null; role: Role }, createdBy: string) {
  return issue(
    deps,
    trx,
    { purpose: 'reset', email: person.email, kind: person.kind, organization_id: person.organization_id, role: person.role, person_id: person.id, created_by: createdBy },
    (url) => ({
      subject: 'Reset your Gatehouse password',
      text: `Someone asked to reset the password of your Gatehouse account.\n\nSet a new one here within 72 hours; the link works once:\n${url}\n\nIf it was not you, ignore this mail.\n`,
    }),
  );
}

export function checkPassword(password: string, email: string): void {
  const problem = passwordProblem(password, email);
  if (problem) throw invalidInput('body.password', problem);
}

const linkRefused = () => new ApiError('NOT_FOUND', 'This link is not valid: it was used already, has expired, or never existed.');

/** A password set through a link: its hash, made before the link's transaction (hashing is slow work). */
export interface NewPassword {
  password: string;
  hash: string;
}

/**
 * Accepts an invitation: the link is used up and the account created in the caller's transaction, so a link works
 * once and a failure leaves it usable. Accepting sets the password (SPEC 13.3); signing in comes next.
 */
export async function acceptInvitation(trx: Kysely<Database>, now: Date, token: string, password: NewPassword): Promise<{ id: string; email: string }> {
  const link = await consumeLink(trx, 'invitation', tokenDigest(token), now);
  if (!link) throw linkRefused();
  checkPassword(password.password, link.email);
  const person = await insertPerson(trx, { email: link.email, kind: link.kind, organizationId: link.organization_id, role: link.role, passwordHash: password.hash });
  if (!person) throw conflict('person_exists', 'That email address already has an account.');
  return { id: person.id, email: person.email };
}

/** Completes a reset: a new password, and every session of the person ends (SPEC 13.5); in the caller's transaction. */
export async function completeReset(trx: Kysely<Database>, now: Date, token: string, password: NewPassword): Promise<{ id: string; email: string }> {
  const link = await consumeLink(trx, 'reset', tokenDigest(token), now);
  if (!link || !link.person_id) throw linkRefused();
  checkPassword(password.password, link.email);
  const person = await updatePerson(trx, link.person_id, { password_hash: password.hash });
  if (!person) throw linkRefused();
  await deleteSessionsOf(trx, person.id);
  return { id: person.id, email: person.email };
}

