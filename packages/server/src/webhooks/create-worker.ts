import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Store } from '../db/create-db.ts';
import type { Metrics } from '../observability/metrics.ts';
import { DeliveryWorker } from './worker.ts';
import type { WebhookSecretSealer } from './sealed-secrets.ts';

// The delivery worker apart from the routes (webhooks/index.ts), so deps.ts builds it without registering any.
export function createDeliveryWorker(parts: { config: Config; store: Store; logger: Logger; metrics: Metrics; sealer: WebhookSecretSealer }): DeliveryWorker {
  return new DeliveryWorker({
    db: parts.store.db,
    logger: parts.logger,
    metrics: parts.metrics,
    allowPrivate: parts.config.upstreams.allowPrivate,
    openSecret: (stored) => parts.sealer.open(stored),
    ...(parts.config.webhooks ? { settings: parts.config.webhooks } : {}),
  });
}
