import { Type } from '@sinclair/typebox';
import { principalOf } from '../auth/pipeline.ts';
import type { Deps } from '../deps.ts';
import { listOrganizationApiKeys } from './repository.ts';
import { presentApiKey } from './present.ts';
import { canonicalAllowedCidrs, changePartnerApiKey, DEFAULT_ROLL_OVERLAP_SECONDS, MAX_ROLL_OVERLAP_SECONDS } from './service.ts';
import { decodeCursor, pageOf } from '../http/pagination.ts';
import { ApiKeySchema, CreatedApiKeySchema, IdParams, KeyChangeBody, NewKeyBody, Page, PageQuery } from '../http/schemas.ts';
import type { App } from '../http/typed-app.ts';
import { unitOfWork } from '../http/unit-of-work.ts';
import { issueKeyUnit, rollKeyUnit } from './units.ts';
import { ApiError } from '../http/errors.ts';
import type { KeyEnv } from './format.ts';

export const RollBody = Type.Object(
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

export const RolledApiKeySchema = Type.Intersect([CreatedApiKeySchema, Type.Object({ previousKey: ApiKeySchema })]);

/**
 * SPEC 8.5: partners manage their own organization's keys. A key may revoke or kill itself (a leaked key is often
 * the only one at hand); turning a kill switch off is for operators only (SPEC 7).
 */
/**
 * SPEC 12 for keys: a test key is confined to the test world, so it lists, rolls, kills and revokes test keys only
 * (404 for a live key's id, as for a missing one) and creates test keys only (its default; `live` is refused). A
 * live key manages the organization's keys of both envs, as SPEC 8.5 lets it create either.
 */
const confinedTo = (callerEnv: KeyEnv): KeyEnv | undefined => (callerEnv === 'test' ? 'test' : undefined);

function envOfNewKey(callerEnv: KeyEnv, asked: KeyEnv | undefined): KeyEnv {
  if (callerEnv === 'test' && asked === 'live') {
    throw new ApiError('VALIDATION_FAILED', 'The request is not valid.', {
      issues: [{ path: 'body.env', message: 'must be test: a test key creates test keys only' }],
    });
  }
  return asked ?? callerEnv;
}

export function registerApiKeyRoutes(app: App, deps: Deps): void {
  const prefix = deps.config.keyPrefix;
  const tags = ['api-keys'];

  app.post(
    '/v1/api-keys',
    {
      config: { endpointClass: 'write-light', scope: 'keys:write', audit: 'key.create' },
      schema: { summary: 'Create an API key (the plain key is in this response only)', tags, body: NewKeyBody, response: { 201: CreatedApiKeySchema } },
    },
    async (request, reply) => {
      const { organizationId, scopes: holderScopes, env } = principalOf(request);
      return issueKeyUnit(request, reply, deps, () => ({ ...request.body, env: envOfNewKey(env, request.body.env), organizationId, holderScopes }));
    },
  );

  app.get(
    '/v1/api-keys',
    {
      config: { endpointClass: 'read-light', scope: 'keys:read' },
      schema: { summary: "The organization's API keys (display prefixes only)", tags, querystring: PageQuery, response: { 200: Page(ApiKeySchema) } },
    },
    async (request) => {
      const { organizationId, env } = principalOf(request);
      const { limit, cursor } = request.query;
      const rows = await listOrganizationApiKeys(deps.store.db, organizationId, limit + 1, decodeCursor(cursor), confinedTo(env));
      return pageOf(rows, limit, (row) => ({ at: row.created_at, id: row.id }), (row) => presentApiKey(row, prefix));
    },
  );

  app.patch(
    '/v1/api-keys/:id',
    {
      config: { endpointClass: 'write-light', scope: 'keys:write', audit: 'key.update' },
      schema: { summary: 'Rename an API key, or change the addresses it may be used from', tags, params: IdParams, body: KeyChangeBody, response: { 200: ApiKeySchema } },
    },
    async (request, reply) => {
      const { organizationId, scopes, env } = principalOf(request);
      const { id } = request.params;
      const { name, allowedCidrs } = request.body;
      const change = { kind: 'update' as const, name, allowedCidrs: allowedCidrs && canonicalAllowedCidrs(allowedCidrs, 'body.allowedCidrs') };
      return unitOfWork(request, reply, async (unit) => {
        unit.audit({ type: 'api_key', id, organizationId });
        // changePartnerApiKey checks assertMayActOn: a restricted key cannot loosen a wider key's addresses.
        return { body: presentApiKey(await changePartnerApiKey(unit, deps, { organizationId, id, holderScopes: scopes, env: confinedTo(env) }, change), prefix) };
      });
    },
  );

  app.delete(
    '/v1/api-keys/:id',
    {
      config: { endpointClass: 'write-light', scope: 'keys:write', audit: 'key.revoke' },
      schema: { summary: 'Revoke an API key, immediately and permanently', tags, params: IdParams, response: { 200: ApiKeySchema } },
    },
    async (request, reply) => {
      const { organizationId, scopes, env } = principalOf(request);
      const { id } = request.params;
      return unitOfWork(request, reply, async (unit) => {
        unit.audit({ type: 'api_key', id, organizationId });
        return { body: presentApiKey(await changePartnerApiKey(unit, deps, { organizationId, id, holderScopes: scopes, env: confinedTo(env) }, { kind: 'revoke' }), prefix) };
      });
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
      const { organizationId, scopes: holderScopes, env } = principalOf(request);
      const { id } = request.params;
      return rollKeyUnit(request, reply, deps, { organizationId, id, overlapSeconds: request.body.overlapSeconds ?? DEFAULT_ROLL_OVERLAP_SECONDS, holderScopes, env: confinedTo(env) });
    },
  );

  app.post(
    '/v1/api-keys/:id/kill',
    {
      config: { endpointClass: 'write-light', scope: 'keys:write', audit: 'key.kill' },
      schema: { summary: "Turn the key's kill switch on (only an operator turns it off)", tags, params: IdParams, response: { 200: ApiKeySchema } },
    },
    async (request, reply) => {
      const { organizationId, scopes, env } = principalOf(request);
      const { id } = request.params;
      return unitOfWork(request, reply, async (unit) => {
        unit.audit({ type: 'api_key', id, organizationId });
        return { body: presentApiKey(await changePartnerApiKey(unit, deps, { organizationId, id, holderScopes: scopes, env: confinedTo(env) }, { kind: 'kill', on: true }), prefix) };
      });
    },
  );
}
