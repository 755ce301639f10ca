import type { Deps } from '../deps.ts';
import type { App } from '../http/typed-app.ts';
import { registerIngestRoutes } from './ingest-routes.ts';
import { registerJobRoutes } from './routes.ts';
import { registerSourceRoutes } from './source-routes.ts';

/** Jobs, ingest and project sources (SPEC 8.1–8.3). */
export function registerJobsFeature(app: App, deps: Deps): void {
  registerJobRoutes(app, deps);
  registerIngestRoutes(app, deps);
  registerSourceRoutes(app, deps);
}
