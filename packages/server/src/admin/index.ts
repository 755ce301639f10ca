import type { App } from '../http/typed-app.ts';
import type { Deps } from '../deps.ts';
import { registerAuditRoutes } from '../audit/admin-routes.ts';
import { registerAdminKeyRoutes } from '../keys/admin-routes.ts';
import { registerKillSwitchRoutes } from '../auth/kill-switch-routes.ts';
import { registerOrganizationRoutes } from '../organizations/admin-routes.ts';
import { registerPlanRoutes } from '../plans/admin-routes.ts';
import { registerAdminExplainRoutes, type PartnerRouteTable } from '../explain/index.ts';
import { registerAdminUsageRoutes } from '../usage/index.ts';

/** SPEC 10.1: the operators' API under /admin/v1 (authenticated by admin-auth.ts, installed before any route). */
export function registerAdminApi(app: App, deps: Deps, partnerRoutes: PartnerRouteTable): void {
  registerPlanRoutes(app, deps);
  registerOrganizationRoutes(app, deps);
  registerAdminKeyRoutes(app, deps);
  registerKillSwitchRoutes(app, deps);
  registerAuditRoutes(app, deps);
  registerAdminUsageRoutes(app, deps);
  registerAdminExplainRoutes(app, deps, partnerRoutes);
}
