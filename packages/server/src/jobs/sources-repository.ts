import { sql, type Kysely } from 'kysely';
import type { Database, Env, ProjectSource, Tenant } from '../db/schema.ts';
import { olderThan, type KeysetPosition } from '../db/keyset.ts';

type Db = Kysely<Database>;

export interface NewSource {
  kind: string;
  url: string;
  title: string | null;
  data: Record<string, unknown>;
}

/** Adds what a job found; a source the project already has (same kind and URL) is refreshed in place. */
export async function upsertSources(db: Db, owner: { organizationId: string; env: Env; projectId: string; jobId: string }, sources: NewSource[]): Promise<void> {
  const unique = [...new Map(sources.map((source) => [`${source.kind} ${source.url}`, source])).values()];
  if (unique.length === 0) return;
  await db
    .insertInto('project_sources')
    .values(
      unique.map((source) => ({
        organization_id: owner.organizationId,
        env: owner.env,
        project_id: owner.projectId,
        job_id: owner.jobId,
        kind: source.kind,
        url: source.url,
        title: source.title,
        data: JSON.stringify(source.data),
      })),
    )
    .onConflict((conflict) =>
      conflict.columns(['project_id', 'kind', 'url']).doUpdateSet((eb) => ({
        title: eb.ref('excluded.title'),
        data: eb.ref('excluded.data'),
        job_id: eb.ref('excluded.job_id'),
        updated_at: sql<Date>`clock_timestamp()`,
      })),
    )
    .execute();
}

/** Newest first; `after` is the (created_at, id) of the last row of the previous page. */
export const listSources = (db: Db, tenant: Tenant, projectId: string, limit: number, after?: KeysetPosition): Promise<ProjectSource[]> => {
  let query = db
    .selectFrom('project_sources')
    .selectAll()
    .where('organization_id', '=', tenant.organizationId)
    .where('env', '=', tenant.env)
    .where('project_id', '=', projectId);
  if (after) query = query.where(olderThan(after));
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
};
