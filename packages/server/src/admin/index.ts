import type { FastifyInstance } from 'fastify';
import type { Deps } from '../deps.ts';
import { installAdminAuth } from './admin-auth.ts';
import { registerAuditRoutes } from './audit.ts';
import { registerAdminKeyRoutes } from './keys.ts';
import { registerKillSwitchRoutes } from './kill-switch.ts';
import { registerOrganizationRoutes } from './organizations.ts';
import { registerPlanRoutes } from './plans.ts';

/** SPEC 10.1: the operators' API under /admin/v1. */
export async function registerAdminApi(app: FastifyInstance, deps: Deps): Promise<void> {
  await installAdminAuth(app, deps);
  registerPlanRoutes(app, deps);
  registerOrganizationRoutes(app, deps);
  registerAdminKeyRoutes(app, deps);
  registerKillSwitchRoutes(app, deps);
  registerAuditRoutes(app, deps);
}
