import type { Logger } from 'pino';
import type { Config } from './config.ts';
import { createStore, type Store } from './db/create-db.ts';
import { migrateToLatest } from './db/migrate.ts';
import { GlobalSwitch } from './auth/global-switch.ts';
import { createInvalidationBus } from './auth/cluster-invalidation.ts';
import type { InvalidationBus } from './auth/invalidation.ts';
import { KeyVerifier } from './auth/key-verifier.ts';
import { UsageRecorder } from './auth/usage-recorder.ts';
import { createJobRunner } from './jobs/create-runner.ts';
import type { JobRunner } from './jobs/runner.ts';
import { KeyDigester } from './keys/digest.ts';
import { SecretHasher } from './keys/hashing.ts';
import { resolveDeploymentSecrets, type DeploymentSecrets } from './secrets/deployment-secret.ts';
import { secretSealer } from './secrets/sealing.ts';
import { resealWebhookSecrets, WebhookSecretSealer } from './webhooks/sealed-secrets.ts';
import { Tarpit } from './auth/tarpit.ts';
import { Lifecycle } from './lifecycle.ts';
import { createRateLimiter } from './limits/create-limiter.ts';
import type { RateLimiter } from './limits/limiter.ts';
import { createLogger } from './observability/logger.ts';
import { createMetrics, type Metrics } from './observability/metrics.ts';
import { createUsageRecording } from './usage/create-recording.ts';
import type { UsageRecording } from './usage/recording.ts';
import { createDeliveryWorker } from './webhooks/create-worker.ts';
import type { Mailer } from './people/mailer.ts';
import { createPeopleRuntime, type PeopleRuntime } from './people/runtime.ts';
import { resealTotpSecrets } from './people/totp-rotation.ts';
import type { DeliveryWorker } from './webhooks/worker.ts';
import { DEFAULT_EXPIRING_SCAN_MS, ExpiringKeyScan } from './webhooks/expiring-scan.ts';

/** Everything the app needs, built in one place (DESIGN: wire dependencies once, build the app apart from listening). */
export interface Deps {
  config: Config;
  store: Store;
  logger: Logger;
  metrics: Metrics;
  bus: InvalidationBus;
  /** GATEHOUSE_SECRET (and the one being rotated out): derive keys from it with secrets/derive.ts, one label per purpose. */
  secrets: DeploymentSecrets;
  /** Seals and opens webhook signing secrets (SPEC 8.6) under a key of the deployment secret. */
  webhookSecrets: WebhookSecretSealer;
  hasher: SecretHasher;
  digester: KeyDigester;
  verifier: KeyVerifier;
  tarpit: Tarpit;
  globalSwitch: GlobalSwitch;
  usage: UsageRecorder;
  /** Usage counts and the request log (SPEC 8.7); undefined when GATEHOUSE_USAGE_RECORDING is off. */
  recording: UsageRecording | undefined;
  /** The job runner; `onJobFinished` is the hook for terminal job events. */
  jobs: JobRunner;
  limiter: RateLimiter;
  /** Webhook deliveries (SPEC 8.6). */
  webhooks: DeliveryWorker;
  /** People, sessions and the console's sign-in (SPEC 13). */
  people: PeopleRuntime;
  now: () => number;
  /** Draining for shutdown (main.ts sets it on SIGTERM). */
  lifecycle: Lifecycle;
  /** Closes, in reverse order of creation, everything opened here (a store passed in stays open). */
  close(): Promise<void>;
}

export interface DepsOverrides {
  logger?: Logger;
  store?: Store;
  bus?: InvalidationBus;
  now?: () => number;
  /** Where rate-limit buckets live in Redis; instances that share limits share it (tests use a random one). */
  rateLimitKeyPrefix?: string;
  /** false: usage and the request log are written only when flushed by hand (tests that count rows exactly). */
  usageAutoFlush?: boolean;
  /** Holds 429s to throttled authentication failures; tests give it a small bound. */
  tarpit?: Tarpit;
  /** Where invitation and reset mail goes instead of GATEHOUSE_SMTP_URL (tests that read what would be sent). */
  mailer?: Mailer;
}

/**
 * The store, migrated. On PostgreSQL, requests and workers get a pool whose connections and queries give up after
 * GATEHOUSE_DB_TIMEOUT_MS (SPEC 11: an unreachable store answers 503 within 2 s, never hangs); migrations run
 * first on a connection of their own without that limit, since building an index may rightly take longer.
 */
async function openStore(config: Config): Promise<Store> {
  if (!config.databaseUrl) {
    const store = await createStore({ dataDir: config.dataDir });
    await migrateToLatest(store.db);
    return store;
  }
  const migrator = await createStore({ databaseUrl: config.databaseUrl, poolSize: 1 });
  try {
    await migrateToLatest(migrator.db);
  } finally {
    await migrator.close();
  }
  return createStore({ databaseUrl: config.databaseUrl, timeoutMs: config.dbTimeoutMs });
}

export async function createDeps(config: Config, overrides: DepsOverrides = {}): Promise<Deps> {
  // First: an instance that may not start must say so before it opens anything.
  const secrets = resolveDeploymentSecrets(config);
  const logger = overrides.logger ?? createLogger(config.logLevel);
  // With traces on, every statement is a span: the store's dialect (observability/query-tracing.ts) sees to it.
  const store = overrides.store ?? (await openStore(config));
  if (overrides.store) await migrateToLatest(store.db);
  const now = overrides.now ?? Date.now;
  const metrics = createMetrics();
  const bus = overrides.bus ?? (await createInvalidationBus(config, store, logger));
  const hasher = new SecretHasher(config.bcryptCost, config.hashConcurrency, config.hashNiceness);
  const digester = new KeyDigester(secrets);
  const verifier = new KeyVerifier({
    db: store.db,
    hasher,
    digester,
    bus,
    keyPrefix: config.keyPrefix,
    authFailuresPerMinute: config.authFailuresPerMinute,
    metrics: metrics.verifier,
    now,
    onRefreshError: (error) => logger.warn({ err: error }, 'key state re-read failed'),
  });
  const tarpit = overrides.tarpit ?? new Tarpit(config.authThrottleHoldMs);
  const globalSwitch = new GlobalSwitch(store.db, bus);
  await globalSwitch.start();
  const usage = new UsageRecorder(store.db, (error) => logger.warn({ err: error }, 'lastUsedAt flush failed'), { now });
  usage.start();
  const recording = createUsageRecording({ config, store, logger, metrics, now, autoFlush: overrides.usageAutoFlush ?? true });
  const jobs = createJobRunner({
    config,
    store,
    logger,
    metrics,
    bus,
    now,
    // Jobs are the long-running class (SPEC 5); their credits count against the key that queued them.
    onCreditsCharged: (job, credits) => {
      if (job.api_key_id) recording?.counter.addCredits({ organizationId: job.organization_id, apiKeyId: job.api_key_id, env: job.env }, 'long-running', credits, now());
    },
  });
  jobs.start();
  const limiter = await createRateLimiter({
    redisUrl: config.redisUrl,
    redisCluster: config.redisCluster,
    commandTimeoutMs: config.redisCommandTimeoutMs,
    logger,
    now,
    // An injected clock (tests) drives the Redis buckets too; in production the script reads Redis TIME.
    redisNow: overrides.now,
    keyPrefix: overrides.rateLimitKeyPrefix,
    onSharedChange: (shared) => metrics.limiterBackend.set(shared ? 1 : 0),
    onLocalShards: (count) => metrics.limiterLocalShards.set(count),
  });
  // Before the worker signs anything: rows still plain (made before sealing) or sealed under the secret being rotated
  // out are sealed under the current one.
  const webhookSecrets = new WebhookSecretSealer(secrets);
  await resealWebhookSecrets(store.db, webhookSecrets, logger);
  const webhooks = createDeliveryWorker({ config, store, logger, metrics, sealer: webhookSecrets });
  // The events themselves are enqueued by the jobs table's trigger; this only spares them the wait for the next poll.
  jobs.onJobFinished(() => webhooks.nudge());
  webhooks.start();
  const expiringScan = new ExpiringKeyScan({ db: store.db, keyPrefix: config.keyPrefix, now, logger, intervalMs: config.keyExpiringScanMs ?? DEFAULT_EXPIRING_SCAN_MS });
  expiringScan.start();
  metrics.observeAuth({
    hashInFlight: () => hasher.inFlight,
    hashPeakConcurrency: () => hasher.peakConcurrency,
    tarpitHeld: () => tarpit.size,
    cacheEntries: () => ({ ...verifier.cacheEntries(), usage: usage.trackedKeys }),
  });

  // TOTP secrets are sealed under a key of the deployment secret (SPEC 11): a copy of the store alone cannot open them.
  const people = createPeopleRuntime(config, now, secrets, secretSealer(secrets, 'totpSecret'), overrides.mailer);
  if (secrets.previous) {
    const moved = await resealTotpSecrets(store.db, people.sealer);
    if (moved > 0) logger.info({ moved }, 'TOTP secrets sealed again under the current GATEHOUSE_SECRET');
  }

  return {
    config,
    store,
    logger,
    metrics,
    bus,
    secrets,
    webhookSecrets,
    hasher,
    digester,
    verifier,
    tarpit,
    globalSwitch,
    usage,
    recording,
    jobs,
    limiter,
    webhooks,
    people,
    now,
    lifecycle: new Lifecycle(),
    async close() {
      people.close();
      await expiringScan.stop();
      await webhooks.stop();
      await jobs.stop();
      await limiter.close();
      globalSwitch.stop();
      verifier.close();
      await hasher.close();
      await usage.stop();
      await recording?.stop();
      if (!overrides.bus) await bus.close();
      if (!overrides.store) await store.close();
    },
  };
}
