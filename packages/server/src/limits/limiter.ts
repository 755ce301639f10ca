import type { EndpointClass } from '../config.ts';
import type { LimitDecision } from './gcra.ts';

export type { LimitDecision } from './gcra.ts';

/**
 * SPEC 5: one bucket per (apiKeyId, endpointClass). Implementations: memory (one process) and Redis (shared by
 * every instance); both pass test/rate-limits-limiter.test.ts. A synchronous answer is allowed so that the
 * in-memory path costs no promise.
 */
export interface RateLimiter {
  consume(apiKeyId: string, endpointClass: EndpointClass, limitPerMinute: number): LimitDecision | Promise<LimitDecision>;
  /** What `consume` would decide now, without taking a request from the bucket (SPEC 8.9, explain). */
  peek(apiKeyId: string, endpointClass: EndpointClass, limitPerMinute: number): LimitDecision | Promise<LimitDecision>;
  /** True while buckets are shared across instances. */
  readonly shared: boolean;
  close(): Promise<void>;
}

/** The limits of a tier that is no longer configured (SPEC 5's default tier). */
export const DEFAULT_TIER = 'standard';

/** Index of a class in per-key arrays, so the hot path needs no `${key}:${class}` string. */
export const CLASS_INDEX: Readonly<Record<EndpointClass, number>> = { 'read-light': 0, 'write-light': 1, 'long-running': 2 };
