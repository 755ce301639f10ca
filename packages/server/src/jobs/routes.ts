import { Type } from '@sinclair/typebox';
import { principalOf } from '../auth/pipeline.ts';
import type { Deps } from '../deps.ts';
import { tolerateEmptyJsonBody } from '../http/empty-body.ts';
import { Uuid } from '../http/schemas.ts';
import type { App } from '../http/typed-app.ts';
import { unitOfWork } from '../http/unit-of-work.ts';
import { JobSchema, presentJob } from './present.ts';
import { cancelJob, jobOf } from './service.ts';

const JobParams = Type.Object({ jobId: Uuid });

/** SPEC 8.2. */
export function registerJobRoutes(app: App, deps: Deps): void {
  app.get(
    '/v1/jobs/:jobId',
    {
      config: { endpointClass: 'read-light', scope: 'jobs:read' },
      schema: { summary: 'A job and its outcome', tags: ['jobs'], params: JobParams, response: { 200: JobSchema } },
    },
    async (request) => presentJob(await jobOf(deps.store.db, principalOf(request), request.params.jobId)),
  );

  // The cancel takes no body, and the docs' smoke test sends it with Content-Type: application/json anyway.
  void app.register(async (scope: App) => {
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
        const { jobId } = request.params;
        const tenant = principalOf(request);
        const { organizationId } = tenant;
        return unitOfWork(request, reply, async (unit) => {
          unit.audit({ type: 'job', id: jobId, organizationId });
          const { status, job } = await cancelJob(unit, deps, tenant, jobId);
          return { status, body: presentJob(job) };
        });
      },
    );
  });
}
