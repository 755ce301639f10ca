import { principalOf } from '../auth/pipeline.ts';
import type { Deps } from '../deps.ts';
import { listSources } from './sources-repository.ts';
import { decodeCursor, pageOf } from '../http/pagination.ts';
import { IdParams, Page, PageQuery } from '../http/schemas.ts';
import type { App } from '../http/typed-app.ts';
import { presentSource, SourceSchema } from './present.ts';
import { projectOf } from '../projects/service.ts';

/** SPEC 8.1: what ingest jobs found for a project, newest first. */
export function registerSourceRoutes(app: App, deps: Deps): void {
  app.get(
    '/v1/projects/:id/sources',
    {
      config: { endpointClass: 'read-light', scope: 'projects:read' },
      schema: { summary: "What ingest jobs found for the project", tags: ['projects'], params: IdParams, querystring: PageQuery, response: { 200: Page(SourceSchema) } },
    },
    async (request) => {
      const { id } = request.params;
      const { limit, cursor } = request.query;
      const after = decodeCursor(cursor);
      const tenant = principalOf(request);
      await projectOf(deps.store.db, tenant, id);
      const rows = await listSources(deps.store.db, tenant, id, limit + 1, after);
      return pageOf(rows, limit, (row) => ({ at: row.created_at, id: row.id }), presentSource);
    },
  );
}
