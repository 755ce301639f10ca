import { sql, type Insertable, type Kysely } from 'kysely';
import type { StoredDigest } from './digest.ts';
import type { ApiKeyRow, ApiKeysTable, Database } from '../db/schema.ts';
import { olderThan, type KeysetPosition } from '../db/keyset.ts';

type Db = Kysely<Database>;

export const insertApiKey = (db: Db, key: Insertable<ApiKeysTable>): Promise<ApiKeyRow> =>
  db.insertInto('api_keys').values(key).returningAll().executeTakeFirstOrThrow();

export const findApiKeyById = (db: Db, id: string): Promise<ApiKeyRow | undefined> =>
  db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();

/** Organization and id together, so another organization's key is indistinguishable from a missing one. */
export const findOrganizationApiKey = (db: Db, organizationId: string, id: string): Promise<ApiKeyRow | undefined> =>
  db.selectFrom('api_keys').selectAll().where('organization_id', '=', organizationId).where('id', '=', id).executeTakeFirst();

export const findApiKeyByKeyId = (db: Db, keyId: string): Promise<Pick<ApiKeyRow, 'id' | 'secret_hash'> | undefined> =>
  db.selectFrom('api_keys').select(['id', 'secret_hash']).where('key_id', '=', keyId).executeTakeFirst();

/** The digest of a key verified by bcrypt, or digested again under a new deployment secret (SPEC 2, hot path). */
export async function setApiKeyDigest(db: Db, id: string, stored: StoredDigest): Promise<void> {
  await db.updateTable('api_keys').set({ secret_digest: stored.digest, digest_secret_id: stored.secretId }).where('id', '=', id).execute();
}

/** With `env`, that env's keys only (a partner key lists its own env's, SPEC 12). */
export const listOrganizationApiKeys = (db: Db, organizationId: string, limit: number, after?: KeysetPosition, env?: ApiKeyRow['env']): Promise<ApiKeyRow[]> => {
  let query = db.selectFrom('api_keys').selectAll().where('organization_id', '=', organizationId);
  if (env) query = query.where('env', '=', env);
  if (after) query = query.where(olderThan(after));
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
};

/**
 * Which key a lifecycle change applies to. With `organizationId`, a key of another organization is not touched and
 * the change answers `undefined`, exactly as for a missing key (partners' routes); without it, any key (operators).
 */
export interface ApiKeyTarget {
  id: string;
  organizationId?: string | undefined;
}

const updateKey = (db: Db, target: ApiKeyTarget) => {
  const query = db.updateTable('api_keys').where('id', '=', target.id);
  return target.organizationId === undefined ? query : query.where('organization_id', '=', target.organizationId);
};

export const findTargetApiKey = (db: Db, target: ApiKeyTarget): Promise<ApiKeyRow | undefined> => {
  const query = db.selectFrom('api_keys').selectAll().where('id', '=', target.id);
  return (target.organizationId === undefined ? query : query.where('organization_id', '=', target.organizationId)).executeTakeFirst();
};

/**
 * Flips the kill switch only if it is not already `on`: the row when this statement flipped it, `undefined` when the
 * key is missing or already so. Guarded in the statement, so of two flips at once exactly one is the flip (and
 * emits the lifecycle event).
 */
export const setApiKeyKillSwitch = (db: Db, target: ApiKeyTarget, on: boolean): Promise<ApiKeyRow | undefined> =>
  updateKey(db, target).set({ kill_switch: on }).where('kill_switch', '<>', on).returningAll().executeTakeFirst();

/** Revocation is permanent: the row when this statement revoked the key, `undefined` when missing or already revoked. */
export const revokeApiKey = (db: Db, target: ApiKeyTarget, at: Date): Promise<ApiKeyRow | undefined> =>
  updateKey(db, target).set({ status: 'revoked', revoked_at: at }).where('status', '<>', 'revoked').returningAll().executeTakeFirst();

/** A rename or new allowed addresses; fields left undefined keep their value. */
export const updateApiKey = (db: Db, target: ApiKeyTarget, fields: { name?: string | undefined; allowed_cidrs?: string[] | undefined }): Promise<ApiKeyRow | undefined> => {
  const set: { name?: string; allowed_cidrs?: string[] } = {};
  if (fields.name !== undefined) set.name = fields.name;
  if (fields.allowed_cidrs !== undefined) set.allowed_cidrs = fields.allowed_cidrs;
  return updateKey(db, target).set(set).returningAll().executeTakeFirst();
};

export const setApiKeyExpiry = (db: Db, target: ApiKeyTarget, expiresAt: Date | null): Promise<ApiKeyRow | undefined> =>
  updateKey(db, target).set({ expires_at: expiresAt }).returningAll().executeTakeFirst();

/**
 * The old half of a roll: an active, unexpired key of the organization gets `expires_at` = `at`, or keeps an earlier
 * one (a roll never lengthens a key's life). One guarded statement; `undefined` when the key is missing, another
 * organization's, revoked or already expired.
 */
export const expireApiKeyForRoll = (db: Db, organizationId: string, id: string, at: Date, now: Date): Promise<ApiKeyRow | undefined> =>
  db
    .updateTable('api_keys')
    // LEAST ignores NULL: a key without an expiry gets `at`.
    .set((eb) => ({ expires_at: eb.fn<Date>('least', ['expires_at', eb.val(at)]) }))
    .where('organization_id', '=', organizationId)
    .where('id', '=', id)
    .where('status', '=', 'active')
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .returningAll()
    .executeTakeFirst();

/**
 * SPEC 15, once per key: sets `leaked_at` on a key that has none, in one guarded statement; true for the report that
 * set it. The row lock it takes holds a concurrent report of the same key until this transaction ends, and that one
 * then finds the column set.
 */
export async function markApiKeyLeaked(db: Db, id: string, at: Date): Promise<boolean> {
  const marked = await db.updateTable('api_keys').set({ leaked_at: at }).where('id', '=', id).where('leaked_at', 'is', null).returning('id').executeTakeFirst();
  return marked !== undefined;
}

/** The scanner's handle: a leaked key is known by its key_id, never by its secret. */
export const findApiKeyRowByKeyId = (db: Db, keyId: string): Promise<ApiKeyRow | undefined> =>
  db.selectFrom('api_keys').selectAll().where('key_id', '=', keyId).executeTakeFirst();

/** Write-behind of `last_used_at`; a late flush never moves it backwards. */
/** `usage`: apiKeyId → when it was used (epoch milliseconds). */
export async function touchApiKeys(db: Db, usage: ReadonlyMap<string, number>): Promise<void> {
  // One statement per thousand keys, not one per key: with many keys in use this runs thousands of times a minute.
  const entries = [...usage];
  for (let start = 0; start < entries.length; start += 1000) {
    const batch = entries.slice(start, start + 1000);
    await sql`
      UPDATE api_keys AS k SET last_used_at = u.at
      FROM unnest(${batch.map(([id]) => id)}::uuid[], ${batch.map(([, at]) => new Date(at).toISOString())}::timestamptz[]) AS u(id, at)
      WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)
    `.execute(db);
  }
}
