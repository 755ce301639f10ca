/**
 * The algorithm, in one sentence: GCRA (the generic cell rate algorithm, a token bucket stored as one timestamp):
 * each bucket keeps a theoretical arrival time (TAT); a request at `now` is admitted when TAT, moved one emission
 * interval (60 s / limit) later, is at most one minute ahead of `now`, and admitting it stores that later TAT.
 *
 * That is a bucket of `limit` requests that refills at `limit` per minute: a fresh bucket admits a burst of
 * `limit`, then one request per interval. Times are whole microseconds so that intervals such as 60 s / 7 stay
 * exact enough (rounded up, so never more than the limit) and every value fits a double exactly; the Redis script
 * (redis-limiter.ts) performs the same arithmetic.
 */

export interface LimitDecision {
  allowed: boolean;
  /** Requests per minute in force for this bucket. */
  limit: number;
  /** Requests that would pass right now, after this one. */
  remaining: number;
  /** Milliseconds until the bucket is full again (rounded up). */
  resetMs: number;
  /** Milliseconds until another request would pass, 0 when one would pass now (rounded up, so never early). */
  retryAfterMs: number;
}

export interface GcraOutcome extends LimitDecision {
  /** The TAT to store (unchanged when the request was refused). */
  tatUs: number;
}

export const MINUTE_US = 60_000_000;

/** Rounded up, so `limit` intervals never fit in less than a minute. */
export function emissionIntervalUs(limit: number): number {
  return Math.ceil(MINUTE_US / limit);
}

/** One GCRA step. `storedTatUs` is 0 (or anything in the past) for a full bucket. */
export function gcra(storedTatUs: number, nowUs: number, limit: number): GcraOutcome {
  const interval = emissionIntervalUs(limit);
  const window = interval * limit;
  const tat = storedTatUs > nowUs ? storedTatUs : nowUs;
  const next = tat + interval;
  const allowed = next - nowUs <= window;
  const kept = allowed ? next : tat;
  const ahead = kept - nowUs;
  // Never negative: a TAT stored under a lower limit's (slightly longer, rounded) window can sit beyond this one.
  const remaining = ahead >= window ? 0 : Math.floor((window - ahead) / interval);
  const waitUs = kept + interval - window - nowUs;
  return {
    allowed,
    limit,
    remaining,
    resetMs: Math.ceil(ahead / 1000),
    retryAfterMs: waitUs > 0 ? Math.ceil(waitUs / 1000) : 0,
    tatUs: kept,
  };
}
