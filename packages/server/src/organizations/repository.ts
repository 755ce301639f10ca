import type { Kysely } from 'kysely';
import type { Database, NewOrganization, Organization, OrganizationUpdate } from '../db/schema.ts';
import { olderThan, type KeysetPosition } from '../db/keyset.ts';

type Db = Kysely<Database>;

export const insertOrganization = (db: Db, organization: NewOrganization): Promise<Organization> =>
  db.insertInto('organizations').values(organization).returningAll().executeTakeFirstOrThrow();

export const findOrganization = (db: Db, id: string): Promise<Organization | undefined> =>
  db.selectFrom('organizations').selectAll().where('id', '=', id).executeTakeFirst();

/** The row, locked until the transaction ends (a change reads what it replaces). */
export const lockOrganization = (db: Db, id: string): Promise<Organization | undefined> =>
  db.selectFrom('organizations').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();

export const updateOrganization = (db: Db, id: string, changes: OrganizationUpdate): Promise<Organization | undefined> =>
  db
    .updateTable('organizations')
    .set({ ...changes, updated_at: new Date() })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();

/** Newest first; `after` is the (created_at, id) of the last row of the previous page. */
export const listOrganizations = (db: Db, limit: number, after?: KeysetPosition): Promise<Organization[]> => {
  let query = db.selectFrom('organizations').selectAll();
  if (after) query = query.where(olderThan(after));
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
};
