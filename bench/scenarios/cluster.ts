import { loadArm, whoamiArm } from '../lib/load.ts';
import { REDIS_URL } from '../lib/postgres.ts';
import { armRows, type Scenario } from '../lib/scenario.ts';

/**
 * Scenario 2: the cluster shape. The same comparison as scenario 1 on PostgreSQL with REDIS_URL set (so the shared
 * limiter, where this build has one), and whoami on PostgreSQL without Redis (the in-memory limiter) beside it.
 */
export const scenario: Scenario = {
  name: 'cluster',
  order: 2,
  title: 'Scenario 2: GET /v1/whoami against GET /healthz (PostgreSQL, Redis limiter)',
  async run(ctx) {
    const database = await ctx.createDatabase();
    const runs = ctx.rounds + 2;
    const shared = await ctx.startServer({ label: 'redis', env: { DATABASE_URL: database.url, REDIS_URL }, options: { freshKeys: runs } });
    const local = await ctx.startServer({ label: 'memory', env: { DATABASE_URL: database.url }, options: { freshKeys: runs } });
    const { connections } = ctx;

    const probe = await fetch(`${shared.baseUrl}/v1/whoami`, { headers: { 'x-api-key': await shared.freshKey() } });
    const limitHeader = probe.headers.get('x-ratelimit-limit');
    const sharedGauge = await shared.metric('gatehouse_rate_limiter_shared');

    const arms = await ctx.interleave([
      loadArm('healthz', { url: `${shared.baseUrl}/healthz`, connections }, shared.cpuSeconds),
      whoamiArm('whoami', shared, connections),
      whoamiArm('whoami-memory', local, connections),
    ]);
    const sharedAfter = await shared.metric('gatehouse_rate_limiter_shared');
    const healthz = { label: 'healthz', ...arms.healthz! };
    const whoami = { label: 'whoami (Redis limiter)', ...arms.whoami! };
    const memory = { label: 'whoami (in-memory limiter)', ...arms['whoami-memory']! };
    const ratio = whoami.rps / healthz.rps;
    const limiter =
      limitHeader === null
        ? 'no rate limiter on this build (whoami answers without X-RateLimit-Limit), so nothing was shared'
        : sharedGauge === 1 && sharedAfter === 1
          ? `the shared (Redis) limiter was active throughout (gatehouse_rate_limiter_shared = 1; X-RateLimit-Limit ${limitHeader})`
          : `a limiter answered (X-RateLimit-Limit ${limitHeader}) but gatehouse_rate_limiter_shared was ${sharedGauge} before and ${sharedAfter} after: not shared throughout`;

    return {
      rows: [...armRows('healthz', healthz), ...armRows(whoami.label, whoami, healthz), ...armRows(memory.label, memory, whoami)],
      goals: [{ goal: 'whoami (PostgreSQL + Redis limiter) ≥ 0.5 × healthz req/s', actual: ratio.toFixed(3), met: ratio >= 0.5 }],
      notes: [`Limiter: ${limiter}.`, `Both servers share one fresh PostgreSQL database at 127.0.0.1:5432, created and dropped by the bench.`],
      data: { arms, limitHeader, sharedGauge, sharedAfter },
    };
  },
};
