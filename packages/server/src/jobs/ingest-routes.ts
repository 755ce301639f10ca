import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { principalOf } from '../auth/pipeline.ts';
import type { Deps } from '../deps.ts';
import { IdParams, Uuid } from '../http/schemas.ts';
import type { App } from '../http/typed-app.ts';
import { unitOfWork } from '../http/unit-of-work.ts';
import { DEFAULT_MAX_PAGES, MAX_PAGES } from './ingest-website.ts';
import type { JobKind } from './kinds.ts';
import { JobKindSchema } from './present.ts';
import { enqueueJob } from './service.ts';

const AppstoreBody = Type.Object(
  {
    iosBundleId: Type.Optional(Type.String({ maxLength: 155, pattern: '^[A-Za-z0-9][A-Za-z0-9.-]{0,154}$' })),
    androidPackageName: Type.Optional(Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_]*(\\.[A-Za-z0-9_]+)+$', maxLength: 255 })),
  },
  // One of the two at least (SPEC 8.3); validation names both when neither is sent.
  { additionalProperties: false, anyOf: [{ required: ['iosBundleId'] }, { required: ['androidPackageName'] }] },
);

const WebsiteBody = Type.Object(
  {
    url: Type.String({ format: 'uri', pattern: '^[Hh][Tt][Tt][Pp][Ss]?://', maxLength: 2048 }),
    maxPages: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGES, default: DEFAULT_MAX_PAGES })),
  },
  { additionalProperties: false },
);

const GithubBody = Type.Object(
  { repo: Type.String({ maxLength: 140, pattern: '^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$', description: 'owner/name' }) },
  { additionalProperties: false },
);

const Accepted = Type.Object({ jobId: Uuid, status: Type.Literal('queued'), kind: JobKindSchema, projectId: Uuid });

/** Queues the job in the request's unit of work and answers 202 at once. */
function accept(deps: Deps, request: FastifyRequest, reply: FastifyReply, projectId: string, kind: JobKind, input: Record<string, unknown>) {
  const tenant = principalOf(request);
  const { organizationId, apiKeyId } = tenant;
  return unitOfWork(request, reply, async (unit) => {
    unit.audit({ type: 'project', id: projectId, organizationId });
    const job = await enqueueJob(unit, deps, { tenant, projectId, kind, input, apiKeyId });
    unit.audit({ type: 'job', id: job.id, organizationId });
    return { status: 202, body: { jobId: job.id, status: 'queued' as const, kind, projectId } };
  });
}

const routeConfig = (audit: string) => ({ endpointClass: 'long-running' as const, scope: 'ingest:write' as const, audit, errors: ['INSUFFICIENT_CREDITS'] as const });

/** SPEC 8.3: each ingest kind starts a job and answers 202 at once. */
export function registerIngestRoutes(app: App, deps: Deps): void {
  app.post(
    '/v1/projects/:id/ingest/appstore',
    {
      config: routeConfig('ingest.appstore'),
      schema: { summary: "Read the app's public store listings", tags: ['ingest'], params: IdParams, body: AppstoreBody, response: { 202: Accepted } },
    },
    async (request, reply) => accept(deps, request, reply, request.params.id, 'ingest_appstore', request.body),
  );

  app.post(
    '/v1/projects/:id/ingest/website',
    {
      config: routeConfig('ingest.website'),
      schema: { summary: "Read the pages of the customer's website", tags: ['ingest'], params: IdParams, body: WebsiteBody, response: { 202: Accepted } },
    },
    async (request, reply) => accept(deps, request, reply, request.params.id, 'ingest_website', { url: request.body.url, maxPages: request.body.maxPages ?? DEFAULT_MAX_PAGES }),
  );

  app.post(
    '/v1/projects/:id/ingest/github',
    {
      config: routeConfig('ingest.github'),
      schema: { summary: 'Read a public GitHub repository', tags: ['ingest'], params: IdParams, body: GithubBody, response: { 202: Accepted } },
    },
    async (request, reply) => accept(deps, request, reply, request.params.id, 'ingest_github', request.body),
  );
}
