import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { principalOf } from '../../auth/pipeline.ts';
import type { Deps } from '../../deps.ts';
import { listOrganizationApiKeys } from '../../db/repositories/api-keys.ts';
import { presentApiKey } from '../../keys/present.ts';
import { assertMayGrant } from '../../keys/scope-grant.ts';
import { changeApiKey, DEFAULT_ROLL_OVERLAP_SECONDS, issueApiKey, MAX_ROLL_OVERLAP_SECONDS, rollApiKey } from '../../keys/service.ts';
import { ApiError, notFound } from '../errors.ts';
import { decodeCursor, pageOf } from '../pagination.ts';
import { ApiKeySchema, CreatedApiKeySchema, IdParams, NewKeyBody, Page, PageQuery } from '../schemas.ts';

const RollBody = Type.Object(
  {
    overlapSeconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: MAX_ROLL_OVERLAP_SECONDS,
        description: `How long the old key keeps working; default ${DEFAULT_ROLL_OVERLAP_SECONDS} (one day), at most 7 days.`,
      }),
    ),
  },
  { additionalProperties: false },
);

const RolledApiKeySchema = Type.Intersect([CreatedApiKeySchema, Type.Object({ previousKey: ApiKeySchema })]);

/**
 * SPEC 8.5: partners manage their own organization's keys. A key may revoke or kill itself (a leaked key is often
 * the only one at hand); turning a kill switch off is for operators only (SPEC 7).
 */
export function registerApiKeyRoutes(app: FastifyInstance, deps: Deps): void {
  const prefix = deps.config.keyPrefix;
  const tags = ['api-keys'];

  app.post(
    '/v1/api-keys',
    {
      config: { endpointClass: 'write-light', scope: 'keys:write', audit: 'key.create' },
      schema: { summary: 'Create an API key (the plain key is in this response only)', tags, body: NewKeyBody, response: { 201: CreatedApiKeySchema } },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const body = request.body as typeof NewKeyBody.static;
      const scopes = body.scopes ?? [];
      assertMayGrant(principal.scopes, scopes);
      const expiresAt = body.expiresAt ? new Date(body.expiresAt) : null;
      if (expiresAt && expiresAt.getTime() <= deps.now()) {
        throw new ApiError('VALIDATION_FAILED', 'The request is not valid.', { issues: [{ path: 'body.expiresAt', message: 'must be in the future' }] });
      }
      const created = await issueApiKey(deps, { organizationId: principal.organizationId, name: body.name, env: body.env, scopes, expiresAt });
      request.auditTarget = { type: 'api_key', id: created.id, organizationId: principal.organizationId };
      return reply.code(201).send(created);
    },
  );

  app.get(
    '/v1/api-keys',
    {
      config: { endpointClass: 'read-light', scope: 'keys:read' },
      schema: { summary: "The organization's API keys (display prefixes only)", tags, querystring: PageQuery, response: { 200: Page(ApiKeySchema) } },
    },
    async (request) => {
      const { organizationId } = principalOf(request);
      const query = request.query as typeof PageQuery.static;
      const after = decodeCursor(query.cursor);
      const rows = await listOrganizationApiKeys(deps.store.db, organizationId, query.limit + 1, after);
      return pageOf(rows, query.limit, (row) => ({ at: row.created_at, id: row.id }), (row) => presentApiKey(row, prefix));
    },
  );

  app.delete(
    '/v1/api-keys/:id',
    {
      config: { endpointClass: 'write-light', scope: 'keys:write', audit: 'key.revoke' },
      schema: { summary: 'Revoke an API key, immediately and permanently', tags, params: IdParams, response: { 200: ApiKeySchema } },
    },
    async (request) => {
      const { organizationId } = principalOf(request);
      const { id } = request.params as typeof IdParams.static;
      request.auditTarget = { type: 'api_key', id, organizationId };
      const row = await changeApiKey(deps, { id, organizationId }, { kind: 'revoke' });
      if (!row) throw notFound('API key');
      return presentApiKey(row, prefix);
    },
  );

  app.post(
    '/v1/api-keys/:id/roll',
    {
      config: { endpointClass: 'write-light', scope: 'keys:write', audit: 'key.roll' },
      schema: {
        summary: 'Roll an API key: a new key with the same name, env and scopes; the old one expires after the overlap',
        tags,
        params: IdParams,
        body: RollBody,
        response: { 201: RolledApiKeySchema },
      },
      // The body is optional: a roll with none takes the default overlap.
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { id } = request.params as typeof IdParams.static;
      const body = request.body as typeof RollBody.static;
      request.auditTarget = { type: 'api_key', id, organizationId: principal.organizationId };
      const { created, previous } = await rollApiKey(deps, {
        organizationId: principal.organizationId,
        id,
        overlapSeconds: body.overlapSeconds ?? DEFAULT_ROLL_OVERLAP_SECONDS,
        holderScopes: principal.scopes,
      });
      return reply.code(201).send({ ...created, previousKey: previous });
    },
  );

  app.post(
    '/v1/api-keys/:id/kill',
    {
      config: { endpointClass: 'write-light', scope: 'keys:write', audit: 'key.kill' },
      schema: { summary: "Turn the key's kill switch on (only an operator turns it off)", tags, params: IdParams, response: { 200: ApiKeySchema } },
    },
    async (request) => {
      const { organizationId } = principalOf(request);
      const { id } = request.params as typeof IdParams.static;
      request.auditTarget = { type: 'api_key', id, organizationId };
      const row = await changeApiKey(deps, { id, organizationId }, { kind: 'kill', on: true });
      if (!row) throw notFound('API key');
      return presentApiKey(row, prefix);
    },
  );
}
