import type { App } from '../http/typed-app.ts';
import type { Deps } from '../deps.ts';
import { registerAuditRoutes } from '../audit/admin-routes.ts';
import { registerAdminKeyRoutes } from '../keys/admin-routes.ts';
import { registerKillSwitchRoutes } from '../auth/kill-switch-routes.ts';
import { registerOrganizationRoutes } from '../organizations/admin-routes.ts';
import { registerPlanRoutes } from '../plans/admin-routes.ts';
import { registerPeopleAdminRoutes } from '../people/admin-routes.ts';
import { CONSOLE_OPERATOR_API } from '../people/console-auth.ts';
import { registerAdminExplainRoutes, type PartnerRouteTable } from '../explain/index.ts';
import { registerAdminUsageRoutes } from '../usage/index.ts';

/** Every admin route, by its path under the mount point. */
function registerAdminRoutes(app: App, deps: Deps, partnerRoutes: PartnerRouteTable): void {
  registerPlanRoutes(app, deps);
  registerOrganizationRoutes(app, deps);
  registerAdminKeyRoutes(app, deps);
  registerKillSwitchRoutes(app, deps);
  registerAuditRoutes(app, deps);
  registerAdminUsageRoutes(app, deps);
  registerAdminExplainRoutes(app, deps, partnerRoutes);
  registerPeopleAdminRoutes(app, deps);
}

/**
 * SPEC 10.1: the operators' API under /admin/v1 (the admin token, checked by admin-auth.ts, installed before any
 * route), and the very same routes under /console/api/ops for operators signed in to the console (their session
 * and role, checked by people/console-auth.ts). One set of handlers, so the console cannot drift from the admin
 * API's rules.
 */
export async function registerAdminApi(app: App, deps: Deps, partnerRoutes: PartnerRouteTable): Promise<void> {
  await app.register(async (scope) => registerAdminRoutes(scope, deps, partnerRoutes), { prefix: '/admin/v1' });
  await app.register(async (scope) => registerAdminRoutes(scope, deps, partnerRoutes), { prefix: CONSOLE_OPERATOR_API });
}
