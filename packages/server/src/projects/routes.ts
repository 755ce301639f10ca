import type { FastifyInstance } from 'fastify';
import { principalOf } from '../auth/pipeline.ts';
import type { Deps } from '../deps.ts';
import { ErrorSchema, IdParams, Page, PageQuery } from '../http/schemas.ts';
import { CreateInfluencerBody, CreateProjectBody, InfluencerSchema, PatchProjectBody, ProjectSchema } from './schemas.ts';
import {
  archiveProject,
  changeProject,
  createInfluencer,
  createProject,
  listProjectsPage,
  presentInfluencer,
  presentProject,
  requireProject,
} from './service.ts';

const tags = ['projects'];
const errors = { 400: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 422: ErrorSchema };

/** SPEC 8.1 and 8.4. Every lookup takes the organization from the key, never from the request. */
export function registerProjectRoutes(app: FastifyInstance, deps: Deps): void {
  const db = deps.store.db;

  app.post(
    '/v1/projects',
    {
      config: { endpointClass: 'write-light', scope: 'projects:write', audit: 'project.create' },
      schema: {
        summary: 'Create a project (or get the one with this customerExternalId)',
        tags,
        body: CreateProjectBody,
        response: { 200: ProjectSchema, 201: ProjectSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { organizationId } = principalOf(request);
      const { project, created } = await createProject(db, organizationId, request.body as typeof CreateProjectBody.static);
      request.auditTarget = { type: 'project', id: project.id, organizationId };
      return reply.code(created ? 201 : 200).send(presentProject(project));
    },
  );

  app.get(
    '/v1/projects',
    {
      config: { endpointClass: 'read-light', scope: 'projects:read' },
      schema: { summary: "The organization's projects, newest first", tags, querystring: PageQuery, response: { 200: Page(ProjectSchema), ...errors } },
    },
    async (request) => {
      const query = request.query as typeof PageQuery.static;
      return listProjectsPage(db, principalOf(request).organizationId, query.limit, query.cursor);
    },
  );

  app.get(
    '/v1/projects/:id',
    {
      config: { endpointClass: 'read-light', scope: 'projects:read' },
      schema: { summary: 'A project', tags, params: IdParams, response: { 200: ProjectSchema, ...errors } },
    },
    async (request) => {
      const { id } = request.params as typeof IdParams.static;
      return presentProject(await requireProject(db, principalOf(request).organizationId, id));
    },
  );

  app.patch(
    '/v1/projects/:id',
    {
      config: { endpointClass: 'write-light', scope: 'projects:write', audit: 'project.update', errors: ['CONFLICT'] },
      schema: { summary: 'Change some of a project’s fields', tags, params: IdParams, body: PatchProjectBody, response: { 200: ProjectSchema, ...errors } },
    },
    async (request) => {
      const { id } = request.params as typeof IdParams.static;
      const { organizationId } = principalOf(request);
      request.auditTarget = { type: 'project', id, organizationId };
      return presentProject(await changeProject(db, organizationId, id, request.body as typeof PatchProjectBody.static));
    },
  );

  app.post(
    '/v1/projects/:id/archive',
    {
      config: { endpointClass: 'write-light', scope: 'projects:write', audit: 'project.archive' },
      schema: { summary: 'Archive a project (idempotent)', tags, params: IdParams, response: { 200: ProjectSchema, ...errors } },
    },
    async (request) => {
      const { id } = request.params as typeof IdParams.static;
      const { organizationId } = principalOf(request);
      request.auditTarget = { type: 'project', id, organizationId };
      return presentProject(await archiveProject(db, organizationId, id));
    },
  );

  app.post(
    '/v1/projects/:id/influencers',
    {
      config: { endpointClass: 'write-light', scope: 'influencers:write', audit: 'influencer.create' },
      schema: {
        summary: 'Create an influencer under a project',
        tags,
        params: IdParams,
        body: CreateInfluencerBody,
        response: { 201: InfluencerSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { id } = request.params as typeof IdParams.static;
      const { organizationId } = principalOf(request);
      request.auditTarget = { type: 'project', id, organizationId };
      const influencer = await createInfluencer(db, organizationId, id, request.body as typeof CreateInfluencerBody.static);
      request.auditTarget = { type: 'influencer', id: influencer.id, organizationId };
      return reply.code(201).send(presentInfluencer(influencer));
    },
  );
}
