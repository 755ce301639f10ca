import { LRUCache } from 'lru-cache';

/**
 * Counts failed verifications per subject (client address, key_id) in fixed one-minute windows (SPEC 2, floods). A
 * failure over the limit is answered 429 rather than 401; before bcrypt, a throttled subject's attempts are
 * serialised rather than refused (key-verifier.ts, proveByBcrypt), so a bcrypt flood is bounded without a correct
 * key being refused.
 */
export class FailureThrottle {
  private readonly windows: LRUCache<string, { start: number; failures: number }>;

  constructor(
    private readonly maxFailuresPerWindow: number,
    private readonly now: () => number = Date.now,
    private readonly windowMs = 60_000,
    maxSubjects = 100_000,
  ) {
    this.windows = new LRUCache({ max: maxSubjects });
  }

  /** Milliseconds until `subject` may try again, or 0 when it may try now. */
  blockedFor(subject: string): number {
    const window = this.windows.get(subject);
    if (!window) return 0;
    const elapsed = this.now() - window.start;
    if (elapsed >= this.windowMs) return 0;
    return window.failures >= this.maxFailuresPerWindow ? this.windowMs - elapsed : 0;
  }

  /** Subjects with a window held (bounded by maxSubjects). */
  get size(): number {
    return this.windows.size;
  }

  /**
   * Records a failed attempt against each subject and returns how long the attempt's answer is a 429 rather than a
   * 401 (0: answer 401). Asked only once the credential was checked and found wrong, never before: a correct key or
   * token is not refused because of other requests' failures (SPEC 2, floods), from its address or for its key_id.
   */
  refuseFailure(...subjects: string[]): number {
    let blockedMs = 0;
    for (const subject of subjects) blockedMs = Math.max(blockedMs, this.blockedFor(subject));
    for (const subject of subjects) this.recordFailure(subject);
    return blockedMs;
  }

  recordFailure(subject: string): void {
    const now = this.now();
    const window = this.windows.get(subject);
    if (!window || now - window.start >= this.windowMs) this.windows.set(subject, { start: now, failures: 1 });
    else window.failures++;
  }
}
