import { startFlood } from '../lib/flood.ts';
import { measured, runLoad, share, type Arm, type LoadResult } from '../lib/load.ts';
import { cpus } from 'node:os';
import { armRows, ratioRow, type Row, type Scenario } from '../lib/scenario.ts';
import type { ServerHandle } from '../lib/server-process.ts';
import { round } from '../lib/stats.ts';

const HASH_VERIFICATIONS = 'gatehouse_key_hash_verifications_total';
/** Enough flood connections to keep every bcrypt slot busy with some waiting, few enough to drain in a second. */
const SATURATING_CONNECTIONS = 4;
/** Where the flood comes from; the measured key comes from 127.0.0.1. */
const FLOOD_ADDRESS = '127.0.0.2';

interface FloodRun {
  arm: string;
  flood: LoadResult;
  bcryptCalls: number;
}

async function settled(servers: ServerHandle[]): Promise<void> {
  // Hashes queued by a flood finish after it stops; the next arm, on either server, must not pay for them.
  for (const server of servers) await server.hashesSettled();
}

/**
 * Scenario 4: a flood of well-formed keys with valid checksums and wrong secrets for one known key_id, at full
 * speed from a process of its own, while an already verified key is measured on the same server. With the
 * production defaults (bcrypt cost 12, a core fewer hashes at once than the machine has, 30 failures a minute per
 * address and per key_id); then, with the failure throttle lifted, a flood that keeps bcrypt at its bound the whole
 * time, on a server with the default bound and on one that lets every core hash (the default before this bench).
 */
export const scenario: Scenario = {
  name: 'flood',
  order: 4,
  title: 'Scenario 4: a verified key while a wrong-secret flood runs',
  async run(ctx) {
    const freshKeys = 2 * (ctx.rounds + 1);
    const production = await ctx.startServer({ label: 'defaults', options: { keys: ['target'], freshKeys } });
    const unthrottled = await ctx.startServer({
      label: 'unthrottled',
      env: { GATEHOUSE_AUTH_FAILURES_PER_MINUTE: '1000000' },
      options: { keys: ['target'], freshKeys },
    });
    // The same with bcrypt allowed on every core (the default before this bench), for comparison in the same run.
    const everyCore = await ctx.startServer({
      label: 'every-core',
      env: { GATEHOUSE_AUTH_FAILURES_PER_MINUTE: '1000000', GATEHOUSE_HASH_CONCURRENCY: String(cpus().length) },
      options: { keys: ['target'], freshKeys },
    });
    const servers = [production, unthrottled, everyCore];
    const { connections } = ctx;
    const floodRuns: FloodRun[] = [];

    // Each run measures a key verified just before it, so no run holds a re-verification (60 s cache TTL).
    const whoami = async (server: ServerHandle) => ({ url: `${server.baseUrl}/v1/whoami`, headers: { 'x-api-key': await server.freshKey() }, connections });
    const quiet = (name: string, server: ServerHandle): Arm => ({
      name,
      run: async (duration) => {
        await settled(servers);
        const spec = await whoami(server);
        return measured(() => runLoad({ ...spec, duration }), server.cpuSeconds);
      },
    });
    const flooded = (name: string, server: ServerHandle, floodConnections: number): Arm => ({
      name,
      run: async (duration) => {
        await settled(servers);
        const spec = await whoami(server);
        const before = (await server.metric(HASH_VERIFICATIONS)) ?? 0;
        const flood = startFlood({
          url: `${server.baseUrl}/v1/whoami`,
          prefix: server.keyPrefix,
          env: 'live',
          keyId: server.keys.target!.keyId,
          connections: floodConnections,
          durationSec: duration + 1,
          localAddress: FLOOD_ADDRESS,
        });
        await flood.started;
        const result = await measured(() => runLoad({ ...spec, duration }), server.cpuSeconds);
        const floodResult = await flood.done;
        const bcryptCalls = ((await server.metric(HASH_VERIFICATIONS)) ?? 0) - before;
        floodRuns.push({ arm: name, flood: floodResult, bcryptCalls });
        ctx.log(`    flood: ${Math.round(floodResult.rps)} req/s ${JSON.stringify(floodResult.statusCounts)}, ${bcryptCalls} bcrypt calls`);
        return result;
      },
    });


    // Six arms: slightly shorter runs keep the whole bench within its ten minutes.
    const arms = await ctx.interleave([
      quiet('quiet', production),
      flooded('flood', production, connections),
      quiet('quiet-unthrottled', unthrottled),
      flooded('bcrypt-bound', unthrottled, SATURATING_CONNECTIONS),
      quiet('quiet-every-core', everyCore),
      flooded('bcrypt-every-core', everyCore, SATURATING_CONNECTIONS),
    ], { durationSec: Math.min(ctx.durationSec, 4), warmupSec: Math.min(ctx.warmupSec, 2) });
    await settled(servers);
    const peak = {
      defaults: (await production.metric('gatehouse_key_hash_peak_concurrency')) ?? Number.NaN,
      unthrottled: (await unthrottled.metric('gatehouse_key_hash_peak_concurrency')) ?? Number.NaN,
      everyCore: (await everyCore.metric('gatehouse_key_hash_peak_concurrency')) ?? Number.NaN,
    };
    const bound = production.hashConcurrency;

    const quietArm = { label: 'quiet', ...arms.quiet! };
    const floodArm = { label: 'during flood', ...arms.flood! };
    const quietB = { label: 'quiet (throttle lifted)', ...arms['quiet-unthrottled']! };
    const boundArm = { label: 'during bcrypt-bound flood (throttle lifted)', ...arms['bcrypt-bound']! };
    const quietC = { label: `quiet (throttle lifted, ${everyCore.hashConcurrency} hashes at once)`, ...arms['quiet-every-core']! };
    const everyCoreArm = { label: `during bcrypt-bound flood, ${everyCore.hashConcurrency} hashes at once`, ...arms['bcrypt-every-core']! };
    // The first flood run of each arm is its warm-up; the figures below are the measured runs.
    const measuredFloods = (arm: string) => floodRuns.filter((run) => run.arm === arm).slice(1);
    const floods = measuredFloods('flood');
    const boundFloods = measuredFloods('bcrypt-bound');
    const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
    const floodRps = sum(floods.map((run) => run.flood.rps)) / floods.length;
    const share429 = sum(floods.map((run) => share(run.flood, '429'))) / floods.length;
    const allBcrypt = sum(floodRuns.filter((run) => run.arm === 'flood').map((run) => run.bcryptCalls));
    const throughputRatio = floodArm.rps / quietArm.rps;
    const p99Ratio = floodArm.p99 / quietArm.p99;
    const serverTotal = floodArm.rps + floodRps;

    const rows: Row[] = [
      ...armRows('whoami quiet', quietArm),
      ...armRows('whoami during flood', floodArm, { ...quietArm, label: 'whoami quiet' }),
      { figure: 'flood responses/s (mean of measured runs)', value: round(floodRps), unit: 'req/s' },
      { figure: 'flood answered 429', value: round(share429 * 100, 1), unit: '%', runs: floods.map((run) => round(share(run.flood, '429') * 100, 1)) },
      ratioRow('server total during flood (whoami + flood)', round(serverTotal), 'req/s', { figure: 'whoami quiet req/s', value: quietArm.rps }),
      { figure: 'bcrypt calls by the flood, warm-up and measured runs', value: allBcrypt, unit: 'calls', runs: floodRuns.filter((run) => run.arm === 'flood').map((run) => run.bcryptCalls) },
      { figure: 'peak concurrent bcrypt (defaults)', value: peak.defaults, unit: `of ${bound}` },
      ...armRows('whoami quiet (throttle lifted)', quietB),
      ...armRows('whoami during bcrypt-bound flood', boundArm, { ...quietB, label: 'whoami quiet (throttle lifted)' }),
      { figure: 'bcrypt calls, bcrypt-bound flood', value: sum(boundFloods.map((run) => run.bcryptCalls)), unit: 'calls', runs: boundFloods.map((run) => run.bcryptCalls) },
      { figure: 'peak concurrent bcrypt (throttle lifted)', value: peak.unthrottled, unit: `of ${unthrottled.hashConcurrency}` },
      ...armRows(`whoami quiet (${everyCore.hashConcurrency} hashes at once)`, quietC),
      ...armRows(`whoami during bcrypt-bound flood (${everyCore.hashConcurrency} hashes at once)`, everyCoreArm, { ...quietC, label: `whoami quiet (${everyCore.hashConcurrency} hashes at once)` }),
      { figure: `peak concurrent bcrypt (${everyCore.hashConcurrency} hashes at once)`, value: peak.everyCore, unit: `of ${everyCore.hashConcurrency}` },
    ];
    const boundRatio = boundArm.rps / quietB.rps;
    const everyCoreRatio = everyCoreArm.rps / quietC.rps;
    return {
      rows,
      goals: [
        {
          goal: 'verified key keeps ≥ 0.8 of quiet throughput during the flood',
          actual: `${throughputRatio.toFixed(3)} (bcrypt-bound flood: ${boundRatio.toFixed(3)} with at most ${unthrottled.hashConcurrency} at once, ${everyCoreRatio.toFixed(3)} with ${everyCore.hashConcurrency})`,
          met: throughputRatio >= 0.8,
          ...(throughputRatio < 0.8
            ? {
                why: `the flood answered ${Math.round(floodRps)} responses/s (${(share429 * 100).toFixed(1)}% 429, held ${production.authThrottleHoldMs} ms each) and ran ${sum(floods.map((run) => run.bcryptCalls))} bcrypt verifications in the measured runs; on these ${cpus().length} cores the server, both load generators and the bcrypt thread (niceness ${production.hashNiceness}) share the CPU`,
              }
            : {}),
        },
        {
          goal: 'verified key p99 during the flood < 2 × quiet p99',
          actual: `${floodArm.p99} ms vs ${quietArm.p99} ms (${p99Ratio.toFixed(2)}×)`,
          met: p99Ratio < 2,
        },
        {
          goal: `bcrypt never more than the configured bound (${bound}) at once`,
          actual: `peak ${peak.defaults} (defaults), ${peak.unthrottled} (throttle lifted), ${peak.everyCore} of ${everyCore.hashConcurrency} (every core)`,
          met: peak.defaults <= bound && peak.unthrottled <= unthrottled.hashConcurrency && peak.everyCore <= everyCore.hashConcurrency,
        },
      ],
      notes: [
        `Flood: ${connections} connections (as many as the measured key) from a separate process, every request a fresh well-formed key with a valid checksum for the known key_id of another key of the same organization, each sent when the previous answer arrived; production defaults (bcrypt cost ${production.bcryptCost}, at most ${bound} at once on threads of niceness ${production.hashNiceness}, GATEHOUSE_AUTH_FAILURES_PER_MINUTE 30 per address and per key_id, 429s to throttled failures held ${production.authThrottleHoldMs} ms in the tarpit).`,
        `Server CPU per response is the whole process's CPU (event loop and bcrypt threads) over the verified key's responses, so during a flood it includes the bcrypt work done for the flood.`,
        `The flood comes from ${FLOOD_ADDRESS} and the measured key from 127.0.0.1, as an attacker and a partner come from different hosts. (From one address, the verified key is served from the cache before the throttle is consulted, until its entry expires after 60 s: then its re-verification is refused with 429 like the flood, for the rest of the window. An earlier run of this bench showed it.)`,
        `Bcrypt-bound floods: throttle lifted (GATEHOUSE_AUTH_FAILURES_PER_MINUTE=1000000), ${SATURATING_CONNECTIONS} connections, so every request reaches bcrypt and the bound is full the whole time: what the concurrency bound alone leaves to verified keys, with the default bound (${unthrottled.hashConcurrency}: a core fewer than the machine's ${cpus().length}) and with every core hashing (${everyCore.hashConcurrency}, the default before this bench).`,
        `Flood responses per measured run: ${floods.map((run) => JSON.stringify(run.flood.statusCounts)).join(' ')}. The failure throttle counts a failure when its bcrypt ends, so each minute's window lets the first ${30} wrong secrets (and those already queued) through to bcrypt before the 429s start.`,
      ],
      data: { arms, floodRuns, peak },
    };
  },
};
