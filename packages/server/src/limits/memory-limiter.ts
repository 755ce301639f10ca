import type { EndpointClass } from '../config.ts';
import { gcra, type LimitDecision } from './gcra.ts';
import { CLASS_INDEX, type RateLimiter } from './limiter.ts';

/**
 * Buckets in this process: one TAT per key in a map per endpoint class (a number in a map is the least a bucket can
 * cost: with 100,000 keys in use, a typed array per key cost three times the heap). A TAT in the past is a full
 * bucket, the same as no entry, so a sweep every SWEEP_US drops those: memory stays bounded by the keys active in the
 * last seconds (and those still paying back a burst), not by every key seen in the last minute.
 */
const SWEEP_US = 10_000_000;

export class MemoryLimiter implements RateLimiter {
  readonly shared = false;
  private readonly tats: readonly Map<string, number>[] = [new Map(), new Map(), new Map()];
  private nextSweepUs = 0;

  constructor(private readonly now: () => number = Date.now) {}

  consume(apiKeyId: string, endpointClass: EndpointClass, limitPerMinute: number): LimitDecision {
    const nowUs = Math.round(this.now() * 1000);
    if (nowUs >= this.nextSweepUs) this.sweep(nowUs);
    const tats = this.tats[CLASS_INDEX[endpointClass]]!;
    const outcome = gcra(tats.get(apiKeyId) ?? 0, nowUs, limitPerMinute);
    tats.set(apiKeyId, outcome.tatUs);
    return outcome;
  }

  peek(apiKeyId: string, endpointClass: EndpointClass, limitPerMinute: number): LimitDecision {
    return gcra(this.tats[CLASS_INDEX[endpointClass]]!.get(apiKeyId) ?? 0, Math.round(this.now() * 1000), limitPerMinute);
  }

  /** Buckets held, all classes together (tests). */
  get size(): number {
    return this.tats.reduce((sum, tats) => sum + tats.size, 0);
  }

  async close(): Promise<void> {
    for (const tats of this.tats) tats.clear();
  }

  private sweep(nowUs: number): void {
    this.nextSweepUs = nowUs + SWEEP_US;
    for (const tats of this.tats) {
      for (const [apiKeyId, tatUs] of tats) if (tatUs <= nowUs) tats.delete(apiKeyId);
    }
  }
}
