import type { Kysely } from 'kysely';
import type { Database, Project } from '../db/schema.ts';
import { conflict, notFound } from '../http/errors.ts';

// A private stand-in for the projects feature's findProjectForOrganization; the lead replaces it at merge.

/** The organization's project, or 404 exactly as for a missing one (SPEC 8). */
export async function projectOfOrganization(db: Kysely<Database>, organizationId: string, projectId: string): Promise<Project> {
  const project = await db.selectFrom('projects').selectAll().where('organization_id', '=', organizationId).where('id', '=', projectId).executeTakeFirst();
  if (!project) throw notFound('Project');
  return project;
}

/** SPEC 8.1: an archived project accepts no new jobs. */
export async function projectAcceptingJobs(db: Kysely<Database>, organizationId: string, projectId: string): Promise<Project> {
  const project = await projectOfOrganization(db, organizationId, projectId);
  if (project.status === 'archived') throw conflict('project_archived', 'The project is archived and accepts no new jobs.');
  return project;
}
