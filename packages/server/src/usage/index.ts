import type { FastifyInstance } from 'fastify';
import type { Deps } from '../deps.ts';
import { registerPartnerAuditRoutes } from '../audit/routes.ts';
import { installUsageHooks } from './hooks.ts';
import { registerAdminUsageRoutes, registerUsageRoutes } from './routes.ts';

/** SPEC 8.7: the hooks that count and log every /v1 answer; installed before any route is registered. */
export function installUsageRecording(app: FastifyInstance, deps: Deps): void {
  if (deps.recording) installUsageHooks(app, deps.recording);
}

/** SPEC 8.7 and 8.8: usage, the request log and the audit log, for partners. */
export function registerUsageFeature(app: FastifyInstance, deps: Deps): void {
  registerUsageRoutes(app, deps);
  registerPartnerAuditRoutes(app, deps);
}

export { registerAdminUsageRoutes };
