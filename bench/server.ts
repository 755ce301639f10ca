/**
 * A Gatehouse server for the benchmark, run as a child process so the load generator never shares its event loop.
 * Builds config → deps → app from the environment (as main.ts does), seeds an organization and keys straight through
 * the services, listens on 127.0.0.1:0, and prints one JSON line on stdout: { baseUrl, keys, ... }.
 * Options come as JSON in BENCH_SERVER (see ServerOptions). Logs go to a file (BENCH_LOG_FILE), as production's
 * stdout would go to a file or a collector, so stdout carries only the handshake.
 */
import { hash } from '@node-rs/bcrypt';
import type { FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { buildApp } from '../packages/server/src/app.ts';
import { loadConfig } from '../packages/server/src/config.ts';
import { createDeps } from '../packages/server/src/deps.ts';
import { startTracing } from '../packages/server/src/observability/tracing.ts';
import { findPlanByName } from '../packages/server/src/plans/repository.ts';
import { insertOrganization } from '../packages/server/src/organizations/repository.ts';
import { generateKey } from '../packages/server/src/keys/format.ts';
import { issueApiKey } from '../packages/server/src/keys/service.ts';
import { WhoamiSchema } from '../packages/server/src/whoami/routes.ts';
import type { LimitDecision } from '../packages/server/src/limits/gcra.ts';
import { setRateLimitHeaders } from '../packages/server/src/limits/headers.ts';
import { createLogger, logDestination } from '../packages/server/src/observability/logger.ts';
import { insertBackgroundKeys } from './lib/bulk-keys.ts';

/** The tier every bench organization sits on; the runner sets GATEHOUSE_RATE_LIMITS so it never caps throughput. */
export const BENCH_TIER = 'bench';

export interface KeyGroup {
  name: string;
  count: number;
  /** bcrypt cost of the stored hashes (the cost in a hash decides what verifying it costs). */
  cost: number;
  /** allowedCidrs of every key of the group (check 5a of SPEC 2); none when absent. */
  allowedCidrs?: string[];
}

export interface ServerOptions {
  /** Keys issued through issueApiKey, at the configured GATEHOUSE_BCRYPT_COST; printed by name. */
  keys?: string[];
  /** Keys inserted in bulk: real keys in `groups` (printed), and `total` rows in all (the rest never presented). */
  bulk?: { total: number; groups: KeyGroup[] };
  /** Keys for one measured run each (group `fresh`, cost-4 hashes: they are verified once, before the run). */
  freshKeys?: number;
  /** allowedCidrs of the fresh keys (canonical CIDRs; the bench's client is 127.0.0.1). */
  freshKeyCidrs?: string[];
  /**
   * Adds GET /bench/whoami-shape: no key, no limiter, but whoami's answer (the same headers, set the same way, and a
   * body of the same schema and size). Against /healthz it shows what the shape of the answer costs by itself.
   */
  shapeRoute?: boolean;
}

function registerShapeRoute(app: FastifyInstance, organizationId: string): void {
  const decision: LimitDecision = { allowed: true, limit: 1_000_000_000, remaining: 999_999_999, resetMs: 60, retryAfterMs: 0 };
  const body = {
    organizationId,
    workspaceId: organizationId,
    organizationName: 'Bench',
    scopes: [],
    rateLimitTier: BENCH_TIER,
    killSwitch: false,
    apiAccessRevoked: false,
    apiKeyId: randomUUID(),
    creditBalance: 1_000_000_000,
    env: 'live',
  };
  app.get('/bench/whoami-shape', { schema: { hide: true, response: { 200: WhoamiSchema } } }, async (_request, reply) => {
    setRateLimitHeaders(reply, decision, 'read-light', BENCH_TIER);
    return body;
  });
}

export interface Handshake {
  baseUrl: string;
  pid: number;
  store: 'pglite' | 'postgres';
  organizationId: string;
  keyPrefix: string;
  bcryptCost: number;
  hashConcurrency: number;
  hashNiceness: number;
  authThrottleHoldMs: number;
  keys: Record<string, { key: string; keyId: string }>;
  groups: Record<string, string[]>;
  timings: { depsMs: number; seedMs: number; bulkMs: number; listenMs: number };
  /** CLOCK_MONOTONIC in µs when the server started listening: the clock of V8's CPU profiles, to leave startup out. */
  listeningAtUs: number;
}

const BATCH = 1000;

async function hashAll(secrets: string[], cost: number): Promise<string[]> {
  // @node-rs/bcrypt runs on libuv's pool; a few at a time keeps every pool thread busy without queueing thousands.
  const out: string[] = new Array(secrets.length);
  let next = 0;
  const worker = async () => {
    while (next < secrets.length) {
      const index = next++;
      out[index] = await hash(secrets[index]!, cost);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return out;
}

async function main(): Promise<void> {
  const options = JSON.parse(process.env.BENCH_SERVER || '{}') as ServerOptions;
  const started = performance.now();
  const config = loadConfig({ ...process.env, PORT: '0', HOST: '127.0.0.1' });
  const logFile = process.env.BENCH_LOG_FILE || '/dev/null';
  const logger = createLogger(config.logLevel, logDestination(logFile));
  // As main.ts: traces only when the child's OTEL_* variables ask for them.
  await startTracing();
  const deps = await createDeps(config, { logger });
  const depsMs = performance.now() - started;
  const db = deps.store.db;

  const plan = await findPlanByName(db, 'partner');
  const organization = await insertOrganization(db, {
    name: 'Bench',
    plan_id: plan?.id ?? null,
    rate_limit_tier: BENCH_TIER,
    credit_balance: 1_000_000_000,
  });
  const keys: Handshake['keys'] = {};
  for (const name of options.keys ?? []) {
    const created = await issueApiKey(deps, { organizationId: organization.id, name });
    keys[name] = { key: created.key, keyId: created.keyId };
  }
  const seedMs = performance.now() - started - depsMs;

  const groups: Handshake['groups'] = {};
  const bulk = {
    total: options.bulk?.total ?? 0,
    groups: [...(options.bulk?.groups ?? []), ...(options.freshKeys ? [{ name: 'fresh', count: options.freshKeys, cost: 4, allowedCidrs: options.freshKeyCidrs ?? [] }] : [])],
  };
  if (bulk.groups.length > 0) {
    let inserted = 0;
    for (const group of bulk.groups) {
      const generated = Array.from({ length: group.count }, () => generateKey(config.keyPrefix, 'live'));
      const hashes = await hashAll(
        generated.map((key) => key.parsed.secret),
        group.cost,
      );
      for (let start = 0; start < generated.length; start += BATCH) {
        const rows = generated.slice(start, start + BATCH).map((key, offset) => {
          const { digest, secretId } = deps.digester.digest(key.parsed.secret);
          return {
            key_id: key.parsed.keyId,
            organization_id: organization.id,
            name: group.name,
            env: 'live' as const,
            scopes: [],
            allowed_cidrs: group.allowedCidrs ?? [],
            secret_hash: hashes[start + offset]!,
            secret_digest: digest,
            digest_secret_id: secretId,
          };
        });
        await db.insertInto('api_keys').values(rows).execute();
      }
      groups[group.name] = generated.map((key) => key.key);
      inserted += group.count;
    }
    // The rest are never presented: they are there so the lookup runs against a table of this size.
    const rest = bulk.total - inserted;
    if (rest > 0) await insertBackgroundKeys(db, organization.id, 1, rest);
    else await sql`ANALYZE api_keys`.execute(db);
  }
  const bulkMs = performance.now() - started - depsMs - seedMs;

  const app = await buildApp(deps, {
    extraRoutes: (routes) => {
      if (options.shapeRoute) registerShapeRoute(routes, organization.id);
      // Before the runner reads memory, where it asks: the usage counted in this minute (a cell per key and class until
      // the next write) and the last-used times waiting for theirs are written. They are the writers', not the caches'.
      routes.post('/bench/write-behind', { schema: { hide: true } }, async () => {
        await Promise.all([deps.recording?.flush(), deps.usage.flush()]);
        return { written: true };
      });
      // Memory as a full collection leaves it, read in the same turn: read later (a /metrics scrape), it also counted
      // whatever the writers and timers allocated meanwhile, as much as the young generation holds (up to 128 MiB with
      // npm start's --max-semi-space-size=64).
      routes.post('/bench/heap', { schema: { hide: true } }, async () => {
        (globalThis as { gc?: () => void }).gc?.();
        const { heapUsed, rss } = process.memoryUsage();
        return { heapUsed, rss };
      });
    },
  });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  const listenMs = performance.now() - started - depsMs - seedMs - bulkMs;

  const handshake: Handshake = {
    baseUrl: address,
    pid: process.pid,
    store: deps.store.kind,
    organizationId: organization.id,
    keyPrefix: config.keyPrefix,
    bcryptCost: config.bcryptCost,
    hashConcurrency: config.hashConcurrency,
    hashNiceness: config.hashNiceness,
    authThrottleHoldMs: config.authThrottleHoldMs,
    keys,
    groups,
    timings: { depsMs, seedMs, bulkMs, listenMs },
    listeningAtUs: Number(process.hrtime.bigint() / 1000n),
  };
  process.stdout.write(`${JSON.stringify(handshake)}\n`);

  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    await app.close();
    await deps.close();
    logger.flush();
    // process.exit (not a dangling handle) so --cpu-prof writes its profile promptly.
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown());
  process.on('SIGINT', () => void shutdown());
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
