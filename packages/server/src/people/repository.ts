import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { Person, PersonKind, PersonLink, PersonSession, Role } from './schema.ts';

type Db = Kysely<Database>;

// People ---------------------------------------------------------------------------------------------------------

export interface NewPerson {
  email: string;
  kind: PersonKind;
  organizationId: string | null;
  role: Role;
  passwordHash: string;
}

/** undefined when the email already has an account (the unique index decides, not a read before the write). */
export const insertPerson = (db: Db, person: NewPerson): Promise<Person | undefined> =>
  db
    .insertInto('people')
    .values({ email: person.email, kind: person.kind, organization_id: person.organizationId, role: person.role, password_hash: person.passwordHash })
    .onConflict((oc) => oc.column('email').doNothing())
    .returningAll()
    .executeTakeFirst();

export const findPersonByEmail = (db: Db, email: string): Promise<Person | undefined> =>
  db.selectFrom('people').selectAll().where('email', '=', email).executeTakeFirst();

export const findPerson = (db: Db, id: string): Promise<Person | undefined> => db.selectFrom('people').selectAll().where('id', '=', id).executeTakeFirst();

/** A person of one organization (partner routes), or an operator (organizationId null). */
export const findPersonIn = (db: Db, organizationId: string | null, id: string): Promise<Person | undefined> =>
  db
    .selectFrom('people')
    .selectAll()
    .where('id', '=', id)
    .where((eb) => (organizationId === null ? eb('kind', '=', 'operator') : eb('organization_id', '=', organizationId)))
    .executeTakeFirst();

export const listPeopleIn = (db: Db, organizationId: string | null): Promise<Person[]> =>
  db
    .selectFrom('people')
    .selectAll()
    .where((eb) => (organizationId === null ? eb('kind', '=', 'operator') : eb('organization_id', '=', organizationId)))
    .orderBy('created_at')
    .orderBy('id')
    .limit(1000)
    .execute();

export async function anyOperatorExists(db: Db): Promise<boolean> {
  return (await db.selectFrom('people').select('id').where('kind', '=', 'operator').limit(1).executeTakeFirst()) !== undefined;
}

/** Serializes changes to one organization's team (the last-owner rule reads a count that must not move meanwhile). */
export const lockOrganization = (db: Db, organizationId: string) => db.selectFrom('organizations').select('id').where('id', '=', organizationId).forUpdate().execute();

/** Serializes the first-operator check and insert across instances (a transaction-scoped advisory lock). */
export const lockFirstOperator = (db: Db) => sql`SELECT pg_advisory_xact_lock(hashtext('gatehouse first operator'))`.execute(db);

export const countOwners = async (db: Db, organizationId: string): Promise<number> =>
  Number(
    (await db.selectFrom('people').select((eb) => eb.fn.countAll<number>().as('n')).where('organization_id', '=', organizationId).where('role', '=', 'owner').executeTakeFirstOrThrow())
      .n,
  );

export const updatePerson = (
  db: Db,
  id: string,
  changes: Partial<Pick<Person, 'role' | 'password_hash' | 'totp_secret_sealed' | 'totp_enabled' | 'totp_last_step'>>,
): Promise<Person | undefined> =>
  db
    .updateTable('people')
    .set({ ...changes, updated_at: new Date() })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();

/** Accepts a TOTP step only if it is later than every step accepted before: one guarded write, no read-then-write. */
export async function claimTotpStep(db: Db, personId: string, step: number): Promise<boolean> {
  const row = await db
    .updateTable('people')
    .set({ totp_last_step: step })
    .where('id', '=', personId)
    .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step)]))
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

export const deletePerson = (db: Db, id: string) => db.deleteFrom('people').where('id', '=', id).returning('id').executeTakeFirst();

// Recovery codes -------------------------------------------------------------------------------------------------

export async function replaceRecoveryCodes(db: Db, personId: string, digests: string[]): Promise<void> {
  await db.deleteFrom('person_recovery_codes').where('person_id', '=', personId).execute();
  if (digests.length) await db.insertInto('person_recovery_codes').values(digests.map((code_digest) => ({ person_id: personId, code_digest }))).execute();
}

/** Uses up a recovery code: true once, for the first request that presents it. */
export async function consumeRecoveryCode(db: Db, personId: string, digest: string): Promise<boolean> {
  const row = await db.deleteFrom('person_recovery_codes').where('person_id', '=', personId).where('code_digest', '=', digest).returning('person_id').executeTakeFirst();
  return row !== undefined;
}

export const countRecoveryCodes = async (db: Db, personId: string): Promise<number> =>
  Number((await db.selectFrom('person_recovery_codes').select((eb) => eb.fn.countAll<number>().as('n')).where('person_id', '=', personId).executeTakeFirstOrThrow()).n);

// Sessions -------------------------------------------------------------------------------------------------------

export const insertSession = (
  db: Db,
  session: { tokenDigest: string; personId: string; now: Date; expiresAt: Date; clientAddress: string | null; userAgent: string | null },
): Promise<PersonSession> =>
  db
    .insertInto('person_sessions')
    .values({
      token_digest: session.tokenDigest,
      person_id: session.personId,
      created_at: session.now,
      last_seen_at: session.now,
      expires_at: session.expiresAt,
      client_address: session.clientAddress,
      user_agent: session.userAgent,
    })
    .returningAll()
    .executeTakeFirstOrThrow();

/**
 * The live session of a token and its person; `tokenDigests` is the token's digest under each deployment secret still
 * accepted (session-signing.ts), `idleSince` the oldest last_seen_at still within the idle limit.
 */
export const findLiveSession = (db: Db, tokenDigests: string[], now: Date, idleSince: Date) =>
  db
    .selectFrom('person_sessions as s')
    .innerJoin('people as p', 'p.id', 's.person_id')
    .leftJoin('organizations as o', 'o.id', 'p.organization_id')
    .selectAll('p')
    .select(['s.id as session_id', 's.last_seen_at as session_last_seen_at', 's.created_at as session_created_at', 'o.require_second_factor'])
    .where('s.token_digest', 'in', tokenDigests)
    .where('s.expires_at', '>', now)
    .where('s.last_seen_at', '>', idleSince)
    .executeTakeFirst();

export const touchSession = (db: Db, sessionId: string, now: Date) =>
  db.updateTable('person_sessions').set({ last_seen_at: now }).where('id', '=', sessionId).execute();

export const listSessions = (db: Db, personId: string, now: Date, idleSince: Date): Promise<PersonSession[]> =>
  db
    .selectFrom('person_sessions')
    .selectAll()
    .where('person_id', '=', personId)
    .where('expires_at', '>', now)
    .where('last_seen_at', '>', idleSince)
    .orderBy('created_at', 'desc')
    .limit(200)
    .execute();

export const deleteSession = (db: Db, personId: string, sessionId: string) =>
  db.deleteFrom('person_sessions').where('person_id', '=', personId).where('id', '=', sessionId).returning('id').executeTakeFirst();

export const deleteSessionByDigest = (db: Db, tokenDigests: string[]) => db.deleteFrom('person_sessions').where('token_digest', 'in', tokenDigests).execute();

/** Ends every session of a person, but `keep` (the one that asked, on a password change). */
export const deleteSessionsOf = (db: Db, personId: string, keep?: string) => {
  let query = db.deleteFrom('person_sessions').where('person_id', '=', personId);
  if (keep) query = query.where('id', '!=', keep);
  return query.execute();
};

/** Sessions past either limit: nothing reads them, this only keeps the table small. */
export const deleteDeadSessions = (db: Db, now: Date, idleSince: Date) =>
  db
    .deleteFrom('person_sessions')
    .where((eb) => eb.or([eb('expires_at', '<=', now), eb('last_seen_at', '<=', idleSince)]))
    .execute();

// One-time links -------------------------------------------------------------------------------------------------

export const insertLink = (db: Db, link: Omit<PersonLink, 'id' | 'used_at'>): Promise<PersonLink> =>
  db.insertInto('person_links').values(link).returningAll().executeTakeFirstOrThrow();

/** Uses up a link: the first request presenting its token within its validity gets the row, every later one nothing. */
export const consumeLink = (db: Db, purpose: PersonLink['purpose'], tokenDigest: string, now: Date): Promise<PersonLink | undefined> =>
  db
    .updateTable('person_links')
    .set({ used_at: now })
    .where('token_digest', '=', tokenDigest)
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .returningAll()
    .executeTakeFirst();

/** Pending invitations of an organization (or of operators, organizationId null). */
export const listPendingInvitations = (db: Db, organizationId: string | null, now: Date): Promise<PersonLink[]> =>
  db
    .selectFrom('person_links')
    .selectAll()
    .where('purpose', '=', 'invitation')
    .where((eb) => (organizationId === null ? eb('kind', '=', 'operator') : eb('organization_id', '=', organizationId)))
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .orderBy('created_at', 'desc')
    .limit(200)
    .execute();

export const revokeInvitation = (db: Db, organizationId: string | null, id: string, now: Date) =>
  db
    .updateTable('person_links')
    .set({ used_at: now })
    .where('id', '=', id)
    .where('purpose', '=', 'invitation')
    .where('used_at', 'is', null)
    .where((eb) => (organizationId === null ? eb('kind', '=', 'operator') : eb('organization_id', '=', organizationId)))
    .returning('id')
    .executeTakeFirst();

export const setRequireSecondFactor = (db: Db, organizationId: string, required: boolean) =>
  db.updateTable('organizations').set({ require_second_factor: required, updated_at: new Date() }).where('id', '=', organizationId).returningAll().executeTakeFirst();


export const listSealedTotpSecrets = (db: Db) =>
  db.selectFrom('people').select(['id', 'totp_secret_sealed']).where('totp_secret_sealed', 'is not', null).$narrowType<{ totp_secret_sealed: string }>().execute();

/** Replaces a sealed TOTP secret only if it is still the one read, so a second factor set up meanwhile stays. */
export const replaceSealedTotpSecret = (db: Db, personId: string, was: string, sealed: string) =>
  db.updateTable('people').set({ totp_secret_sealed: sealed }).where('id', '=', personId).where('totp_secret_sealed', '=', was).execute();
