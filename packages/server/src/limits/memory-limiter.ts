import type { EndpointClass } from '../config.ts';
import { gcra, MINUTE_US, type LimitDecision } from './gcra.ts';
import { CLASS_INDEX, type RateLimiter } from './limiter.ts';

/**
 * Buckets in this process: per key, one TAT per endpoint class. A TAT in the past is a full bucket, the same as no
 * entry, so a sweep once a minute drops those and memory stays bounded by the keys active in the last minute.
 */
export class MemoryLimiter implements RateLimiter {
  readonly shared = false;
  private readonly tats = new Map<string, Float64Array>();
  private nextSweepUs = 0;

  constructor(private readonly now: () => number = Date.now) {}

  consume(apiKeyId: string, endpointClass: EndpointClass, limitPerMinute: number): LimitDecision {
    const nowUs = Math.round(this.now() * 1000);
    if (nowUs >= this.nextSweepUs) this.sweep(nowUs);
    let tats = this.tats.get(apiKeyId);
    if (!tats) {
      tats = new Float64Array(3);
      this.tats.set(apiKeyId, tats);
    }
    const index = CLASS_INDEX[endpointClass];
    const outcome = gcra(tats[index]!, nowUs, limitPerMinute);
    tats[index] = outcome.tatUs;
    return outcome;
  }

  peek(apiKeyId: string, endpointClass: EndpointClass, limitPerMinute: number): LimitDecision {
    const tats = this.tats.get(apiKeyId);
    return gcra(tats?.[CLASS_INDEX[endpointClass]] ?? 0, Math.round(this.now() * 1000), limitPerMinute);
  }

  async close(): Promise<void> {
    this.tats.clear();
  }

  private sweep(nowUs: number): void {
    this.nextSweepUs = nowUs + MINUTE_US;
    for (const [apiKeyId, tats] of this.tats) {
      if (tats[0]! <= nowUs && tats[1]! <= nowUs && tats[2]! <= nowUs) this.tats.delete(apiKeyId);
    }
  }
}
