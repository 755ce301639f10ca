import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Store } from '../db/create-db.ts';
import type { Deps } from '../deps.ts';
import type { App } from '../http/typed-app.ts';
import type { Metrics } from '../observability/metrics.ts';
import { registerWebhookRoutes } from './routes.ts';
import { DeliveryWorker } from './worker.ts';

export function createDeliveryWorker(parts: { config: Config; store: Store; logger: Logger; metrics: Metrics }): DeliveryWorker {
  return new DeliveryWorker({
    db: parts.store.db,
    logger: parts.logger,
    metrics: parts.metrics,
    allowPrivate: parts.config.upstreams.allowPrivate,
    ...(parts.config.webhooks ? { settings: parts.config.webhooks } : {}),
  });
}

/** Webhook endpoints and their delivery log (SPEC 8.6). */
export function registerWebhooksFeature(app: App, deps: Deps): void {
  registerWebhookRoutes(app, deps);
}
