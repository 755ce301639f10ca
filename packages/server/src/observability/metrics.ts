import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { VerifierMetrics } from '../auth/key-verifier.ts';

/** What the auth gauges read when /metrics is scraped (set once the hasher and verifier exist). */
export interface AuthGaugeSource {
  hashInFlight(): number;
  hashPeakConcurrency(): number;
  /** 429s to throttled authentication failures held back now (auth/tarpit.ts). */
  tarpitHeld(): number;
  /** Entries held by each bounded cache of the auth path, by cache name. */
  cacheEntries(): Record<string, number>;
}

/** What the usage and request-log metrics read at scrape time (src/usage). */
export interface UsageGaugeSource {
  requestLogDropped(): number;
  requestLogWritten(): number;
  requestLogBuffered(): number;
  /** 1 while the request log's writer yields to answering, which is short of CPU; else 0. */
  requestLogYielding(): number;
  usageFlushFailures(): number;
}

/** One registry per app instance, so tests that build many apps never share counters. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'gatehouse_http_requests_total',
    help: 'HTTP responses by route, endpoint class and status',
    labelNames: ['route', 'class', 'status'] as const,
    registers: [registry],
  });
  const requestDuration = new Histogram({
    name: 'gatehouse_http_request_duration_seconds',
    help: 'HTTP request duration by route',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const rateLimited = new Counter({
    name: 'gatehouse_rate_limited_total',
    help: '429 answers by endpoint class',
    labelNames: ['class'] as const,
    registers: [registry],
  });
  const authRefusals = new Counter({
    name: 'gatehouse_auth_refusals_total',
    help: 'Requests refused because they did not authenticate (never written to the audit log), by surface and answer',
    labelNames: ['surface', 'outcome'] as const,
    registers: [registry],
  });
  const hashVerifications = new Counter({
    name: 'gatehouse_key_hash_verifications_total',
    help: 'bcrypt verifications of presented secrets, by outcome',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  // Every authenticated request looks the cache up, so lookups are counted in plain numbers and handed to the
  // counter when /metrics is scraped, rather than through a labelled inc() on the hot path.
  const keyCacheLookups = { hit: 0, miss: 0 };
  const keyCache = new Counter({
    name: 'gatehouse_key_cache_total',
    help: 'Verified-key cache lookups, by result',
    labelNames: ['result'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const result of ['hit', 'miss'] as const) this.inc({ result }, keyCacheLookups[result]);
    },
  });
  const jobOutcomes = new Counter({
    name: 'gatehouse_job_outcomes_total',
    help: 'Finished jobs by kind and final status',
    labelNames: ['kind', 'status'] as const,
    registers: [registry],
  });
  const limiterBackend = new Gauge({
    name: 'gatehouse_rate_limiter_shared',
    help: '1 while rate limits are shared through Redis, 0 while this instance uses its own memory',
    registers: [registry],
  });
  const limiterLocalShards = new Gauge({
    name: 'gatehouse_rate_limiter_local_shards',
    help: 'Redis Cluster: shards this instance cannot reach, whose rate-limit buckets it keeps in its own memory meanwhile',
    registers: [registry],
  });
  let authSource: AuthGaugeSource | undefined;
  new Gauge({
    name: 'gatehouse_key_hash_in_flight',
    help: 'bcrypt operations running now',
    registers: [registry],
    collect() {
      if (authSource) this.set(authSource.hashInFlight());
    },
  });
  new Gauge({
    name: 'gatehouse_key_hash_peak_concurrency',
    help: 'Most bcrypt operations that ran at once since the process started (bounded by GATEHOUSE_HASH_CONCURRENCY)',
    registers: [registry],
    collect() {
      if (authSource) this.set(authSource.hashPeakConcurrency());
    },
  });
  new Gauge({
    name: 'gatehouse_auth_throttle_held',
    help: 'Answers to throttled authentication failures being held before they go out',
    registers: [registry],
    collect() {
      if (authSource) this.set(authSource.tarpitHeld());
    },
  });
  new Gauge({
    name: 'gatehouse_auth_cache_entries',
    help: 'Entries held by the bounded caches of the auth path, by cache',
    labelNames: ['cache'] as const,
    registers: [registry],
    collect() {
      if (!authSource) return;
      for (const [cache, entries] of Object.entries(authSource.cacheEntries())) this.set({ cache }, entries);
    },
  });
  const observeAuth = (source: AuthGaugeSource) => {
    authSource = source;
  };
  // The request log counts in plain numbers on the request path (src/usage); these read them at scrape time.
  let usageSource: UsageGaugeSource | undefined;
  new Counter({
    name: 'gatehouse_request_log_dropped_total',
    help: 'Request-log rows dropped because the buffer was full or the store refused them (SPEC 8.7)',
    registers: [registry],
    collect() {
      if (!usageSource) return;
      this.reset();
      this.inc(usageSource.requestLogDropped());
    },
  });
  new Counter({
    name: 'gatehouse_request_log_written_total',
    help: 'Request-log rows written to the store',
    registers: [registry],
    collect() {
      if (!usageSource) return;
      this.reset();
      this.inc(usageSource.requestLogWritten());
    },
  });
  new Gauge({
    name: 'gatehouse_request_log_buffered',
    help: 'Request-log rows waiting in memory to be written',
    registers: [registry],
    collect() {
      if (usageSource) this.set(usageSource.requestLogBuffered());
    },
  });
  new Gauge({
    name: 'gatehouse_request_log_yielding',
    help: 'Whether the request log writes at most a small share of the time, answering being short of CPU (1) or not (0)',
    registers: [registry],
    collect() {
      if (usageSource) this.set(usageSource.requestLogYielding());
    },
  });
  new Counter({
    name: 'gatehouse_usage_flush_failures_total',
    help: 'Usage batches the store refused (kept in memory and written with the next batch)',
    registers: [registry],
    collect() {
      if (!usageSource) return;
      this.reset();
      this.inc(usageSource.usageFlushFailures());
    },
  });
  const observeUsage = (source: UsageGaugeSource) => {
    usageSource = source;
  };
  const verifier: VerifierMetrics = {
    cacheHit: () => {
      keyCacheLookups.hit++;
    },
    cacheMiss: () => {
      keyCacheLookups.miss++;
    },
    hashVerification: (outcome) => hashVerifications.inc({ outcome }),
  };
  return { registry, requests, requestDuration, rateLimited, authRefusals, hashVerifications, keyCache, jobOutcomes, limiterBackend, limiterLocalShards, verifier, observeAuth, observeUsage };
}

export type Metrics = ReturnType<typeof createMetrics>;
