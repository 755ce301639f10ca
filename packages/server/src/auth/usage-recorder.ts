import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { touchApiKeys } from '../keys/repository.ts';
import { DEFAULT_MAX_CACHED_KEYS } from './key-verifier.ts';

/**
 * `lastUsedAt` is written behind, at most about once a minute per key and never on the request path (SPEC 2).
 * A use only touches memory; a timer flushes what is due.
 */
export class UsageRecorder {
  /** apiKeyId → when it was used (a number, not a Date: with many keys in use this map is large). */
  private pending = new Map<string, number>();
  /**
   * Keys queued in the current window: a key is queued at most once per window. A set that is emptied when the
   * window ends (or when it holds `maxTracked` keys, which only ends the window early) is bounded, and asking it
   * costs every authenticated request less than an LRU lookup would.
   */
  private readonly queuedThisWindow = new Set<string>();
  private windowEndsAt = 0;
  /** Uses queued to be written since the process started (each is a row updated by the next flush). */
  queuedUses = 0;
  private timer: NodeJS.Timeout | undefined;

  private readonly intervalMs: number;
  private readonly flushEveryMs: number;
  private readonly maxTracked: number;
  private readonly now: () => number;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly onError: (error: unknown) => void,
    options: { intervalMs?: number; flushEveryMs?: number; maxTracked?: number; now?: () => number } = {},
  ) {
    this.intervalMs = options.intervalMs ?? 60_000;
    this.flushEveryMs = options.flushEveryMs ?? 5_000;
    // As many as the verifier caches: a bound below the keys in use would end the window early on every pass over
    // them, and queue (and write) every key again each time.
    this.maxTracked = options.maxTracked ?? DEFAULT_MAX_CACHED_KEYS;
    this.now = options.now ?? Date.now;
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.flushEveryMs);
    this.timer.unref();
  }

  record(apiKeyId: string): void {
    const now = this.now();
    if (now >= this.windowEndsAt) {
      this.queuedThisWindow.clear();
      this.windowEndsAt = now + this.intervalMs;
    } else if (this.queuedThisWindow.has(apiKeyId)) {
      return;
    } else if (this.queuedThisWindow.size >= this.maxTracked) {
      // Only a key not yet queued ends the window early: with exactly maxTracked keys in use, none does.
      this.queuedThisWindow.clear();
      this.windowEndsAt = now + this.intervalMs;
    }
    this.queuedThisWindow.add(apiKeyId);
    this.pending.set(apiKeyId, now);
    this.queuedUses++;
  }

  /** Keys queued in the current window (at most maxTracked). */
  get trackedKeys(): number {
    return this.queuedThisWindow.size;
  }

  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    try {
      await touchApiKeys(this.db, batch);
    } catch (error) {
      this.onError(error);
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }
}
