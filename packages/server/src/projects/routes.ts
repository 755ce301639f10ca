import type { Deps } from '../deps.ts';
import { principalOf } from '../auth/pipeline.ts';
import { ErrorSchema, IdParams, Page, PageQuery } from '../http/schemas.ts';
import type { App } from '../http/typed-app.ts';
import { unitOfWork } from '../http/unit-of-work.ts';
import { CreateInfluencerBody, CreateProjectBody, InfluencerSchema, PatchProjectBody, ProjectSchema } from './schemas.ts';
import {
  archiveProject,
  changeProject,
  createInfluencer,
  createProject,
  listProjectsPage,
  presentInfluencer,
  presentProject,
  projectOf,
} from './service.ts';

const tags = ['projects'];
const errors = { 400: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 422: ErrorSchema };

/** SPEC 8.1 and 8.4. Every lookup takes the organization from the key, never from the request. */
export function registerProjectRoutes(app: App, deps: Deps): void {
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
      const tenant = principalOf(request);
      const { organizationId } = tenant;
      return unitOfWork(request, reply, async (unit) => {
        const { project, created } = await createProject(unit.db, tenant, request.body);
        unit.audit({ type: 'project', id: project.id, organizationId });
        return { status: created ? 201 : 200, body: presentProject(project) };
      });
    },
  );

  app.get(
    '/v1/projects',
    {
      config: { endpointClass: 'read-light', scope: 'projects:read' },
      schema: { summary: "The organization's projects, newest first", tags, querystring: PageQuery, response: { 200: Page(ProjectSchema), ...errors } },
    },
    async (request) => listProjectsPage(db, principalOf(request), request.query.limit, request.query.cursor),
  );

  app.get(
    '/v1/projects/:id',
    {
      config: { endpointClass: 'read-light', scope: 'projects:read' },
      schema: { summary: 'A project', tags, params: IdParams, response: { 200: ProjectSchema, ...errors } },
    },
    async (request) => presentProject(await projectOf(db, principalOf(request), request.params.id)),
  );

  app.patch(
    '/v1/projects/:id',
    {
      config: { endpointClass: 'write-light', scope: 'projects:write', audit: 'project.update', errors: ['CONFLICT'] },
      schema: { summary: 'Change some of a project’s fields', tags, params: IdParams, body: PatchProjectBody, response: { 200: ProjectSchema, ...errors } },
    },
    async (request, reply) => {
      const tenant = principalOf(request);
      const { organizationId } = tenant;
      const { id } = request.params;
      return unitOfWork(request, reply, async (unit) => {
        unit.audit({ type: 'project', id, organizationId });
        return { body: presentProject(await changeProject(unit.db, tenant, id, request.body)) };
      });
    },
  );

  app.post(
    '/v1/projects/:id/archive',
    {
      config: { endpointClass: 'write-light', scope: 'projects:write', audit: 'project.archive' },
      schema: { summary: 'Archive a project (idempotent)', tags, params: IdParams, response: { 200: ProjectSchema, ...errors } },
    },
    async (request, reply) => {
      const tenant = principalOf(request);
      const { organizationId } = tenant;
      const { id } = request.params;
      return unitOfWork(request, reply, async (unit) => {
        unit.audit({ type: 'project', id, organizationId });
        return { body: presentProject(await archiveProject(unit.db, tenant, id)) };
      });
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
      const tenant = principalOf(request);
      const { organizationId } = tenant;
      const { id } = request.params;
      return unitOfWork(request, reply, async (unit) => {
        unit.audit({ type: 'project', id, organizationId });
        const influencer = await createInfluencer(unit.db, tenant, id, request.body);
        unit.audit({ type: 'influencer', id: influencer.id, organizationId });
        return { status: 201, body: presentInfluencer(influencer) };
      });
    },
  );
}
