import { Type } from '@sinclair/typebox';
import type { JobRow, ProjectSource } from '../db/schema.ts';
import { ResourceEnv, Uuid } from '../http/schemas.ts';
import { JOB_KINDS, type JobKind } from './kinds.ts';

const DateTime = Type.String({ format: 'date-time' });
const NullableDateTime = Type.Union([DateTime, Type.Null()]);

export const JobKindSchema = Type.Union(JOB_KINDS.map((kind) => Type.Literal(kind)));

/** SPEC 8.2. */
export const JobSchema = Type.Object({
  id: Uuid,
  env: ResourceEnv,
  projectId: Uuid,
  kind: JobKindSchema,
  status: Type.Union(['queued', 'running', 'succeeded', 'failed', 'canceled'].map((status) => Type.Literal(status))),
  createdAt: DateTime,
  startedAt: NullableDateTime,
  finishedAt: NullableDateTime,
  creditsCharged: Type.Integer(),
  result: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
}, { title: 'Job' });

export type JobRecord = ReturnType<typeof presentJob>;

export function presentJob(row: JobRow) {
  return {
    id: row.id,
    env: row.env,
    projectId: row.project_id,
    // The jobs table only ever holds the kinds this version knows (insertJob takes a JobKind).
    kind: row.kind as JobKind,
    status: row.status,
    createdAt: row.created_at.toISOString(),
    startedAt: row.started_at?.toISOString() ?? null,
    finishedAt: row.finished_at?.toISOString() ?? null,
    creditsCharged: row.credits_charged,
    ...(row.result ? { result: row.result } : {}),
    ...(row.error ? { error: { code: row.error.code, message: row.error.message } } : {}),
  };
}

export const SourceSchema = Type.Object({
  id: Uuid,
  env: ResourceEnv,
  projectId: Uuid,
  jobId: Uuid,
  kind: Type.Union(['appstore_ios', 'appstore_android', 'website_page', 'github_repo'].map((kind) => Type.Literal(kind))),
  url: Type.String(),
  title: Type.Union([Type.String(), Type.Null()]),
  data: Type.Record(Type.String(), Type.Unknown()),
  createdAt: DateTime,
  updatedAt: DateTime,
}, { title: 'ProjectSource' });

export function presentSource(row: ProjectSource) {
  return {
    id: row.id,
    env: row.env,
    projectId: row.project_id,
    jobId: row.job_id,
    kind: row.kind,
    url: row.url,
    title: row.title,
    data: row.data,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
