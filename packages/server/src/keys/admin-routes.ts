import { Type } from '@sinclair/typebox';
import type { Deps } from '../deps.ts';
import { findApiKeyById, findApiKeyRowByKeyId, listOrganizationApiKeys } from './repository.ts';
import { findOrganization } from '../organizations/repository.ts';
import { notFound } from '../http/errors.ts';
import { decodeCursor, pageOf } from '../http/pagination.ts';
import { ApiKeySchema, CreatedApiKeySchema, IdParams, KeyChangeBody, NewKeyBody, Page, PageQuery } from '../http/schemas.ts';
import type { App } from '../http/typed-app.ts';
import { auditActorOf, unitOfWork } from '../http/unit-of-work.ts';
import { presentApiKey } from './present.ts';
import { canonicalAllowedCidrs, changeApiKey } from './service.ts';
import { issueKeyUnit } from './units.ts';
import { reportLeakedKey } from '../leaks/service.ts';

/** The base32 handle of SPEC 1.1: what a leaked-key report carries, instead of the secret. */
const KeyIdParams = Type.Object({ keyId: Type.String({ maxLength: 16, pattern: '^[0-9A-HJKMNP-TV-Z]{16}$' }) });

export function registerAdminKeyRoutes(app: App, deps: Deps): void {
  const prefix = deps.config.keyPrefix;

  app.post(
    '/organizations/:id/keys',
    { config: { audit: 'admin.key.create' }, schema: { params: IdParams, body: NewKeyBody, response: { 201: CreatedApiKeySchema } } },
    async (request, reply) => {
      const { id } = request.params;
      return issueKeyUnit(request, reply, deps, async () => {
        if (!(await findOrganization(deps.store.db, id))) throw notFound('Organization');
        return { ...request.body, organizationId: id };
      });
    },
  );

  app.get(
    '/organizations/:id/keys',
    { config: { audit: 'admin.key.list' }, schema: { params: IdParams, querystring: PageQuery, response: { 200: Page(ApiKeySchema) } } },
    async (request) => {
      const { id } = request.params;
      const { limit, cursor } = request.query;
      if (!(await findOrganization(deps.store.db, id))) throw notFound('Organization');
      const rows = await listOrganizationApiKeys(deps.store.db, id, limit + 1, decodeCursor(cursor));
      request.auditTarget = { type: 'organization', id, organizationId: id };
      return pageOf(rows, limit, (row) => ({ at: row.created_at, id: row.id }), (row) => presentApiKey(row, prefix));
    },
  );

  const switches = [
    { path: 'kill', action: 'admin.key.kill', change: { kind: 'kill', on: true }, access: 'switch' },
    { path: 'unkill', action: 'admin.key.unkill', change: { kind: 'kill', on: false }, access: 'switch' },
    { path: 'revoke', action: 'admin.key.revoke', change: { kind: 'revoke' }, access: 'write' },
  ] as const;
  // SPEC 13.2: support flips a key's kill switch both ways; revoking (permanent) is for operators.
  for (const { path, action, change, access } of switches) {
    app.post(
      `/keys/:id/${path}`,
      { config: { audit: action, operatorAccess: access }, schema: { params: IdParams, response: { 200: ApiKeySchema } } },
      async (request, reply) =>
        unitOfWork(request, reply, async (unit) => {
          const { id } = request.params;
          const existing = await findApiKeyById(unit.db, id);
          if (!existing) throw notFound('API key');
          unit.audit({ type: 'api_key', id, organizationId: existing.organization_id, env: existing.env });
          return { body: presentApiKey(await changeApiKey(unit, deps, id, change), prefix) };
        }),
    );
  }

  // `gatehouse keys allow` and the console's operator pages: rename a key or change where it may be used from.
  app.patch(
    '/keys/:id',
    { config: { audit: 'admin.key.update' }, schema: { params: IdParams, body: KeyChangeBody, response: { 200: ApiKeySchema } } },
    async (request, reply) => {
      const { id } = request.params;
      const { name, allowedCidrs } = request.body;
      const change = { kind: 'update' as const, name, allowedCidrs: allowedCidrs && canonicalAllowedCidrs(allowedCidrs, 'body.allowedCidrs') };
      return unitOfWork(request, reply, async (unit) => {
        const existing = await findApiKeyById(unit.db, id);
        if (!existing) throw notFound('API key');
        unit.audit({ type: 'api_key', id, organizationId: existing.organization_id, env: existing.env });
        return { body: presentApiKey(await changeApiKey(unit, deps, id, change), prefix) };
      });
    },
  );

  // For `gatehouse scan --kill`: the scanner knows a leaked key by its key_id and never sends the secret anywhere.
  // A key found in files is a leaked key (SPEC 15): killed, audited and announced as GitHub's reports are.
  app.post(
    '/keys/by-key-id/:keyId/kill',
    { config: { audit: 'admin.key.kill', operatorAccess: 'switch' }, schema: { params: KeyIdParams, response: { 200: ApiKeySchema } } },
    async (request, reply) =>
      unitOfWork(request, reply, async (unit) => {
        const existing = await findApiKeyRowByKeyId(unit.db, request.params.keyId);
        if (!existing) throw notFound('API key');
        unit.audit({ type: 'api_key', id: existing.id, organizationId: existing.organization_id, env: existing.env });
        const { key } = await reportLeakedKey(unit, deps, existing.id, {
          reportedBy: auditActorOf(request),
          source: 'gatehouse scan',
          url: null,
          requestId: request.id,
          clientAddress: request.ip,
        });
        return { body: presentApiKey(key, prefix) };
      }),
  );

  // The CLI names a key by its UUID, its key_id or its display prefix, and the console's key search takes a pasted
  // prefix: the last two find the key here.
  app.get(
    '/keys/by-key-id/:keyId',
    { config: { audit: 'admin.key.read' }, schema: { params: KeyIdParams, response: { 200: ApiKeySchema } } },
    async (request) => {
      const row = await findApiKeyRowByKeyId(deps.store.db, request.params.keyId);
      if (!row) throw notFound('API key');
      request.auditTarget = { type: 'api_key', id: row.id, organizationId: row.organization_id, env: row.env };
      return presentApiKey(row, prefix);
    },
  );

  app.get(
    '/keys/:id',
    { config: { audit: 'admin.key.read' }, schema: { params: IdParams, response: { 200: ApiKeySchema } } },
    async (request) => {
      const { id } = request.params;
      const row = await findApiKeyById(deps.store.db, id);
      if (!row) throw notFound('API key');
      request.auditTarget = { type: 'api_key', id, organizationId: row.organization_id, env: row.env };
      return presentApiKey(row, prefix);
    },
  );
}
