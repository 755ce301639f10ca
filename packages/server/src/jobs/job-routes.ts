import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { principalOf } from '../auth/pipeline.ts';
import type { Deps } from '../deps.ts';
import { tolerateEmptyJsonBody } from '../http/empty-body.ts';
import { Uuid } from '../http/schemas.ts';
import { JobSchema, presentJob } from './present.ts';
import { cancelJob, jobOfOrganization } from './service.ts';

const JobParams = Type.Object({ jobId: Uuid });

/** SPEC 8.2. */
export function registerJobRoutes(app: FastifyInstance, deps: Deps): void {
  app.get(
    '/v1/jobs/:jobId',
    {
      config: { endpointClass: 'read-light', scope: 'jobs:read' },
      schema: { summary: 'A job and its outcome', tags: ['jobs'], params: JobParams, response: { 200: JobSchema } },
    },
    async (request) => {
      const { jobId } = request.params as typeof JobParams.static;
      return presentJob(await jobOfOrganization(deps, principalOf(request).organizationId, jobId));
    },
  );

  // The cancel takes no body, and the docs' smoke test sends it with Content-Type: application/json anyway.
  void app.register(async (scope) => {
    tolerateEmptyJsonBody(scope);
    scope.post(
      '/v1/jobs/:jobId/cancel',
      {
        config: { endpointClass: 'write-light', scope: 'jobs:cancel', audit: 'job.cancel', errors: ['UNAVAILABLE'] },
        schema: {
          summary: 'Cancel a job: 200 when it was queued, 202 while a running job stops, 409 once finished',
          tags: ['jobs'],
          params: JobParams,
          response: { 200: JobSchema, 202: JobSchema },
        },
      },
      async (request, reply) => {
        const { jobId } = request.params as typeof JobParams.static;
        request.auditTarget = { type: 'job', id: jobId };
        const { status, job } = await cancelJob(deps, principalOf(request).organizationId, jobId);
        return reply.code(status).send(presentJob(job));
      },
    );
  });
}
