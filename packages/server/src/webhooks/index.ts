import type { Deps } from '../deps.ts';
import type { App } from '../http/typed-app.ts';
import { registerWebhookRoutes } from './routes.ts';

/** Webhook endpoints and their delivery log (SPEC 8.6). */
export function registerWebhooksFeature(app: App, deps: Deps): void {
  registerWebhookRoutes(app, deps);
}
