import type { Kysely } from 'kysely';
import { LRUCache } from 'lru-cache';
import type { Database } from '../db/schema.ts';
import { touchApiKeys } from '../db/repositories/api-keys.ts';

/**
 * `lastUsedAt` is written behind, at most about once a minute per key and never on the request path (SPEC 2).
 * A use only touches memory; a timer flushes what is due.
 */
export class UsageRecorder {
  private pending = new Map<string, Date>();
  private readonly lastQueued: LRUCache<string, number>;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly onError: (error: unknown) => void,
    private readonly intervalMs = 60_000,
    private readonly flushEveryMs = 5_000,
    private readonly now: () => number = Date.now,
  ) {
    this.lastQueued = new LRUCache({ max: 100_000 });
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.flushEveryMs);
    this.timer.unref();
  }

  record(apiKeyId: string): void {
    const now = this.now();
    const last = this.lastQueued.get(apiKeyId);
    if (last !== undefined && now - last < this.intervalMs) return;
    this.lastQueued.set(apiKeyId, now);
    this.pending.set(apiKeyId, new Date(now));
  }

  /** Keys whose last write-behind time is remembered (a bounded LRU). */
  get trackedKeys(): number {
    return this.lastQueued.size;
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
