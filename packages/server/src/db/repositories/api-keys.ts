import type { Insertable, Kysely } from 'kysely';
import type { ApiKeyRow, ApiKeysTable, Database } from '../schema.ts';

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

export const listOrganizationApiKeys = (db: Db, organizationId: string, limit: number, after?: { createdAt: Date; id: string }): Promise<ApiKeyRow[]> => {
  let query = db.selectFrom('api_keys').selectAll().where('organization_id', '=', organizationId);
  if (after) {
    query = query.where((eb) =>
      eb.or([eb('created_at', '<', after.createdAt), eb.and([eb('created_at', '=', after.createdAt), eb('id', '<', after.id)])]),
    );
  }
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
};

export const setApiKeyKillSwitch = (db: Db, id: string, on: boolean): Promise<ApiKeyRow | undefined> =>
  db.updateTable('api_keys').set({ kill_switch: on }).where('id', '=', id).returningAll().executeTakeFirst();

/** Revocation is permanent: a revoked key keeps its first `revoked_at`. */
export const revokeApiKey = (db: Db, id: string, at: Date): Promise<ApiKeyRow | undefined> =>
  db
    .updateTable('api_keys')
    .set((eb) => ({ status: 'revoked', revoked_at: eb.fn.coalesce('revoked_at', eb.val(at)) }))
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();

export const setApiKeyExpiry = (db: Db, id: string, expiresAt: Date | null): Promise<ApiKeyRow | undefined> =>
  db.updateTable('api_keys').set({ expires_at: expiresAt }).where('id', '=', id).returningAll().executeTakeFirst();

/** Write-behind of `last_used_at`; a late flush never moves it backwards. */
export async function touchApiKeys(db: Db, usage: ReadonlyMap<string, Date>): Promise<void> {
  for (const [id, at] of usage) {
    await db
      .updateTable('api_keys')
      .set({ last_used_at: at })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', at)]))
      .execute();
  }
}
