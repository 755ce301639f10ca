import type { StoredWebhookSecret } from './sealed-secrets.ts';
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { Counter } from 'prom-client';
import { findJobForOrganization } from '../jobs/repository.ts';
import {
  abandonDelivery,
  claimDueDeliveries,
  failPendingDeliveries,
  handBackDelivery,
  markEndpointFailing,
  markEndpointHealthy,
  recordDeliveryAttempt,
  type ClaimedDelivery,
  type DeliveryError,
} from './repository.ts';
import type { Database } from '../db/schema.ts';
import type { Metrics } from '../observability/metrics.ts';
import { Poller } from '../queue/poller.ts';
import { jobEventBody } from './events.ts';
import { DEFAULT_RETRY_POLICY, nextStep, type AttemptResult, type RetryPolicy } from './retry-policy.ts';
import { InFlightLimit } from './in-flight-limit.ts';
import { sendWebhook } from './sender.ts';
import { tracing } from '../observability/tracing.ts';

export interface DeliveryWorkerSettings extends RetryPolicy {
  /** Attempts this instance makes at once; 0 makes an instance that delivers nothing (test pings still work). */
  concurrency: number;
  /**
   * Attempts in flight for one organization, counted across every instance by their leases: one organization's
   * receivers that never answer hold at most this many slots, and the claim serves organizations in turn.
   */
  perOrganizationConcurrency: number;
  /** Test pings one organization may have waiting for an answer on this instance (more are refused with 429). */
  testPingConcurrency: number;
  /** How often due deliveries are looked for (a job event on this instance also wakes the worker at once). */
  pollMs: number;
  /** One attempt, connect to answer. */
  timeoutMs: number;
  /** How long a claim holds; longer than any attempt, so only a dead instance's attempts are ever taken over. */
  leaseMs: number;
  /** An endpoint that has failed every attempt for this long is disabled. */
  disableAfterMs: number;
  /** On shutdown, how long attempts in flight may finish before they are cut and handed back. */
  shutdownGraceMs: number;
}

export const DEFAULT_DELIVERY_SETTINGS: DeliveryWorkerSettings = {
  ...DEFAULT_RETRY_POLICY,
  concurrency: 8,
  perOrganizationConcurrency: 2,
  testPingConcurrency: 2,
  pollMs: 1_000,
  // Standard Webhooks recommends 15 to 30 s for receivers to answer.
  timeoutMs: 15_000,
  leaseMs: 60_000,
  disableAfterMs: 24 * 60 * 60_000,
  shutdownGraceMs: 3_000,
};

const ENDPOINT_DISABLED: DeliveryError = { code: 'ENDPOINT_DISABLED', message: 'The endpoint was disabled after failing repeatedly; nothing more is sent to it.' };
const ATTEMPTS_EXHAUSTED: DeliveryError = { code: 'ATTEMPTS_EXHAUSTED', message: 'The last attempt was cut short by an instance that stopped.' };

export interface DeliveryWorkerOptions {
  db: Kysely<Database>;
  logger: Logger;
  metrics: Metrics;
  /** config.upstreams.allowPrivate. */
  allowPrivate: boolean;
  /** Opens an endpoint's sealed signing secret (sealed-secrets.ts). */
  openSecret: (stored: StoredWebhookSecret) => string;
  settings?: Partial<DeliveryWorkerSettings>;
  /** Jitter source (tests may pin it). */
  random?: () => number;
}

interface InFlight {
  controller: AbortController;
  done: Promise<void>;
}

class Shutdown extends Error {}

/**
 * Delivers webhook_deliveries rows: claims due ones under a lease, makes one signed attempt each with bounded
 * concurrency, and records the outcome with the lease token as guard. Everything about a delivery lives in its row,
 * so an instance can stop (or die) between attempts and any instance carries on from the row.
 */
export class DeliveryWorker {
  readonly settings: DeliveryWorkerSettings;
  /** Test pings in flight per organization (webhooks/service.ts). */
  readonly testPings: InFlightLimit;
  private readonly active = new Map<string, InFlight>();
  private readonly attempts: Counter<'outcome'>;
  private readonly poller: Poller;
  private started = false;
  private stopping = false;

  constructor(private readonly options: DeliveryWorkerOptions) {
    const given = Object.entries(options.settings ?? {}).filter(([, value]) => value !== undefined);
    const settings: DeliveryWorkerSettings = { ...DEFAULT_DELIVERY_SETTINGS, ...Object.fromEntries(given) };
    settings.leaseMs = Math.max(settings.leaseMs, settings.timeoutMs + 5_000);
    this.settings = settings;
    this.testPings = new InFlightLimit(settings.testPingConcurrency);
    this.attempts = new Counter({
      name: 'gatehouse_webhook_attempts_total',
      help: 'Webhook delivery attempts by outcome (delivered, retry, failed)',
      labelNames: ['outcome'] as const,
      registers: [options.metrics.registry],
    });
    this.poller = new Poller(() => this.fill(), settings.pollMs);
  }

  start(): void {
    if (this.started || this.settings.concurrency === 0) return;
    this.started = true;
    this.poller.start();
  }

  /** Look for due deliveries now (a job just finished here, so its events are probably waiting). */
  nudge(): void {
    this.poller.nudge();
  }

  /** Stop claiming, give attempts in flight a moment to finish, then cut the rest and hand them back uncounted. */
  async stop(): Promise<void> {
    if (!this.started || this.stopping) return;
    this.stopping = true;
    await this.poller.stop();
    let graceTimer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.active.values()].map((attempt) => attempt.done)),
      new Promise((resolve) => {
        graceTimer = setTimeout(resolve, this.settings.shutdownGraceMs);
      }),
    ]);
    clearTimeout(graceTimer);
    const cut = [...this.active.values()];
    for (const attempt of cut) attempt.controller.abort(new Shutdown('shutdown'));
    await Promise.allSettled(cut.map((attempt) => attempt.done));
  }

  /** Claims due deliveries while there is room, in batches of the room there is. */
  private async fill(): Promise<void> {
    try {
      while (!this.stopping) {
        const room = this.settings.concurrency - this.active.size;
        if (room <= 0) return;
        const token = randomUUID();
        const claimed = await claimDueDeliveries(this.options.db, {
          token,
          leaseMs: this.settings.leaseMs,
          limit: room,
          perOrganization: this.settings.perOrganizationConcurrency,
        });
        for (const row of claimed) this.launch(row, token);
        if (claimed.length < room) return;
      }
    } catch (error) {
      this.options.logger.warn({ err: error }, 'webhook claim failed; retrying at the next poll');
    }
  }

  private launch(row: ClaimedDelivery, token: string): void {
    const controller = new AbortController();
    const done = this.attempt(row, token, controller.signal)
      .catch((error: unknown) => {
        // The lease runs out and the attempt is made again: at least once, never lost.
        this.options.logger.error({ err: error, deliveryId: row.id }, 'webhook attempt could not be recorded');
      })
      .finally(() => {
        this.active.delete(row.id);
        this.nudge();
      });
    this.active.set(row.id, { controller, done });
  }

  /** A delivery attempt is a trace of its own; the POST inside it sends its traceparent to the receiver. */
  private attempt(row: ClaimedDelivery, token: string, signal: AbortSignal): Promise<void> {
    const traces = tracing.current;
    if (!traces) return this.attemptDelivery(row, token, signal);
    const span = traces.start('webhook delivery', {
      root: true,
      attributes: { 'gatehouse.delivery_id': row.id, 'gatehouse.webhook_id': row.webhook_id, 'gatehouse.attempt': row.attempts },
    });
    return traces.within(span, () => this.attemptDelivery(row, token, signal)).then(
      () => traces.end(span),
      (error: unknown) => {
        traces.end(span, error);
        throw error;
      },
    );
  }

  private async attemptDelivery(row: ClaimedDelivery, token: string, signal: AbortSignal): Promise<void> {
    const { db } = this.options;
    // Only an attempt cut short by a dead instance can push the count past the limit; it is not made again.
    const skip = !row.endpoint_enabled ? ENDPOINT_DISABLED : row.attempts > this.settings.maxAttempts ? ATTEMPTS_EXHAUSTED : undefined;
    if (skip) {
      await abandonDelivery(db, row.id, token, skip);
      return;
    }
    const body = row.body ?? (await this.render(row));
    const result = await sendWebhook(
      { url: row.url, secret: this.options.openSecret({ id: row.endpoint_id, secret: row.secret, secret_sealed: row.secret_sealed, secret_key_id: row.secret_key_id }) },
      { webhookId: row.webhook_id, body },
      { timeoutMs: this.settings.timeoutMs, allowPrivate: this.options.allowPrivate },
      signal,
    );
    if (signal.aborted && signal.reason instanceof Shutdown) {
      await handBackDelivery(db, row.id, token);
      return;
    }
    await this.settle(row, token, body, result);
  }

  /** A job event's body is rendered once, from the job's final row, and stored with the first attempt. */
  private async render(row: ClaimedDelivery): Promise<string> {
    const job = row.job_id ? await findJobForOrganization(this.options.db, { organizationId: row.organization_id, env: row.env }, row.job_id) : undefined;
    if (!job) throw new Error(`delivery ${row.id} has no body and no job to render one from`);
    return jobEventBody(row.event_type, row.occurred_at, job);
  }

  /** The attempt's outcome and the endpoint's health in one transaction, guarded by the lease token. */
  private async settle(row: ClaimedDelivery, token: string, body: string, result: AttemptResult): Promise<void> {
    const step = nextStep(row.attempts, result, this.settings, this.options.random);
    const error = result.delivered ? null : result.error;
    const disabled = await this.options.db.transaction().execute(async (trx) => {
      const recorded = await recordDeliveryAttempt(trx, row.id, token, {
        status: step.status,
        ...(step.status === 'pending' ? { retryInMs: step.retryInMs } : {}),
        statusCode: result.statusCode,
        error,
        body,
      });
      if (!recorded) return false;
      if (result.delivered) {
        await markEndpointHealthy(trx, row.endpoint_id);
        return false;
      }
      const forceReason = step.status === 'failed' ? step.disableEndpoint : undefined;
      const disabledNow = await markEndpointFailing(trx, row.endpoint_id, { disableAfterMs: this.settings.disableAfterMs, ...(forceReason ? { forceReason } : {}) });
      if (disabledNow) await failPendingDeliveries(trx, row.endpoint_id, ENDPOINT_DISABLED);
      return disabledNow;
    });
    this.attempts.inc({ outcome: step.status === 'pending' ? 'retry' : step.status });
    const fields = { deliveryId: row.id, endpointId: row.endpoint_id, webhookId: row.webhook_id, attempt: row.attempts, statusCode: result.statusCode, error: error?.code };
    if (step.status !== 'delivered') this.options.logger.info(fields, step.status === 'pending' ? 'webhook attempt failed; will retry' : 'webhook delivery failed');
    if (disabled) this.options.logger.warn({ endpointId: row.endpoint_id }, 'webhook endpoint disabled after repeated failures');
  }
}
