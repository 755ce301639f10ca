import { startFlood } from '../lib/flood.ts';
import { measured, runLoad, share, type Arm, type LoadResult } from '../lib/load.ts';
import { armRows, ratioRow, type Row, type Scenario } from '../lib/scenario.ts';
import type { ServerHandle } from '../lib/server-process.ts';
import { round } from '../lib/stats.ts';

const HASH_VERIFICATIONS = 'gatehouse_key_hash_verifications_total';
/** Known keys whose key_ids the flood sends wrong secrets for (the measured key's among them). */
const KNOWN_KEYS = 1_000;
/** Loopback addresses the flood comes from, in turn. */
const FLOOD_ADDRESSES = 200;

interface FloodRun {
  arm: string;
  flood: LoadResult;
  bcryptCalls: number;
}

/**
 * Scenario 4: a flood of well-formed keys with valid checksums and wrong secrets for known key_ids, from many client
 * addresses, at full speed from a process of its own, while a verified key is measured on the same server (embedded
 * store). With the production defaults (30 failures a minute per address and per key_id, then 429s held in the
 * tarpit), and with the failure throttle lifted, so that every flood request is read by key_id and HMAC'd.
 */
export const scenario: Scenario = {
  name: 'flood',
  order: 4,
  title: 'Scenario 4: a verified key while wrong secrets for known key_ids flood in from many addresses',
  async run(ctx) {
    const options = { keys: ['measured'], bulk: { total: KNOWN_KEYS, groups: [{ name: 'known', count: KNOWN_KEYS, cost: 4 }] } };
    const production = await ctx.startServer({ label: 'defaults', options });
    const unthrottled = await ctx.startServer({ label: 'unthrottled', env: { GATEHOUSE_AUTH_FAILURES_PER_MINUTE: '1000000' }, options });
    const { connections } = ctx;
    const floodRuns: FloodRun[] = [];
    for (const server of [production, unthrottled]) await server.prime('measured');

    const whoami = (server: ServerHandle) => ({ url: `${server.baseUrl}/v1/whoami`, headers: { 'x-api-key': server.keys.measured!.key }, connections });
    const quiet = (name: string, server: ServerHandle): Arm => ({ name, run: (duration) => measured(() => runLoad({ ...whoami(server), duration }), server.cpuSeconds) });
    const flooded = (name: string, server: ServerHandle): Arm => ({
      name,
      run: async (duration) => {
        const before = (await server.metric(HASH_VERIFICATIONS)) ?? 0;
        const keyIds = [server.keys.measured!.keyId, ...server.groups.known!.map((key) => key.split('_')[2]!)];
        const flood = startFlood({ url: `${server.baseUrl}/v1/whoami`, prefix: server.keyPrefix, env: 'live', keyIds, connections, durationSec: duration + 1, addresses: FLOOD_ADDRESSES });
        await flood.started;
        const result = await measured(() => runLoad({ ...whoami(server), duration }), server.cpuSeconds);
        const floodResult = await flood.done;
        const bcryptCalls = ((await server.metric(HASH_VERIFICATIONS)) ?? 0) - before;
        floodRuns.push({ arm: name, flood: floodResult, bcryptCalls });
        ctx.log(`    flood: ${Math.round(floodResult.rps)} req/s ${JSON.stringify(floodResult.statusCounts)}, ${bcryptCalls} bcrypt calls`);
        return result;
      },
    });

    const arms = await ctx.interleave([
      quiet('quiet', production),
      flooded('flood', production),
      quiet('quiet-unthrottled', unthrottled),
      flooded('flood-unthrottled', unthrottled),
    ]);
    const quietArm = { label: 'whoami quiet', ...arms.quiet! };
    const floodArm = { label: 'whoami during the flood', ...arms.flood! };
    const quietB = { label: 'whoami quiet (throttle lifted)', ...arms['quiet-unthrottled']! };
    const floodB = { label: 'whoami during the flood (throttle lifted)', ...arms['flood-unthrottled']! };
    const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
    const runsOf = (arm: string) => floodRuns.filter((run) => run.arm === arm);
    const floodRps = (arm: string) => sum(runsOf(arm).map((run) => run.flood.rps)) / Math.max(1, runsOf(arm).length);
    const bcryptCalls = sum(floodRuns.map((run) => run.bcryptCalls));
    const throughputRatio = floodArm.rps / quietArm.rps;
    const p99Ratio = floodArm.p99 / quietArm.p99;
    const rows: Row[] = [
      ...armRows(quietArm.label, quietArm),
      ...armRows(floodArm.label, floodArm, quietArm),
      { figure: 'flood responses/s (mean of its runs)', value: round(floodRps('flood')), unit: 'req/s' },
      { figure: 'flood answered 429', value: round((sum(runsOf('flood').map((run) => share(run.flood, '429'))) / Math.max(1, runsOf('flood').length)) * 100, 1), unit: '%' },
      ...armRows(quietB.label, quietB),
      ...armRows(floodB.label, floodB, quietB),
      ratioRow('flood responses/s, throttle lifted (every one read by key_id and HMAC\'d, 401)', round(floodRps('flood-unthrottled')), 'req/s', { figure: 'whoami quiet (throttle lifted) req/s', value: quietB.rps }),
      { figure: 'bcrypt verifications caused by every flood run (warm-up included)', value: bcryptCalls, unit: 'calls', runs: floodRuns.map((run) => run.bcryptCalls) },
    ];
    return {
      rows,
      goals: [
        { goal: 'no bcrypt for wrong secrets of known key_ids', actual: `${bcryptCalls} calls`, met: bcryptCalls === 0 },
        { goal: 'verified key keeps ≥ 0.9 × quiet throughput during the flood', actual: `${throughputRatio.toFixed(3)} (throttle lifted: ${(floodB.rps / quietB.rps).toFixed(3)})`, met: throughputRatio >= 0.9 },
        { goal: 'verified key p99 during the flood ≤ 1.5 × quiet p99', actual: `${floodArm.p99} ms vs ${quietArm.p99} ms (${p99Ratio.toFixed(2)}×; throttle lifted ${(floodB.p99 / quietB.p99).toFixed(2)}×)`, met: p99Ratio <= 1.5 },
      ],
      notes: [
        `Flood: ${connections} connections from a separate process, from ${FLOOD_ADDRESSES} loopback addresses in turn (the measured key comes from 127.0.0.1), every request a fresh well-formed key with a valid checksum and a wrong secret for one of ${KNOWN_KEYS + 1} known key_ids in turn (the measured key's among them), each sent when the previous answer arrived. Embedded store; ${KNOWN_KEYS} keys with cost-4 bcrypt hashes and digests.`,
        `Defaults: GATEHOUSE_AUTH_FAILURES_PER_MINUTE 30 per address and per key_id, 429s to throttled failures held ${production.authThrottleHoldMs} ms in the tarpit. Throttle lifted: every flood request costs one read by key_id and one HMAC, and is answered 401.`,
        `Flood responses per run: ${floodRuns.map((run) => `${run.arm} ${JSON.stringify(run.flood.statusCounts)}`).join('; ')}.`,
      ],
      data: { arms, floodRuns },
    };
  },
};
