import type { Logger } from 'pino';
import { connectRedis } from '../redis/connect.ts';
import { FailoverLimiter } from './failover-limiter.ts';
import type { RateLimiter } from './limiter.ts';
import { MemoryLimiter } from './memory-limiter.ts';
import { RedisLimiter } from './redis-limiter.ts';
import { ShardedLimiter } from './sharded-limiter.ts';

export const DEFAULT_REDIS_KEY_PREFIX = 'gatehouse:rl:';

export interface CreateLimiterOptions {
  redisUrl: string | undefined;
  /** REDIS_URL names the seed nodes of a Redis Cluster (GATEHOUSE_REDIS_CLUSTER). */
  redisCluster?: boolean;
  logger: Logger;
  /** The application clock: the in-memory buckets run on it. */
  now: () => number;
  /** A clock for the Redis script too (tests); without it the script uses Redis TIME (see redis-limiter.ts). */
  redisNow?: () => number;
  keyPrefix?: string;
  onSharedChange: (shared: boolean) => void;
  /** Redis Cluster: the number of shards whose buckets are in this instance's memory, whenever it changes. */
  onLocalShards?: (count: number) => void;
  /** A command that takes longer counts as Redis being down. */
  commandTimeoutMs?: number;
  probeIntervalMs?: number;
}

/** SPEC 5: Redis buckets when REDIS_URL is set (falling back to memory while it is unreachable), memory otherwise. */
export async function createRateLimiter(options: CreateLimiterOptions): Promise<RateLimiter> {
  const memory = new MemoryLimiter(options.now);
  options.onSharedChange(false);
  if (!options.redisUrl) return memory;
  const client = connectRedis({ url: options.redisUrl, cluster: options.redisCluster === true }, {
    lazyConnect: true,
    // No request waits on a dead connection: refuse at once while disconnected, give up on a slow answer, and
    // never replay a command after a reconnection (the request that sent it has been answered from memory).
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: options.commandTimeoutMs ?? 100,
    connectTimeout: 1000,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
  });
  const keyPrefix = options.keyPrefix ?? DEFAULT_REDIS_KEY_PREFIX;
  if (options.redisCluster) {
    const sharded = new ShardedLimiter({
      client,
      redis: new RedisLimiter(client, { keyPrefix, now: options.redisNow, cluster: true }),
      memory,
      logger: options.logger,
      onLocalShards: (count) => {
        options.onLocalShards?.(count);
        options.onSharedChange(count === 0);
      },
    });
    await sharded.start();
    return sharded;
  }
  const limiter = new FailoverLimiter({
    client,
    redis: new RedisLimiter(client, { keyPrefix, now: options.redisNow }),
    memory,
    logger: options.logger,
    onSharedChange: options.onSharedChange,
    probeIntervalMs: options.probeIntervalMs,
  });
  // Shared from the first request when Redis is there; when it is not, start on memory rather than wait for it.
  await limiter.start();
  return limiter;
}
