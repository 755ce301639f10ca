import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { DEFAULT_PEOPLE_SETTINGS, type PeopleSettings } from './people/settings.ts';
import type { DeliveryWorkerSettings } from './webhooks/worker.ts';
import { parseTrustProxy, TrustProxyError, type TrustProxy } from './net/client-address.ts';

export type EndpointClass = 'read-light' | 'write-light' | 'long-running';
export const ENDPOINT_CLASSES: readonly EndpointClass[] = ['read-light', 'write-light', 'long-running'];
export type RateLimitTable = Record<string, Record<EndpointClass, number>>;

/** What a tier may be called, in GATEHOUSE_RATE_LIMITS and in the admin API. */
export const RATE_LIMIT_TIER_PATTERN = '^[a-z][a-z0-9_-]{0,31}$';

/** A tier of the table itself: a name such as `constructor` must not find Object.prototype's member and pass. */
export const isRateLimitTier = (table: RateLimitTable, tier: string): boolean => Object.hasOwn(table, tier);

/** SPEC 5: requests per minute by tier and endpoint class. */
export const DEFAULT_RATE_LIMITS: RateLimitTable = {
  standard: { 'read-light': 600, 'write-light': 60, 'long-running': 10 },
  pilot: { 'read-light': 1200, 'write-light': 300, 'long-running': 60 },
  partner: { 'read-light': 6000, 'write-light': 1200, 'long-running': 300 },
};

/** SPEC 11's default for GATEHOUSE_GITHUB_SECRET_SCANNING_KEYS_URL: fetched only when a report arrives. */
export const GITHUB_SECRET_SCANNING_KEYS_URL = 'https://api.github.com/meta/public_keys/secret_scanning';

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  /** GATEHOUSE_REDIS_CLUSTER: REDIS_URL lists the seed nodes of a Redis Cluster. */
  redisCluster: boolean;
  /** PostgreSQL: a connection or query slower than this fails as the store being unreachable (503 UNAVAILABLE). */
  dbTimeoutMs: number;
  /** A Redis command slower than this counts as Redis being down: the request is answered from memory instead. */
  redisCommandTimeoutMs: number;
  adminToken: string | undefined;
  /**
   * GATEHOUSE_SECRET: the deployment secret (SPEC 11), never stored in the database; resolved with the data
   * directory's file and checked by secrets/deployment-secret.ts. GATEHOUSE_SECRET_PREVIOUS: the one rotated out.
   */
  secret: string | undefined;
  secretPrevious: string | undefined;
  /** GATEHOUSE_TRUST_PROXY (SPEC 13.4): which peers' X-Forwarded-For is believed; absent = nobody's. */
  trustProxy?: TrustProxy | undefined;
  keyPrefix: string;
  bcryptCost: number;
  logLevel: string;
  rateLimits: RateLimitTable;
  bodyLimitBytes: number;
  /** Upper bound on bcrypt verifications running at once in this process (SPEC 2, hot path). */
  hashConcurrency: number;
  /** How much lower than the event loop's the hashing threads' scheduling priority is (0 to 19, as nice(1)). */
  hashNiceness: number;
  /** Failed verifications per minute tolerated from one client address, and for one key_id, before 429. */
  authFailuresPerMinute: number;
  /** How long the 429 to a throttled authentication failure is held before it goes out (auth/tarpit.ts); 0 sends it at once. */
  authThrottleHoldMs: number;
  /** `timeoutMs`: one outbound call, redirects and body included (GATEHOUSE_UPSTREAM_TIMEOUT_MS, default 15 s). */
  upstreams: { appstoreLookupUrl: string; playstoreUrl: string; githubApiUrl: string; allowPrivate: boolean; timeoutMs?: number };
  /**
   * SIGTERM: how long the instance keeps serving, answering /readyz 503 and closing each connection after its
   * response, before it stops accepting: the time a load balancer needs to notice and send requests elsewhere.
   */
  drainMs: number;
  /**
   * How long a request may take to arrive: its headers, and the whole of it with its body (issue 13, finding 11: a
   * body sent a byte at a time must not hold a connection open for ever). Absent: the defaults of app.ts.
   */
  timeouts?: { headersMs?: number; requestMs?: number };
  /** When set, /metrics answers only `Authorization: Bearer <this>` (for a server bound beyond loopback). */
  metricsToken?: string;
  /** Job runner tuning; anything absent takes the runner's default (src/jobs/runner.ts). */
  jobs?: { concurrency?: number; leaseMs?: number; pollMs?: number; startDelayMs?: number };
  /** Webhook delivery tuning; anything absent takes the worker's default (src/webhooks/worker.ts). */
  webhooks?: Partial<DeliveryWorkerSettings>;
  /** How often each instance looks for keys due a `key.expiring` notice (default webhooks/expiring-scan.ts, 60 s). */
  keyExpiringScanMs?: number;
  /** Days the request log keeps its rows (GATEHOUSE_REQUEST_LOG_DAYS, default 7; SPEC 8.7). */
  requestLogDays?: number;
  /** Usage counting and the request log (GATEHOUSE_USAGE_RECORDING, default on; off only to measure what they cost). */
  usageRecording?: boolean;
  /**
   * SPEC 15: where GitHub's secret scanning publishes the keys its leak reports are signed with
   * (GATEHOUSE_GITHUB_SECRET_SCANNING_KEYS_URL, default GitHub's own). Undefined (the setting is `off`):
   * POST /hooks/github/secret-scanning answers 404.
   */
  githubSecretScanningKeysUrl?: string | undefined;
  /** SPEC 11: where people reach the console, for invitation and reset links and the `Origin` check; default http://HOST:PORT. */
  publicUrl?: string;
  /** SPEC 13.3: `smtp://` or `smtps://` server for invitation and reset mail; unset, links are shown once to whoever made them. */
  smtpUrl?: string;
  /** People and sessions tuning; anything absent takes DEFAULT_PEOPLE_SETTINGS (src/people/settings.ts). */
  people?: Partial<PeopleSettings>;
}

export class ConfigError extends Error {}

/**
 * bcrypt at once, by default: a core fewer than the machine has, so a wrong-secret flood can never take the core
 * the event loop serves verified keys on (bench/RESULTS.md, scenario 4, compares this with every core hashing).
 */
export function defaultHashConcurrency(cores: number): number {
  return Math.max(1, cores - 1);
}

const PREFIX_PATTERN = /^[a-z][a-z0-9]{1,7}$/;

function intFrom(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** An absolute URL of one of the given protocols, or undefined when unset; anything else is a startup error. */
function urlFrom(env: NodeJS.ProcessEnv, name: string, protocols: string[]): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} is not a URL`);
  }
  if (!protocols.includes(url.protocol)) throw new ConfigError(`${name} must start with ${protocols.map((p) => `${p}//`).join(' or ')}`);
  return raw;
}

function trustProxyFrom(env: NodeJS.ProcessEnv): TrustProxy | undefined {
  try {
    return parseTrustProxy(env.GATEHOUSE_TRUST_PROXY);
  } catch (error) {
    if (error instanceof TrustProxyError) throw new ConfigError(error.message);
    throw error;
  }
}

function booleanFrom(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = (env[name] ?? '').toLowerCase();
  return raw === '1' || raw === 'true' || raw === 'yes';
}

/** GATEHOUSE_RATE_LIMITS replaces or extends tiers and classes; anything else is a startup error, not a silent default. */
export function mergeRateLimits(base: RateLimitTable, overrideJson: string | undefined): RateLimitTable {
  if (!overrideJson) return base;
  let parsed: unknown;
  try {
    parsed = JSON.parse(overrideJson);
  } catch {
    throw new ConfigError('GATEHOUSE_RATE_LIMITS is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError('GATEHOUSE_RATE_LIMITS must be an object of tiers');
  }
  const merged: RateLimitTable = structuredClone(base);
  for (const [tier, classes] of Object.entries(parsed as Record<string, unknown>)) {
    if (!new RegExp(RATE_LIMIT_TIER_PATTERN).test(tier)) throw new ConfigError(`GATEHOUSE_RATE_LIMITS: a tier's name is 1 to 32 of a-z, 0-9, _ and -, starting with a letter`);
    if (typeof classes !== 'object' || classes === null) throw new ConfigError(`GATEHOUSE_RATE_LIMITS.${tier} must be an object`);
    const target = isRateLimitTier(merged, tier) ? merged[tier]! : { ...DEFAULT_RATE_LIMITS.standard! };
    for (const [endpointClass, limit] of Object.entries(classes as Record<string, unknown>)) {
      if (!ENDPOINT_CLASSES.includes(endpointClass as EndpointClass)) {
        throw new ConfigError(`GATEHOUSE_RATE_LIMITS.${tier}: unknown endpoint class ${endpointClass}`);
      }
      if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1) {
        throw new ConfigError(`GATEHOUSE_RATE_LIMITS.${tier}.${endpointClass} must be a positive integer`);
      }
      target[endpointClass as EndpointClass] = limit;
    }
    merged[tier] = target;
  }
  return merged;
}

export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

function requestTimeoutsFrom(env: NodeJS.ProcessEnv): { headersMs: number; requestMs: number } {
  const requestMs = intFrom(env, 'GATEHOUSE_REQUEST_TIMEOUT_MS', DEFAULT_REQUEST_TIMEOUT_MS, 1_000, 3_600_000);
  const headersMs = intFrom(env, 'GATEHOUSE_HEADERS_TIMEOUT_MS', Math.min(DEFAULT_HEADERS_TIMEOUT_MS, requestMs), 1_000, 3_600_000);
  // Node refuses a headers timeout longer than the whole request's.
  if (headersMs > requestMs) throw new ConfigError('GATEHOUSE_HEADERS_TIMEOUT_MS must not exceed GATEHOUSE_REQUEST_TIMEOUT_MS');
  return { headersMs, requestMs };
}

/** Optional JSON config file (GATEHOUSE_CONFIG): its keys are environment variable names; the environment wins. */
function withConfigFile(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const file = env.GATEHOUSE_CONFIG;
  if (!file) return env;
  let fromFile: Record<string, unknown>;
  try {
    fromFile = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(`GATEHOUSE_CONFIG ${file}: ${(error as Error).message}`);
  }
  const merged: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(fromFile)) merged[name] = typeof value === 'string' ? value : JSON.stringify(value);
  return { ...merged, ...env };
}

export function loadConfig(rawEnv: NodeJS.ProcessEnv = process.env): Config {
  const env = withConfigFile(rawEnv);
  const keyPrefix = env.GATEHOUSE_KEY_PREFIX || 'lp';
  if (!PREFIX_PATTERN.test(keyPrefix)) throw new ConfigError('GATEHOUSE_KEY_PREFIX must match [a-z][a-z0-9]{1,7}');
  return {
    port: intFrom(env, 'PORT', 8787, 0, 65535),
    host: env.HOST || '127.0.0.1',
    dataDir: resolve(env.GATEHOUSE_DATA_DIR || './.gatehouse'),
    databaseUrl: env.DATABASE_URL || undefined,
    redisUrl: env.REDIS_URL || undefined,
    redisCluster: booleanFrom(env, 'GATEHOUSE_REDIS_CLUSTER'),
    dbTimeoutMs: intFrom(env, 'GATEHOUSE_DB_TIMEOUT_MS', 1_500, 100, 60_000),
    redisCommandTimeoutMs: intFrom(env, 'GATEHOUSE_REDIS_TIMEOUT_MS', 250, 10, 10_000),
    adminToken: env.GATEHOUSE_ADMIN_TOKEN || undefined,
    secret: env.GATEHOUSE_SECRET || undefined,
    secretPrevious: env.GATEHOUSE_SECRET_PREVIOUS || undefined,
    trustProxy: trustProxyFrom(env),
    keyPrefix,
    bcryptCost: intFrom(env, 'GATEHOUSE_BCRYPT_COST', 12, 10, 14),
    logLevel: env.LOG_LEVEL || 'info',
    rateLimits: mergeRateLimits(DEFAULT_RATE_LIMITS, env.GATEHOUSE_RATE_LIMITS),
    bodyLimitBytes: intFrom(env, 'GATEHOUSE_BODY_LIMIT_BYTES', 1024 * 1024, 1024, 64 * 1024 * 1024),
    hashConcurrency: intFrom(env, 'GATEHOUSE_HASH_CONCURRENCY', defaultHashConcurrency(availableParallelism()), 1, 64),
    hashNiceness: intFrom(env, 'GATEHOUSE_HASH_NICENESS', 19, 0, 19),
    authFailuresPerMinute: intFrom(env, 'GATEHOUSE_AUTH_FAILURES_PER_MINUTE', 30, 1, 1_000_000),
    authThrottleHoldMs: intFrom(env, 'GATEHOUSE_AUTH_THROTTLE_HOLD_MS', 1_000, 0, 10_000),
    timeouts: requestTimeoutsFrom(env),
    metricsToken: env.GATEHOUSE_METRICS_TOKEN || undefined,
    upstreams: {
      appstoreLookupUrl: env.GATEHOUSE_APPSTORE_LOOKUP_URL || 'https://itunes.apple.com/lookup',
      playstoreUrl: env.GATEHOUSE_PLAYSTORE_URL || 'https://play.google.com',
      githubApiUrl: env.GATEHOUSE_GITHUB_API_URL || 'https://api.github.com',
      allowPrivate: booleanFrom(env, 'GATEHOUSE_ALLOW_PRIVATE_UPSTREAMS'),
      timeoutMs: intFrom(env, 'GATEHOUSE_UPSTREAM_TIMEOUT_MS', 15_000, 100, 300_000),
    },
    // An embedded store is one process that no load balancer shares with another: nothing to wait for.
    drainMs: intFrom(env, 'GATEHOUSE_DRAIN_MS', env.DATABASE_URL ? 3_000 : 0, 0, 120_000),
    jobs: {
      concurrency: intFrom(env, 'GATEHOUSE_JOB_CONCURRENCY', 4, 0, 256),
      leaseMs: intFrom(env, 'GATEHOUSE_JOB_LEASE_MS', 30_000, 1_000, 3_600_000),
      pollMs: intFrom(env, 'GATEHOUSE_JOB_POLL_MS', 1_000, 50, 60_000),
      startDelayMs: intFrom(env, 'GATEHOUSE_JOB_START_DELAY_MS', 1_000, 0, 60_000),
    },
    webhooks: {
      concurrency: intFrom(env, 'GATEHOUSE_WEBHOOK_CONCURRENCY', 8, 0, 256),
      timeoutMs: intFrom(env, 'GATEHOUSE_WEBHOOK_TIMEOUT_MS', 15_000, 1_000, 60_000),
    },
    requestLogDays: intFrom(env, 'GATEHOUSE_REQUEST_LOG_DAYS', 7, 1, 365),
    usageRecording: (env.GATEHOUSE_USAGE_RECORDING ?? '').toLowerCase() !== 'false' && env.GATEHOUSE_USAGE_RECORDING !== '0',
    publicUrl: urlFrom(env, 'GATEHOUSE_PUBLIC_URL', ['http:', 'https:']),
    smtpUrl: urlFrom(env, 'GATEHOUSE_SMTP_URL', ['smtp:', 'smtps:']),
    githubSecretScanningKeysUrl:
      env.GATEHOUSE_GITHUB_SECRET_SCANNING_KEYS_URL === 'off'
        ? undefined
        : (urlFrom(env, 'GATEHOUSE_GITHUB_SECRET_SCANNING_KEYS_URL', ['https:', 'http:']) ?? GITHUB_SECRET_SCANNING_KEYS_URL),
    people: {
      argon2MemoryKiB: intFrom(env, 'GATEHOUSE_ARGON2_MEMORY_KIB', DEFAULT_PEOPLE_SETTINGS.argon2MemoryKiB, 1_024, 1_048_576),
      argon2TimeCost: intFrom(env, 'GATEHOUSE_ARGON2_TIME_COST', DEFAULT_PEOPLE_SETTINGS.argon2TimeCost, 1, 10),
      signInFailuresPerAccount: intFrom(env, 'GATEHOUSE_SIGNIN_FAILURES_PER_ACCOUNT', DEFAULT_PEOPLE_SETTINGS.signInFailuresPerAccount, 1, 1_000_000),
      signInFailuresPerAddress: intFrom(env, 'GATEHOUSE_SIGNIN_FAILURES_PER_ADDRESS', DEFAULT_PEOPLE_SETTINGS.signInFailuresPerAddress, 1, 1_000_000),
      mailFrom: env.GATEHOUSE_MAIL_FROM || DEFAULT_PEOPLE_SETTINGS.mailFrom,
    },
  };
}
