export { collectPartnerRoutes, type PartnerRouteTable } from './route-table.ts';
export { registerAdminExplainRoutes, registerExplainRoutes } from './routes.ts';
