import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { Deps } from '../deps.ts';
import type { IdempotencyEntry } from '../db/schema.ts';
import { ApiError } from '../http/errors.ts';
import { addRouteHook, type RouteHook, type RouteHookName } from '../http/route-hooks.ts';
import {
  claimIdempotencyKey,
  completeIdempotencyEntry,
  findIdempotencyEntry,
  releaseIdempotencyEntry,
  renewIdempotencyLease,
  sweepExpiredIdempotencyKeys,
  type IdempotencyScope,
} from './repository.ts';
import { isWellFormedIdempotencyKey, outcomeFor, requestFingerprint } from './rules.ts';
import { idempotencyKeyDigest, openReplay, replayKey, sealReplay } from './sealed-replay.ts';

export interface IdempotencyOptions {
  /** SPEC 6: how long a key is remembered. */
  ttlMs: number;
  /** How long a running request holds its key without renewing; past it, another request may take the key over. */
  leaseMs: number;
  /** How often a running request renews its lease (well under leaseMs). */
  heartbeatMs: number;
  /** A request still running after this stops renewing, so a request that never answers cannot hold a key forever. */
  maxRunMs: number;
  sweepIntervalMs: number;
}

export const DEFAULT_IDEMPOTENCY_OPTIONS: IdempotencyOptions = {
  ttlMs: 24 * 60 * 60 * 1000,
  leaseMs: 60_000,
  heartbeatMs: 20_000,
  maxRunMs: 10 * 60_000,
  sweepIntervalMs: 10 * 60_000,
};

interface Run {
  scope: IdempotencyScope;
  /** Seals the answer before it is stored (sealed-replay.ts). */
  sealingKey: Buffer;
  owner: string;
  heartbeat: NodeJS.Timeout;
  settled: boolean;
}

const HEADER = 'idempotency-key';
/** Read-and-claim rounds before answering 409: each lost claim means another request took the key in between. */
const CLAIM_ATTEMPTS = 3;

const pathOf = (url: string): string => {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
};

/**
 * SPEC 6 for every authenticated POST, without routes opting in. It runs after the key pipeline's onRequest hook
 * (authentication, switches, scope, and the rate limiter), so a revoked or killed key cannot replay and a replay
 * still counts against the limit; and after body validation, so a request refused as invalid claims no key and a
 * corrected retry may reuse it.
 */
export function installIdempotency(app: FastifyInstance, deps: Deps, overrides: Partial<IdempotencyOptions> = {}): void {
  const options = { ...DEFAULT_IDEMPOTENCY_OPTIONS, ...overrides };
  const db = deps.store.db;
  const runs = new WeakMap<FastifyRequest, Run>();
  const covers = (route: RouteOptions) =>
    [route.method].flat().includes('POST') && route.config?.endpointClass !== undefined && route.config.idempotency !== false;
  const onEveryCoveredRoute = <N extends RouteHookName>(name: N, hook: RouteHook<N>) => addRouteHook(app, name, (route) => (covers(route) ? hook : undefined));
  // A route may answer more than POST; only a POST that passed the key pipeline takes part.
  const applies = (request: FastifyRequest) => request.method === 'POST' && request.principal !== undefined;

  const settle = (run: Run) => {
    run.settled = true;
    clearInterval(run.heartbeat);
  };

  const startRun = (request: FastifyRequest, scope: IdempotencyScope, sealingKey: Buffer, owner: string) => {
    const started = Date.now();
    const heartbeat = setInterval(() => {
      if (run.settled) return;
      if (Date.now() - started > options.maxRunMs) return settle(run);
      renewIdempotencyLease(db, scope, owner, new Date(deps.now() + options.leaseMs)).then(
        (held) => {
          if (!held) settle(run);
        },
        (error: unknown) => request.log.warn({ err: error }, 'idempotency lease renewal failed'),
      );
    }, options.heartbeatMs);
    const run: Run = { scope, sealingKey, owner, settled: false, heartbeat };
    run.heartbeat.unref();
    runs.set(request, run);
  };

  const replay = (request: FastifyRequest, reply: FastifyReply, entry: IdempotencyEntry, sealingKey: Buffer) => {
    if (entry.audit_target) request.auditTarget = entry.audit_target;
    request.auditDetails = { idempotentReplayOf: entry.request_id };
    // The answer carries the original request's id; this line ties the replay's own id to it.
    request.log.info({ replayOf: entry.request_id }, 'idempotent replay');
    const body = entry.response_body ? openReplay(entry.response_body, sealingKey) : Buffer.alloc(0);
    // The stored answer is the original request's, byte for byte, so its X-Request-Id is the original's too: the
    // one an error envelope in it names (SPEC 4).
    reply.code(entry.response_status ?? 200).header('idempotent-replayed', 'true').header('x-request-id', entry.request_id);
    if (entry.response_content_type) reply.header('content-type', entry.response_content_type);
    return reply.send(body);
  };

  onEveryCoveredRoute('preValidation', async (request) => {
    if (!applies(request)) return;
    const key = request.headers[HEADER];
    if (key !== undefined && !isWellFormedIdempotencyKey(key)) {
      throw new ApiError('BAD_REQUEST', 'The Idempotency-Key header must be 1 to 255 printable ASCII characters.', { header: 'Idempotency-Key' });
    }
  });

  onEveryCoveredRoute('preHandler', async (request, reply) => {
    if (!applies(request)) return;
    const key = request.headers[HEADER];
    if (typeof key !== 'string') return;
    const where = { apiKeyId: request.principal!.apiKeyId, method: request.method, path: pathOf(request.url) };
    const scope: IdempotencyScope = { ...where, key: idempotencyKeyDigest(key) };
    const sealingKey = replayKey(key, where);
    const fingerprint = requestFingerprint(request.body);
    // Read first: a replay or a refusal then costs one read and no write. Only a request that may run writes,
    // and the claim statement arbitrates between those.
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      const now = deps.now();
      const entry = await findIdempotencyEntry(db, scope);
      const outcome = outcomeFor(entry, fingerprint, new Date(now));
      if (outcome === 'reused') {
        throw new ApiError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was already used with a different request body.');
      }
      if (outcome === 'replay') return replay(request, reply, entry!, sealingKey);
      if (outcome === 'in_progress') break;
      const owner = randomUUID();
      const claimed = await claimIdempotencyKey(db, {
        ...scope,
        fingerprint,
        owner,
        requestId: request.id,
        now: new Date(now),
        leaseUntil: new Date(now + options.leaseMs),
        expiresAt: new Date(now + options.ttlMs),
      });
      if (claimed) return startRun(request, scope, sealingKey, owner);
      // Another request claimed the key between the read and the claim: read again to see what it left.
    }
    throw new ApiError(
      'CONFLICT',
      'A request with this Idempotency-Key is still running. Retry shortly.',
      { reason: 'idempotency_in_progress' },
      { 'retry-after': '1' },
    );
  });

  onEveryCoveredRoute('onSend', async (request, reply, payload) => {
    const run = runs.get(request);
    if (!run || run.settled) return payload;
    settle(run);
    try {
      if (reply.statusCode >= 500) {
        await releaseIdempotencyEntry(db, run.scope, run.owner);
      } else if (payload === null || payload === undefined || typeof payload === 'string' || Buffer.isBuffer(payload)) {
        const contentType = reply.getHeader('content-type');
        const stored = await completeIdempotencyEntry(db, run.scope, run.owner, {
          status: reply.statusCode,
          contentType: typeof contentType === 'string' ? contentType : null,
          body: sealReplay(payload === null || payload === undefined ? new Uint8Array() : Buffer.from(payload), run.sealingKey),
          auditTarget: request.auditTarget ?? null,
        });
        if (!stored) request.log.warn('idempotency key was taken over while this request ran; its answer was not kept');
      } else {
        // A streamed answer cannot be kept byte for byte; free the key rather than replay something else.
        await releaseIdempotencyEntry(db, run.scope, run.owner);
      }
    } catch (error) {
      // The lease runs out on its own, so the key is not lost for good.
      request.log.error({ err: error }, 'idempotency entry could not be updated');
    }
    return payload;
  });

  // onSend did not run (the answer failed to serialize, or the client went away): free the key now rather than at lease end.
  onEveryCoveredRoute('onResponse', async (request) => {
    const run = runs.get(request);
    if (!run || run.settled) return;
    settle(run);
    await releaseIdempotencyEntry(db, run.scope, run.owner).catch((error: unknown) =>
      request.log.error({ err: error }, 'idempotency entry could not be released'),
    );
  });

  let sweeping = false;
  const sweeper = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    sweepExpiredIdempotencyKeys(db, new Date(deps.now()))
      .then((deleted) => {
        if (deleted > 0) deps.logger.debug({ deleted }, 'expired idempotency keys swept');
      })
      .catch((error: unknown) => deps.logger.warn({ err: error }, 'idempotency sweep failed'))
      .finally(() => {
        sweeping = false;
      });
  }, options.sweepIntervalMs);
  sweeper.unref();
  app.addHook('onClose', async () => clearInterval(sweeper));
}
