import { Type } from '@sinclair/typebox';
import { AuditEntrySchema, presentAuditEntry } from './admin-routes.ts';
import { principalOf } from '../auth/pipeline.ts';
import { listAuditEntries } from './repository.ts';
import type { Deps } from '../deps.ts';
import type { App } from '../http/typed-app.ts';
import { decodeCursor, pageOf } from '../http/pagination.ts';
import { Page, Uuid } from '../http/schemas.ts';

export const PartnerAuditQuery = Type.Object(
  {
    apiKeyId: Type.Optional(Uuid),
    action: Type.Optional(Type.String({ maxLength: 100 })),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
  },
  { additionalProperties: false },
);

/** SPEC 8.8: the audit entries of the caller's organization (its keys' actions and operators' actions on it). */
export function registerPartnerAuditRoutes(app: App, deps: Deps): void {
  app.get(
    '/v1/audit',
    {
      config: { endpointClass: 'read-light', scope: 'audit:read' },
      schema: { summary: "The organization's audit log, newest first", tags: ['audit'], querystring: PartnerAuditQuery, response: { 200: Page(AuditEntrySchema) } },
    },
    async (request) => {
      const query = request.query;
      const { organizationId, env } = principalOf(request);
      const filter = { organizationId, env, apiKeyId: query.apiKeyId, action: query.action };
      const rows = await listAuditEntries(deps.store.db, filter, query.limit + 1, decodeCursor(query.cursor));
      return pageOf(rows, query.limit, (row) => ({ at: row.occurred_at, id: row.id }), presentAuditEntry);
    },
  );
}
