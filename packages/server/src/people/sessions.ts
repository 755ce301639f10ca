import type { FastifyReply } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { Deps } from '../deps.ts';
import { deleteSessionByDigest, findLiveSession, insertSession, touchSession } from './repository.ts';
import { SESSION_ABSOLUTE_MS, SESSION_IDLE_MS } from './settings.ts';
import type { SessionSigner } from './session-signing.ts';
import { newToken } from './tokens.ts';

export const SESSION_COOKIE = 'gh_session';
/** How stale last_seen_at may get before a request writes it again: one write a minute per session at most. */
const TOUCH_EVERY_MS = 60_000;

type SessionDeps = Pick<Deps, 'store' | 'now' | 'people'>;

export type SignedIn = NonNullable<Awaited<ReturnType<typeof findLiveSession>>>;

/** The cutoffs of SPEC 13.5 at a moment: a session is live while now < expires_at and last_seen_at > idleSince. */
export function sessionCutoffs(nowMs: number): { now: Date; idleSince: Date } {
  return { now: new Date(nowMs), idleSince: new Date(nowMs - SESSION_IDLE_MS) };
}

/**
 * A new session, in the caller's transaction: a fresh random token every time (never one the client brought, so no
 * fixation), stored as a digest.
 */
export async function startSession(
  trx: Kysely<Database>,
  signer: SessionSigner,
  now: number,
  personId: string,
  client: { address: string | null; userAgent: string | null },
) {
  const token = newToken();
  const session = await insertSession(trx, {
    tokenDigest: signer.digest(token),
    personId,
    now: new Date(now),
    expiresAt: new Date(now + SESSION_ABSOLUTE_MS),
    clientAddress: client.address,
    userAgent: client.userAgent?.slice(0, 256) ?? null,
  });
  return { token, session };
}

/** The live session of a cookie's token and its person, or undefined; keeps last_seen_at within a minute. */
export async function resolveSession(deps: SessionDeps, token: string) {
  const nowMs = deps.now();
  const { now, idleSince } = sessionCutoffs(nowMs);
  const found = await findLiveSession(deps.store.db, deps.people.sessions.lookupDigests(token), now, idleSince);
  if (found && nowMs - found.session_last_seen_at.getTime() >= TOUCH_EVERY_MS) await touchSession(deps.store.db, found.session_id, now);
  return found;
}

export async function endSessionOfToken(db: Kysely<Database>, signer: SessionSigner, token: string): Promise<void> {
  await deleteSessionByDigest(db, signer.lookupDigests(token));
}

/** Reads the session token from a Cookie header (RFC 6265 pairs); the first gh_session wins. */
export function sessionTokenOf(cookieHeader: string | undefined): string | undefined {
  if (!cookieHeader) return undefined;
  for (const pair of cookieHeader.split(';')) {
    const separator = pair.indexOf('=');
    if (separator < 0) continue;
    if (pair.slice(0, separator).trim() !== SESSION_COOKIE) continue;
    const value = pair.slice(separator + 1).trim();
    // Our tokens are 43 characters of base64url; anything else is not one of ours and is not looked up.
    return /^[A-Za-z0-9_-]{43}$/.test(value) ? value : undefined;
  }
  return undefined;
}

/** SPEC 13.5: HttpOnly, SameSite=Lax, Path=/console, Secure when the public URL is https. */
export function setSessionCookie(deps: SessionDeps, reply: FastifyReply, token: string | null): void {
  const attributes = ['Path=/console', 'HttpOnly', 'SameSite=Lax', ...(deps.people.secureCookie ? ['Secure'] : [])];
  const value = token === null ? `${SESSION_COOKIE}=; Max-Age=0` : `${SESSION_COOKIE}=${token}; Max-Age=${SESSION_ABSOLUTE_MS / 1000}`;
  reply.header('set-cookie', [value, ...attributes].join('; '));
}
