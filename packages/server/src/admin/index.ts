import type { App } from '../http/typed-app.ts';
import type { Deps } from '../deps.ts';
import { registerAuditRoutes } from './audit.ts';
import { registerAdminKeyRoutes } from './keys.ts';
import { registerKillSwitchRoutes } from './kill-switch.ts';
import { registerOrganizationRoutes } from './organizations.ts';
import { registerPlanRoutes } from './plans.ts';
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
