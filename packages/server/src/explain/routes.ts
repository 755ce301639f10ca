import { Type } from '@sinclair/typebox';

import { loadKeyState } from '../auth/key-state.ts';
import { principalOf } from '../auth/pipeline.ts';
import type { Deps } from '../deps.ts';
import type { App } from '../http/typed-app.ts';
import { notFound } from '../http/errors.ts';
import { StringEnum, Uuid } from '../http/schemas.ts';
import type { PartnerRouteTable } from './route-table.ts';
import { explain } from './service.ts';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;
const target = {
  method: StringEnum(METHODS),
  path: Type.String({ pattern: '^/', maxLength: 2048, description: 'The path to explain, as a request would carry it (a query string is ignored)' }),
};
const ExplainBody = Type.Object(target, { additionalProperties: false });
const AdminExplainBody = Type.Object({ apiKeyId: Uuid, ...target }, { additionalProperties: false });

const ExplanationSchema = Type.Object({
  route: Type.Union([Type.String(), Type.Null()]),
  endpointClass: Type.Union([Type.String(), Type.Null()]),
  requiredScope: Type.Union([Type.String(), Type.Null()]),
  checks: Type.Array(Type.Object({ check: Type.String(), outcome: StringEnum(['pass', 'fail', 'skipped'] as const), detail: Type.String() })),
  wouldAnswer: Type.Object({ status: Type.Integer(), code: Type.Union([Type.String(), Type.Null()]) }),
}, { title: 'Explanation' });

/** SPEC 8.9, the partner side: the calling key against any route. */
export function registerExplainRoutes(app: App, deps: Deps, routes: PartnerRouteTable): void {
  app.post(
    '/v1/explain',
    {
      // Not reportsSwitches: SPEC 3 leaves whoami alone answering a switched-off key. Its partner learns which switch
      // from whoami; an operator explains the key through /admin/v1/explain.
      config: { endpointClass: 'read-light', scope: null },
      schema: {
        summary: 'Run the access checks of a route for the calling key, without running the route or using a rate-limit token',
        tags: ['explain'],
        body: ExplainBody,
        response: { 200: ExplanationSchema },
      },
    },
    async (request) => {
      const body = request.body;
      return explain(deps, routes, principalOf(request), body.method, body.path, 'The key is valid: this request presented it.', request.ip);
    },
  );
}

/** SPEC 10.1: the same for any key, for operators. */
export function registerAdminExplainRoutes(app: App, deps: Deps, routes: PartnerRouteTable): void {
  app.post('/explain', { config: { audit: 'admin.explain', operatorAccess: 'read' }, schema: { body: AdminExplainBody, response: { 200: ExplanationSchema } } }, async (request) => {
    const body = request.body;
    const key = await loadKeyState(deps.store.db, body.apiKeyId);
    if (!key) throw notFound('API key');
    request.auditTarget = { type: 'api_key', id: key.apiKeyId, organizationId: key.organizationId, env: key.env };
    return explain(deps, routes, key, body.method, body.path, 'The key exists (an operator named it: no secret was presented).');
  });
}
