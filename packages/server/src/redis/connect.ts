import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/** How this deployment reaches Redis: REDIS_URL, and GATEHOUSE_REDIS_CLUSTER for a Redis Cluster (SPEC 11). */
export interface RedisTarget {
  url: string;
  /** `url` lists the seed nodes of a Redis Cluster, comma-separated. */
  cluster: boolean;
}

/** The seed nodes of a comma-separated REDIS_URL, as ioredis's cluster client takes them. */
export function clusterSeeds(url: string): { host: string; port: number }[] {
  return url
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const parsed = new URL(part.includes('://') ? part : `redis://${part}`);
      return { host: parsed.hostname, port: Number(parsed.port || 6379) };
    });
}

/** Password and user of the first seed, for every node of a cluster (they share them). */
function clusterCredentials(url: string): Pick<RedisOptions, 'username' | 'password'> {
  const first = new URL((url.split(',')[0] ?? '').trim());
  return { ...(first.username ? { username: decodeURIComponent(first.username) } : {}), ...(first.password ? { password: decodeURIComponent(first.password) } : {}) };
}

/**
 * One connection (or, on a cluster, one connection per node behind ioredis's cluster client) with the given
 * per-node options. Typed as `Redis`: the cluster client answers the same commands and events this code uses, and
 * routes each keyed command (a script included) to the node that holds its slot.
 */
export function connectRedis(target: RedisTarget, options: RedisOptions, cluster: Partial<ClusterOptions> = {}): Redis {
  if (!target.cluster) return new Redis(target.url, options);
  // The cluster client owns queueing and reconnection for all its nodes.
  const { lazyConnect, enableOfflineQueue, retryStrategy: _retryStrategy, ...nodeOptions } = options;
  const client = new Cluster(clusterSeeds(target.url), {
    lazyConnect,
    enableOfflineQueue,
    // Writes and scripts go to masters; a failover or a MOVED answer is followed a few times, briefly.
    scaleReads: 'master',
    maxRedirections: 4,
    retryDelayOnFailover: 50,
    retryDelayOnClusterDown: 50,
    retryDelayOnTryAgain: 50,
    slotsRefreshTimeout: 1000,
    clusterRetryStrategy: (attempt) => Math.min(attempt * 100, 1000),
    ...cluster,
    redisOptions: { ...nodeOptions, ...clusterCredentials(target.url) },
  });
  return client as unknown as Redis;
}

/** The node (host:port) that holds a slot, as the cluster client last saw it; undefined on a single Redis. */
export function nodeOfSlot(client: Redis, slot: number): string | undefined {
  return (client as unknown as Partial<Cluster>).slots?.[slot]?.[0];
}
