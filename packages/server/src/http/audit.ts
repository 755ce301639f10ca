import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Deps } from '../deps.ts';
import { insertAuditEntry } from '../db/repositories/audit.ts';
import { addRouteHook } from './route-hooks.ts';

/**
 * SPEC 10.3: a route that names `config.audit` gets an entry for every answer it gives to an authenticated caller,
 * written before the answer leaves, so a client that reads the log right after sees it. A request that never
 * authenticated (no key, a wrong key, a wrong admin token) gets none: anyone could write those without limit
 * (SPEC 10.1). The refusals are counted in /metrics instead (gatehouse_auth_refusals_total).
 */
export function installAudit(app: FastifyInstance, deps: Deps): void {
  addRouteHook(app, 'onSend', (route) => {
    const action = route.config?.audit;
    if (!action) return undefined;
    return async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
      const principal = request.principal;
      if (!principal && !request.adminActor) return payload;
      const target = request.auditTarget;
      const paramsId = (request.params as Record<string, unknown> | undefined)?.id;
      try {
        await insertAuditEntry(deps.store.db, {
          organizationId: target?.organizationId ?? principal?.organizationId ?? null,
          apiKeyId: principal?.apiKeyId ?? null,
          actor: principal ? `key:${principal.apiKeyId}` : `${request.adminActor}`,
          action,
          targetType: target?.type ?? null,
          targetId: target?.id ?? (typeof paramsId === 'string' ? paramsId : null),
          requestId: request.id,
          status: reply.statusCode,
          details: request.auditDetails ?? null,
        });
      } catch (error) {
        request.log.error({ err: error, action }, 'audit entry could not be written');
      }
      return payload;
    };
  });
}
