import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import type { Deps } from '../deps.ts';
import { ApiError } from '../http/errors.ts';
import { addRouteHook, type RouteHook, type RouteHookName } from '../http/route-hooks.ts';
import { sweepExpiredIdempotencyKeys, type IdempotencyScope } from './repository.ts';
import { isWellFormedIdempotencyKey, requestFingerprint } from './rules.ts';
import { idempotencyKeyDigest, replayKey } from './sealed-replay.ts';

export interface IdempotencyOptions {
  /** SPEC 6: how long a key is remembered. */
  ttlMs: number;
  sweepIntervalMs: number;
}

export const DEFAULT_IDEMPOTENCY_OPTIONS: IdempotencyOptions = {
  ttlMs: 24 * 60 * 60 * 1000,
  sweepIntervalMs: 10 * 60_000,
};

/** What the unit of work (http/unit-of-work.ts) needs to claim, keep and replay under a request's Idempotency-Key. */
export interface IdempotentRequest {
  scope: IdempotencyScope;
  /** The request body's digest: the same key with another body is refused. */
  fingerprint: string;
  /** Seals and opens the kept answer (sealed-replay.ts); derived when first needed. */
  sealingKey(): Buffer;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set on an authenticated POST that carries a well-formed Idempotency-Key (SPEC 6). */
    idempotency?: IdempotentRequest;
  }
}

const HEADER = 'idempotency-key';

/**
 * The path a request's key is scoped to, as the router understood it: the route's pattern with its decoded
 * parameters, each encoded one canonical way. `/v1/%70rojects` and `/v1/projects` reach one route and are one path
 * (issue 13, finding 15); the raw URL would make them two scopes, so one Idempotency-Key could run twice.
 */
function routedPath(request: FastifyRequest): string {
  const params = (request.params ?? {}) as Record<string, unknown>;
  return request.routeOptions.url!.replace(/:([A-Za-z0-9_]+)/g, (_, name: string) => encodeURIComponent(String(params[name] ?? '')));
}

/** Every authenticated POST takes part (SPEC 6), unless its route opts out; routes need not ask. */
export const coversIdempotency = (route: RouteOptions) =>
  [route.method].flat().includes('POST') && route.config?.endpointClass !== undefined && route.config.idempotency !== false;

/** A route may answer more than POST; only a POST that passed the key pipeline takes part. */
const applies = (request: FastifyRequest) => request.method === 'POST' && request.principal !== undefined;

function idempotentRequest(request: FastifyRequest, key: string): IdempotentRequest {
  const where = { apiKeyId: request.principal!.apiKeyId, method: request.method, path: routedPath(request) };
  let sealingKey: Buffer | undefined;
  return {
    scope: { ...where, env: request.principal!.env, key: idempotencyKeyDigest(key) },
    fingerprint: requestFingerprint(request.body),
    sealingKey: () => (sealingKey ??= replayKey(key, where)),
  };
}

/**
 * SPEC 6 for every authenticated POST. The header is checked after the key pipeline's onRequest hook
 * (authentication, switches, scope, rate limit), so a revoked or killed key cannot replay and a replay still counts
 * against the limit; and the request is marked after body validation, so a request refused as invalid claims
 * nothing and a corrected retry may reuse its key. Claiming, keeping and replaying happen in the unit of work.
 */
export function installIdempotency(app: FastifyInstance, deps: Deps, overrides: Partial<IdempotencyOptions> = {}): IdempotencyOptions {
  const options = { ...DEFAULT_IDEMPOTENCY_OPTIONS, ...overrides };
  const onCoveredRoutes = <N extends RouteHookName>(name: N, hook: RouteHook<N>) => addRouteHook(app, name, (route) => (coversIdempotency(route) ? hook : undefined));

  onCoveredRoutes('preValidation', async (request) => {
    if (!applies(request)) return;
    const key = request.headers[HEADER];
    if (key !== undefined && !isWellFormedIdempotencyKey(key)) {
      throw new ApiError('BAD_REQUEST', 'The Idempotency-Key header must be 1 to 255 printable ASCII characters.', { header: 'Idempotency-Key' });
    }
  });

  onCoveredRoutes('preHandler', async (request) => {
    const key = request.headers[HEADER];
    if (applies(request) && typeof key === 'string') request.idempotency = idempotentRequest(request, key);
  });

  startSweeping(app, deps, options.sweepIntervalMs);
  return options;
}

/** Expired entries go in the background, in bounded batches. */
function startSweeping(app: FastifyInstance, deps: Deps, intervalMs: number): void {
  let sweeping = false;
  const sweeper = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    sweepExpiredIdempotencyKeys(deps.store.db, new Date(deps.now()))
      .then((deleted) => {
        if (deleted > 0) deps.logger.debug({ deleted }, 'expired idempotency keys swept');
      })
      .catch((error: unknown) => deps.logger.warn({ err: error }, 'idempotency sweep failed'))
      .finally(() => {
        sweeping = false;
      });
  }, intervalMs);
  sweeper.unref();
  app.addHook('onClose', async () => clearInterval(sweeper));
}
