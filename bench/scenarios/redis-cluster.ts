import { startRedisCluster } from '../../packages/server/test/fixtures/own-servers.ts';
import { whoamiArm } from '../lib/load.ts';
import { REDIS_URL } from '../lib/postgres.ts';
import { armRows, type Scenario } from '../lib/scenario.ts';

/**
 * GATEHOUSE_REDIS_CLUSTER: whoami with its rate limit decided on a three-master Redis Cluster started here (one
 * script call per slot), against the same on the single Redis at 127.0.0.1:6379, interleaved, on one PostgreSQL.
 */
export const scenario: Scenario = {
  name: 'redis-cluster',
  order: 10,
  title: 'Scenario 10: the rate limiter on Redis Cluster against a single Redis',
  async run(ctx) {
    const cluster = await startRedisCluster();
    try {
      const database = await ctx.createDatabase();
      const runs = ctx.rounds + 2;
      const single = await ctx.startServer({ label: 'redis', env: { DATABASE_URL: database.url, REDIS_URL }, options: { freshKeys: runs } });
      const sharded = await ctx.startServer({
        label: 'redis-cluster',
        env: { DATABASE_URL: database.url, REDIS_URL: cluster.url, GATEHOUSE_REDIS_CLUSTER: 'true' },
        options: { freshKeys: runs },
      });
      const { connections } = ctx;
      const arms = await ctx.interleave([whoamiArm('single', single, connections), whoamiArm('cluster', sharded, connections)]);
      const sharedSingle = await single.metric('gatehouse_rate_limiter_shared');
      const sharedCluster = await sharded.metric('gatehouse_rate_limiter_shared');
      const base = { label: 'whoami, single Redis limiter', ...arms.single! };
      const onCluster = { label: 'whoami, Redis Cluster limiter', ...arms.cluster! };
      const ratio = onCluster.rps / base.rps;
      return {
        rows: [...armRows(base.label, base), ...armRows(onCluster.label, onCluster, base)],
        goals: [{ goal: 'limiter on Redis Cluster ≥ 0.9 × limiter on a single Redis (whoami req/s)', actual: ratio.toFixed(3), met: ratio >= 0.9 }],
        notes: [`gatehouse_rate_limiter_shared after the run: single ${sharedSingle}, cluster ${sharedCluster} (1: every bucket decided in Redis).`, `Cluster: three masters on ${cluster.url}.`],
        data: { arms, sharedSingle, sharedCluster },
      };
    } finally {
      await cluster.destroy();
    }
  },
};
