import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Store } from '../db/create-db.ts';
import { LocalInvalidationBus, type InvalidationBus } from './invalidation.ts';
import { PgInvalidationBus } from './pg-invalidation-bus.ts';
import { RedisInvalidationBus } from './redis-invalidation-bus.ts';

/**
 * SPEC 7 and 11: the bus that reaches every instance of this deployment. Redis pub/sub when REDIS_URL is set,
 * else PostgreSQL LISTEN/NOTIFY when the store is PostgreSQL, else (the embedded store: one process) in-process.
 */
export async function createInvalidationBus(config: Config, store: Store, logger: Logger): Promise<InvalidationBus> {
  if (config.redisUrl) return RedisInvalidationBus.start({ url: config.redisUrl, cluster: config.redisCluster, logger });
  if (store.pgPool) return PgInvalidationBus.start({ pool: store.pgPool, logger });
  return new LocalInvalidationBus();
}
