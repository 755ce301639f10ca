import type { FastifyReply } from 'fastify';
import type { KeyState } from '../auth/key-state.ts';
import { isRateLimitTier, type EndpointClass } from '../config.ts';
import type { Deps } from '../deps.ts';
import { ApiError } from '../http/errors.ts';
import type { LimitDecision } from './gcra.ts';
import { secondsUp, setRateLimitHeaders } from './headers.ts';
import { DEFAULT_TIER } from './limiter.ts';

/**
 * SPEC 2 check 9: take one request from the key's bucket for the route's class, at the limit of the organization's
 * tier (read from the cached key state, which a tier change invalidates). Returns nothing when the in-memory limiter
 * answered synchronously, so that path costs no promise.
 */
export function enforceRateLimit(deps: Deps, reply: FastifyReply, state: KeyState, endpointClass: EndpointClass): Promise<void> | undefined {
  const { tier, limit } = limitOf(deps, state, endpointClass);
  const pending = deps.limiter.consume(state.apiKeyId, endpointClass, limit);
  if (pending instanceof Promise) return pending.then((decision) => apply(deps, reply, decision, endpointClass, tier));
  apply(deps, reply, pending, endpointClass, tier);
  return undefined;
}

/** The tier in force for a key and its limit for one class. */
export function limitOf(deps: Deps, state: KeyState, endpointClass: EndpointClass): { tier: string; limit: number } {
  const table = deps.config.rateLimits;
  // A tier dropped from GATEHOUSE_RATE_LIMITS since it was set gets the default tier, not unlimited requests.
  const tier = isRateLimitTier(table, state.rateLimitTier) ? state.rateLimitTier : DEFAULT_TIER;
  return { tier, limit: table[tier]![endpointClass] };
}

/** The refusal of check 9, as the pipeline answers it. */
export function rateLimitRefusal(decision: LimitDecision, endpointClass: EndpointClass): ApiError {
  // Rounded up, so a client that waits exactly Retry-After is never refused again (both values are ceilings).
  const seconds = secondsUp(decision.retryAfterMs);
  return new ApiError(
    'RATE_LIMITED',
    `Rate limit exceeded for ${endpointClass} requests on this key. Retry after ${seconds} s.`,
    { endpointClass, retryAfterMs: decision.retryAfterMs },
    { 'retry-after': String(seconds) },
  );
}

function apply(deps: Deps, reply: FastifyReply, decision: LimitDecision, endpointClass: EndpointClass, tier: string): void {
  setRateLimitHeaders(reply, decision, endpointClass, tier);
  if (decision.allowed) return;
  deps.metrics.rateLimited.inc({ class: endpointClass });
  throw rateLimitRefusal(decision, endpointClass);
}
