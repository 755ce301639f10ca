import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Deps } from '../deps.ts';
import { findApiKeyById, findApiKeyRowByKeyId, listOrganizationApiKeys } from '../db/repositories/api-keys.ts';
import { findOrganization } from '../db/repositories/organizations.ts';
import { notFound } from '../http/errors.ts';
import { decodeCursor, pageOf } from '../http/pagination.ts';
import { ApiKeySchema, CreatedApiKeySchema, IdParams, NewKeyBody, Page, PageQuery } from '../http/schemas.ts';
import { presentApiKey } from '../keys/present.ts';
import { changeApiKey, issueApiKey } from '../keys/service.ts';

/** The base32 handle of SPEC 1.1: what a leaked-key report carries, instead of the secret. */
const KeyIdParams = Type.Object({ keyId: Type.String({ pattern: '^[0-9A-HJKMNP-TV-Z]{16}$' }) });

export function registerAdminKeyRoutes(app: FastifyInstance, deps: Deps): void {
  const prefix = deps.config.keyPrefix;

  app.post(
    '/admin/v1/organizations/:id/keys',
    { config: { audit: 'admin.key.create' }, schema: { params: IdParams, body: NewKeyBody, response: { 201: CreatedApiKeySchema } } },
    async (request, reply) => {
      const { id } = request.params as typeof IdParams.static;
      const body = request.body as typeof NewKeyBody.static;
      if (!(await findOrganization(deps.store.db, id))) throw notFound('Organization');
      const created = await issueApiKey(deps, { organizationId: id, ...body, expiresAt: body.expiresAt ? new Date(body.expiresAt) : null });
      request.auditTarget = { type: 'api_key', id: created.id, organizationId: id };
      return reply.code(201).send(created);
    },
  );

  app.get(
    '/admin/v1/organizations/:id/keys',
    { config: { audit: 'admin.key.list' }, schema: { params: IdParams, querystring: PageQuery, response: { 200: Page(ApiKeySchema) } } },
    async (request) => {
      const { id } = request.params as typeof IdParams.static;
      const query = request.query as typeof PageQuery.static;
      if (!(await findOrganization(deps.store.db, id))) throw notFound('Organization');
      const after = decodeCursor(query.cursor);
      const rows = await listOrganizationApiKeys(deps.store.db, id, query.limit + 1, after);
      request.auditTarget = { type: 'organization', id, organizationId: id };
      return pageOf(rows, query.limit, (row) => ({ at: row.created_at, id: row.id }), (row) => presentApiKey(row, prefix));
    },
  );

  const switches = [
    { path: 'kill', action: 'admin.key.kill', change: { kind: 'kill', on: true } },
    { path: 'unkill', action: 'admin.key.unkill', change: { kind: 'kill', on: false } },
    { path: 'revoke', action: 'admin.key.revoke', change: { kind: 'revoke' } },
  ] as const;
  for (const { path, action, change } of switches) {
    app.post(
      `/admin/v1/keys/:id/${path}`,
      { config: { audit: action }, schema: { params: IdParams, response: { 200: ApiKeySchema } } },
      async (request) => {
        const { id } = request.params as typeof IdParams.static;
        const existing = await findApiKeyById(deps.store.db, id);
        if (!existing) throw notFound('API key');
        request.auditTarget = { type: 'api_key', id, organizationId: existing.organization_id };
        const row = await changeApiKey(deps, id, change);
        if (!row) throw notFound('API key');
        return presentApiKey(row, prefix);
      },
    );
  }

  // For `gatehouse scan --kill`: the scanner knows a leaked key by its key_id and never sends the secret anywhere.
  app.post(
    '/admin/v1/keys/by-key-id/:keyId/kill',
    { config: { audit: 'admin.key.kill' }, schema: { params: KeyIdParams, response: { 200: ApiKeySchema } } },
    async (request) => {
      const { keyId } = request.params as typeof KeyIdParams.static;
      const existing = await findApiKeyRowByKeyId(deps.store.db, keyId);
      if (!existing) throw notFound('API key');
      request.auditTarget = { type: 'api_key', id: existing.id, organizationId: existing.organization_id };
      const row = await changeApiKey(deps, existing.id, { kind: 'kill', on: true });
      if (!row) throw notFound('API key');
      return presentApiKey(row, prefix);
    },
  );

  app.get(
    '/admin/v1/keys/:id',
    { config: { audit: 'admin.key.read' }, schema: { params: IdParams, response: { 200: ApiKeySchema } } },
    async (request) => {
      const { id } = request.params as typeof IdParams.static;
      const row = await findApiKeyById(deps.store.db, id);
      if (!row) throw notFound('API key');
      request.auditTarget = { type: 'api_key', id, organizationId: row.organization_id };
      return presentApiKey(row, prefix);
    },
  );
}

