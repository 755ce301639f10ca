import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { EndpointClass } from '../config.ts';
import { nodeOfSlot } from '../redis/connect.ts';
import type { LimitDecision } from './gcra.ts';
import type { RateLimiter } from './limiter.ts';
import type { MemoryLimiter } from './memory-limiter.ts';
import { slotOfKey, type RedisLimiter } from './redis-limiter.ts';

export interface ShardedLimiterOptions {
  /** The cluster client; owned: connected by start(), closed by close(). */
  client: Redis;
  redis: RedisLimiter;
  memory: MemoryLimiter;
  logger: Logger;
  /** How long a shard that failed is left alone before one request tries it again. */
  retryAfterMs?: number;
  /** Told the number of shards whose buckets are in memory now, whenever it changes. */
  onLocalShards: (count: number) => void;
  now?: () => number;
}

interface DownShard {
  retryAt: number;
  /** A request is trying the shard again; the others stay on memory meanwhile. */
  probing: boolean;
}

/** Before the cluster client knows the slot map, every bucket is on one unknown "shard". */
const UNMAPPED = 'unmapped';

/**
 * Rate limits on Redis Cluster (SPEC 11, GATEHOUSE_REDIS_CLUSTER). Buckets are spread over the cluster's masters by
 * API key (redis-limiter.ts hash-tags them); when one master stops answering, only the buckets it holds fall back to
 * this instance's memory, and the other masters keep sharing theirs. A failed shard is tried again by one request
 * at a time, and its buckets go back to shared limits as soon as that request succeeds.
 */
export class ShardedLimiter implements RateLimiter {
  private readonly down = new Map<string, DownShard>();
  private readonly now: () => number;
  private closed = false;

  constructor(private readonly options: ShardedLimiterOptions) {
    this.now = options.now ?? Date.now;
    // A slot map arrived: requests are routed by node from now on, and the placeholder shard goes.
    options.client.on('ready', () => this.markUp(UNMAPPED));
    options.client.on('error', () => {});
    options.client.on('node error', () => {});
  }

  async start(): Promise<void> {
    await this.options.client.connect().catch(() => undefined);
    this.options.onLocalShards(this.down.size);
  }

  get shared(): boolean {
    return this.down.size === 0;
  }

  consume(apiKeyId: string, endpointClass: EndpointClass, limitPerMinute: number): LimitDecision | Promise<LimitDecision> {
    const shard = nodeOfSlot(this.options.client, slotOfKey(apiKeyId)) ?? UNMAPPED;
    const down = this.down.get(shard);
    if (down) {
      if (down.probing || this.now() < down.retryAt) return this.options.memory.consume(apiKeyId, endpointClass, limitPerMinute);
      down.probing = true;
    }
    return this.consumeShared(shard, apiKeyId, endpointClass, limitPerMinute);
  }

  peek(apiKeyId: string, endpointClass: EndpointClass, limitPerMinute: number): LimitDecision | Promise<LimitDecision> {
    const shard = nodeOfSlot(this.options.client, slotOfKey(apiKeyId)) ?? UNMAPPED;
    if (this.down.has(shard)) return this.options.memory.peek(apiKeyId, endpointClass, limitPerMinute);
    return this.options.redis.peek(apiKeyId, endpointClass, limitPerMinute).catch(() => this.options.memory.peek(apiKeyId, endpointClass, limitPerMinute));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.options.client.disconnect();
    await this.options.memory.close();
  }

  /** Bounded by the nodes' commandTimeout (create-limiter.ts): no timer of its own per request on the hot path. */
  private async consumeShared(shard: string, apiKeyId: string, endpointClass: EndpointClass, limitPerMinute: number): Promise<LimitDecision> {
    try {
      const decision = await this.options.redis.consume(apiKeyId, endpointClass, limitPerMinute);
      if (this.down.has(shard)) this.markUp(shard);
      return decision;
    } catch (error) {
      this.markDown(shard, error);
      return this.options.memory.consume(apiKeyId, endpointClass, limitPerMinute);
    }
  }

  private markDown(shard: string, cause: unknown): void {
    if (this.closed) return;
    const retryAt = this.now() + (this.options.retryAfterMs ?? 500);
    const known = this.down.get(shard);
    if (known) {
      known.retryAt = retryAt;
      known.probing = false;
      return;
    }
    this.down.set(shard, { retryAt, probing: false });
    this.options.onLocalShards(this.down.size);
    this.options.logger.warn(
      { shard, localShards: this.down.size, reason: cause instanceof Error ? cause.message : String(cause) },
      'Redis Cluster shard unreachable: the rate-limit buckets it holds fall back to in-memory buckets on this instance until it is back',
    );
  }

  private markUp(shard: string): void {
    if (this.closed || !this.down.delete(shard)) return;
    this.options.onLocalShards(this.down.size);
    this.options.logger.info({ shard, localShards: this.down.size }, 'Redis Cluster shard answers again: its rate-limit buckets are shared again');
  }
}
