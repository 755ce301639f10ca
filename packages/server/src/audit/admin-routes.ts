import { Type } from '@sinclair/typebox';
import type { Deps } from '../deps.ts';
import { listAuditEntries } from './repository.ts';
import type { AuditEntry } from '../db/schema.ts';
import { decodeCursor, pageOf } from '../http/pagination.ts';
import { Page, Uuid } from '../http/schemas.ts';
import type { App } from '../http/typed-app.ts';

export const AuditEntrySchema = Type.Object({
  id: Uuid,
  occurredAt: Type.String({ format: 'date-time' }),
  organizationId: Type.Union([Uuid, Type.Null()]),
  apiKeyId: Type.Union([Uuid, Type.Null()]),
  /** The env of the key that acted (SPEC 12); null for what concerns no env. */
  env: Type.Union([Type.Literal('live'), Type.Literal('test'), Type.Null()]),
  actor: Type.String(),
  action: Type.String(),
  targetType: Type.Union([Type.String(), Type.Null()]),
  targetId: Type.Union([Type.String(), Type.Null()]),
  requestId: Type.Union([Type.String(), Type.Null()]),
  status: Type.Union([Type.Integer(), Type.Null()]),
  /** For a change: `changes` (the fields it asked for), and `before` / `after` where the route records them. */
  details: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  /** SPEC 13.4: the address the request came from (behind trusted proxies, the real client); null when not from a request. */
  clientAddress: Type.Union([Type.String(), Type.Null()]),
});

const AuditQuery = Type.Object(
  {
    organizationId: Type.Optional(Uuid),
    apiKeyId: Type.Optional(Uuid),
    action: Type.Optional(Type.String({ maxLength: 100 })),
    changesOnly: Type.Optional(Type.Boolean({ description: 'Leave out reads (actions ending in .read or .list)' })),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
  },
  { additionalProperties: false },
);

export const presentAuditEntry = (entry: AuditEntry) => ({
  id: entry.id,
  occurredAt: entry.occurred_at.toISOString(),
  organizationId: entry.organization_id,
  apiKeyId: entry.api_key_id,
  env: entry.env,
  actor: entry.actor,
  action: entry.action,
  targetType: entry.target_type,
  targetId: entry.target_id,
  requestId: entry.request_id,
  status: entry.status,
  details: entry.details,
  clientAddress: entry.client_address,
});

export function registerAuditRoutes(app: App, deps: Deps): void {
  app.get(
    '/audit',
    { config: { audit: 'admin.audit.read' }, schema: { querystring: AuditQuery, response: { 200: Page(AuditEntrySchema) } } },
    async (request) => {
      const { query } = request;
      const after = decodeCursor(query.cursor);
      const rows = await listAuditEntries(deps.store.db, query, query.limit + 1, after);
      return pageOf(rows, query.limit, (row) => ({ at: row.occurred_at, id: row.id }), presentAuditEntry);
    },
  );
}
