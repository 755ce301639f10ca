import type { DeliveryError } from './repository.ts';

export interface RetryPolicy {
  /** Attempts of one delivery, the first included. */
  maxAttempts: number;
  /** Delay before the second attempt; each later delay is `backoffFactor` times the one before, up to `backoffMaxMs`. */
  backoffBaseMs: number;
  backoffFactor: number;
  backoffMaxMs: number;
  /** Each delay is spread by ± this fraction, so receivers that failed together are not retried together. */
  jitter: number;
}

/**
 * 8 attempts: retries after about 5 s, 30 s, 3 min, 18 min, 1.8 h, 10.8 h and 12 h, about 25 hours in all, in the
 * spirit of the Standard Webhooks example schedule (first retry within seconds, the last about a day later).
 */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 8,
  backoffBaseMs: 5_000,
  backoffFactor: 6,
  backoffMaxMs: 12 * 60 * 60_000,
  jitter: 0.2,
};

/** The outcome of one attempt. A delivery counts only a 2xx answer as delivered (Standard Webhooks). */
export type AttemptResult =
  | { delivered: true; statusCode: number; latencyMs: number }
  | { delivered: false; statusCode: number | null; latencyMs: number; error: DeliveryError; retryAfterMs?: number };

export type NextStep =
  | { status: 'delivered' }
  | { status: 'pending'; retryInMs: number }
  /** `disableEndpoint`: the receiver said it wants nothing more (410 Gone). */
  | { status: 'failed'; disableEndpoint?: string };

/** The wait after the `attemptsMade`-th failed attempt (1 for the first). */
export function retryDelayMs(attemptsMade: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const nominal = Math.min(policy.backoffBaseMs * policy.backoffFactor ** Math.max(0, attemptsMade - 1), policy.backoffMaxMs);
  return Math.round(nominal * (1 - policy.jitter + 2 * policy.jitter * random()));
}

/** What a delivery becomes after its `attempts`-th attempt ended with `result`. */
export function nextStep(attempts: number, result: AttemptResult, policy: RetryPolicy, random: () => number = Math.random): NextStep {
  if (result.delivered) return { status: 'delivered' };
  if (result.statusCode === 410) return { status: 'failed', disableEndpoint: 'gone' };
  if (attempts >= policy.maxAttempts) return { status: 'failed' };
  const backoff = retryDelayMs(attempts, policy, random);
  // A receiver's Retry-After may push the next attempt later, never earlier, and never past the longest backoff.
  const asked = result.retryAfterMs === undefined ? 0 : Math.min(result.retryAfterMs, policy.backoffMaxMs);
  return { status: 'pending', retryInMs: Math.max(backoff, asked) };
}

/** Retry-After in delay-seconds or as an HTTP date; anything else is ignored. */
export function retryAfterMs(header: string | undefined, nowMs: number): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
