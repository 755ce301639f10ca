import type { Kysely } from 'kysely';
import type { Database, Influencer, Project, Tenant } from '../db/schema.ts';
import { conflict, notFound } from '../http/errors.ts';
import { decodeCursor, pageOf } from '../http/pagination.ts';
import { canonicalLanguageTag, canonicalTimeZone } from '../http/locale-formats.ts';
import {
  archiveActiveProject,
  findProjectByCustomerExternalId,
  findProjectForOrganization,
  insertInfluencerIntoActiveProject,
  insertProjectUnlessExternalIdTaken,
  listProjects,
  updateProject,
  type ProjectChanges,
} from './repository.ts';
import type { CreateInfluencerInput, CreateProjectInput, PatchProjectInput } from './schemas.ts';

type Db = Kysely<Database>;

const DEFAULT_TIMEZONE = 'UTC';
const DEFAULT_LANGUAGE = 'en';
const UNIQUE_VIOLATION = '23505';

export function presentProject(row: Project) {
  return {
    id: row.id,
    organizationId: row.organization_id,
    env: row.env,
    name: row.name,
    customerExternalId: row.customer_external_id,
    timezone: row.timezone,
    primaryLanguage: row.primary_language,
    status: row.status,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export function presentInfluencer(row: Influencer) {
  return {
    id: row.id,
    organizationId: row.organization_id,
    env: row.env,
    projectId: row.project_id,
    name: row.name,
    persona: row.persona,
    createdAt: row.created_at.toISOString(),
  };
}

/** SPEC 8.3: an archived project accepts no new work. For every feature that starts something under a project. */
export function assertProjectActive(project: Pick<Project, 'status'>): void {
  if (project.status === 'archived') throw conflict('project_archived', 'The project is archived and accepts no new work.');
}

/** The organization's project: 404 when it has none with this id, exactly as for another organization's (SPEC 8). */
export async function projectOf(db: Db, tenant: Tenant, id: string): Promise<Project> {
  const project = await findProjectForOrganization(db, tenant, id);
  if (!project) throw notFound('Project');
  return project;
}

/** The organization's project, active: 404 as above, 409 `project_archived` when archived. */
export async function activeProjectOf(db: Db, tenant: Tenant, id: string): Promise<Project> {
  const project = await projectOf(db, tenant, id);
  assertProjectActive(project);
  return project;
}

/** Time zone and language in canonical spelling (the schema has already refused anything that has none). */
function localeFields(input: { timezone?: string | undefined; primaryLanguage?: string | undefined }) {
  return {
    timezone: input.timezone === undefined ? undefined : (canonicalTimeZone(input.timezone) ?? input.timezone),
    primaryLanguage: input.primaryLanguage === undefined ? undefined : (canonicalLanguageTag(input.primaryLanguage) ?? input.primaryLanguage),
  };
}

const isUniqueViolation = (error: unknown): boolean => (error as { code?: unknown } | null)?.code === UNIQUE_VIOLATION;

/** SPEC 8.1: a new project, or the organization's existing one with this customerExternalId (`created: false`). */
export async function createProject(db: Db, tenant: Tenant, input: CreateProjectInput): Promise<{ project: Project; created: boolean }> {
  const locale = localeFields(input);
  const customerExternalId = input.customerExternalId ?? null;
  const inserted = await insertProjectUnlessExternalIdTaken(db, {
    organization_id: tenant.organizationId,
    env: tenant.env,
    name: input.name,
    customer_external_id: customerExternalId,
    timezone: locale.timezone ?? DEFAULT_TIMEZONE,
    primary_language: locale.primaryLanguage ?? DEFAULT_LANGUAGE,
  });
  if (inserted) return { project: inserted, created: true };
  // The insert only stands down for a taken customerExternalId; projects are never deleted, so the holder is there.
  const existing = await findProjectByCustomerExternalId(db, tenant, customerExternalId!);
  if (!existing) throw new Error('project insert was skipped but no project holds its customerExternalId');
  return { project: existing, created: false };
}

export async function changeProject(db: Db, tenant: Tenant, id: string, input: PatchProjectInput): Promise<Project> {
  const locale = localeFields(input);
  const changes: ProjectChanges = {};
  if (input.name !== undefined) changes.name = input.name;
  if (input.customerExternalId !== undefined) changes.customer_external_id = input.customerExternalId;
  if (locale.timezone !== undefined) changes.timezone = locale.timezone;
  if (locale.primaryLanguage !== undefined) changes.primary_language = locale.primaryLanguage;
  let row: Project | undefined;
  try {
    row = await updateProject(db, tenant, id, changes);
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw conflict('customer_external_id_taken', 'Another project of this organization has this customerExternalId.');
    }
    throw error;
  }
  if (!row) throw notFound('Project');
  return row;
}

/** Idempotent: archiving an archived project answers it as it is. */
export async function archiveProject(db: Db, tenant: Tenant, id: string): Promise<Project> {
  const archived = await archiveActiveProject(db, tenant, id);
  if (archived) return archived;
  const project = await findProjectForOrganization(db, tenant, id);
  if (!project) throw notFound('Project');
  return project;
}

export async function listProjectsPage(db: Db, tenant: Tenant, limit: number, cursor: string | undefined) {
  const after = decodeCursor(cursor);
  const rows = await listProjects(db, tenant, limit + 1, after);
  return pageOf(rows, limit, (row) => ({ at: row.created_at, id: row.id }), presentProject);
}

/** SPEC 8.4: an influencer row under an active project of the organization, nothing else. */
export async function createInfluencer(db: Db, tenant: Tenant, projectId: string, input: CreateInfluencerInput): Promise<Influencer> {
  const row = await insertInfluencerIntoActiveProject(db, { tenant, projectId, name: input.name, persona: input.persona ?? null });
  if (row) return row;
  // Missing (404) or archived (409); a project is never un-archived, so the fallback below is not reached today.
  await activeProjectOf(db, tenant, projectId);
  throw conflict('project_archived', 'The project is archived and accepts no new work.');
}
