import { sql, type Insertable, type Kysely, type Updateable } from 'kysely';
import type { Database, Influencer, Project, ProjectsTable, Tenant } from '../db/schema.ts';
import { olderThan, type KeysetPosition } from '../db/keyset.ts';

type Db = Kysely<Database>;

/**
 * Organization and id together, in the query itself: another organization's project is indistinguishable from a
 * missing one. Other features (ingest jobs) look projects up through this.
 */
export const findProjectForOrganization = (db: Db, tenant: Tenant, id: string): Promise<Project | undefined> =>
  db.selectFrom('projects').selectAll().where('organization_id', '=', tenant.organizationId).where('env', '=', tenant.env).where('id', '=', id).executeTakeFirst();

export const findProjectByCustomerExternalId = (db: Db, tenant: Tenant, customerExternalId: string): Promise<Project | undefined> =>
  db
    .selectFrom('projects')
    .selectAll()
    .where('organization_id', '=', tenant.organizationId)
    .where('env', '=', tenant.env)
    .where('customer_external_id', '=', customerExternalId)
    .executeTakeFirst();

/**
 * Inserts unless the organization already has a project with this customerExternalId; the unique index decides
 * between concurrent creates. Returns undefined when the row already existed.
 */
export const insertProjectUnlessExternalIdTaken = (db: Db, project: Insertable<ProjectsTable> & { env: Tenant['env'] }): Promise<Project | undefined> =>
  db
    .insertInto('projects')
    .values(project)
    .onConflict((conflict) => conflict.columns(['organization_id', 'env', 'customer_external_id']).where('customer_external_id', 'is not', null).doNothing())
    .returningAll()
    .executeTakeFirst();

/** Newest first; `after` is the (created_at, id) of the last row of the previous page. (created_at, id) never changes, so a walk sees each row once. */
export const listProjects = (db: Db, tenant: Tenant, limit: number, after?: KeysetPosition): Promise<Project[]> => {
  let query = db.selectFrom('projects').selectAll().where('organization_id', '=', tenant.organizationId).where('env', '=', tenant.env);
  if (after) query = query.where(olderThan(after));
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
};

export type ProjectChanges = Pick<Updateable<ProjectsTable>, 'name' | 'customer_external_id' | 'timezone' | 'primary_language'>;

export const updateProject = (db: Db, tenant: Tenant, id: string, changes: ProjectChanges): Promise<Project | undefined> =>
  db
    .updateTable('projects')
    .set({ ...changes, updated_at: sql<Date>`clock_timestamp()` })
    .where('organization_id', '=', tenant.organizationId)
    .where('env', '=', tenant.env)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();

/** Archives an active project; undefined when there is no active project of that organization with this id. */
export const archiveActiveProject = (db: Db, tenant: Tenant, id: string): Promise<Project | undefined> =>
  db
    .updateTable('projects')
    .set({ status: 'archived', updated_at: sql<Date>`clock_timestamp()` })
    .where('organization_id', '=', tenant.organizationId)
    .where('env', '=', tenant.env)
    .where('id', '=', id)
    .where('status', '=', 'active')
    .returningAll()
    .executeTakeFirst();

/**
 * One statement: the influencer is inserted only if the project belongs to the organization and is active at that
 * moment, so an archive racing with it cannot leave an influencer under an archived project.
 */
export const insertInfluencerIntoActiveProject = (
  db: Db,
  influencer: { tenant: Tenant; projectId: string; name: string; persona: string | null },
): Promise<Influencer | undefined> =>
  db
    .insertInto('influencers')
    .columns(['organization_id', 'project_id', 'name', 'persona', 'env'])
    .expression((eb) =>
      eb
        .selectFrom('projects')
        .select([
          'organization_id',
          'id',
          sql<string>`${influencer.name}::text`.as('name'),
          sql<string | null>`${influencer.persona}::text`.as('persona'),
          'env',
        ])
        .where('organization_id', '=', influencer.tenant.organizationId)
        .where('env', '=', influencer.tenant.env)
        .where('id', '=', influencer.projectId)
        .where('status', '=', 'active'),
    )
    .returningAll()
    .executeTakeFirst();
