import type autocannon from 'autocannon';
import { randomBytes } from 'node:crypto';
import { formatKey, generateKeyId } from '../../packages/server/src/keys/format.ts';
import { measured, runLoad } from '../lib/load.ts';
import { metricValue } from '../lib/prometheus.ts';
import { ratioRow, type Row, type Scenario } from '../lib/scenario.ts';
import { round } from '../lib/stats.ts';

const MANY = 5_000;
const SAMPLES = 6;
/** Bounds the server gives its caches (key-verifier.ts, failure-throttle.ts, usage-recorder.ts). */
const BOUNDS: Record<string, number> = { keys: 200_000, failure_windows: 100_000, usage: 100_000 };

const mib = (bytes: number) => round(bytes / 2 ** 20, 1);

/**
 * Scenario 6: an hour of mixed traffic compressed into a minute (BENCH_MEMORY_SECONDS): the one key, 5,000 keys in
 * turn, unknown key_ids, wrong secrets for known key_ids and garbage, every bad key new, so every cache of the auth
 * path keeps filling. The failure throttle is lifted so bad keys reach the caches (the worst case for memory).
 */
export const scenario: Scenario = {
  name: 'memory',
  order: 6,
  title: 'Scenario 6: memory after an hour-equivalent of mixed traffic',
  async run(ctx) {
    const seconds = Number(process.env.BENCH_MEMORY_SECONDS || 60);
    const server = await ctx.startServer({
      label: 'embedded',
      env: { GATEHOUSE_AUTH_FAILURES_PER_MINUTE: '1000000' },
      options: { keys: ['single'], bulk: { total: MANY, groups: [{ name: 'many', count: MANY, cost: 4 }] } },
    });
    await server.prime('single');
    const many = server.groups.many!;
    const knownKeyIds = many.map((key) => key.split('_')[2]!);
    const prefix = server.keyPrefix;
    const mix: Record<string, number> = { single: 0, many: 0, unknownKeyId: 0, wrongSecret: 0, garbage: 0 };
    // Out of every 20 requests: 6 the one key, 4 the many keys in turn, 6 unknown key_ids, 3 wrong secrets for known
    // key_ids, 1 garbage. Half are bad, so the caches of failures reach their bounds within the run.
    const pick = (slot: number): [string, string] => {
      if (slot < 6) return ['single', server.keys.single!.key];
      if (slot < 10) return ['many', many[mix.many! % MANY]!];
      if (slot < 16) return ['unknownKeyId', formatKey(prefix, 'live', generateKeyId(), randomBytes(28))];
      if (slot < 19) return ['wrongSecret', formatKey(prefix, 'live', knownKeyIds[mix.wrongSecret! % MANY]!, randomBytes(28))];
      return ['garbage', `${prefix}_live_${randomBytes(12).toString('hex')}`];
    };
    let counter = 0;
    const setupRequest = (request: autocannon.Request): autocannon.Request => {
      const [kind, key] = pick(counter++ % 20);
      mix[kind]!++;
      return { ...request, headers: { ...request.headers, 'x-api-key': key } };
    };

    const before = await server.memory();
    const samples: Array<{ atSec: number; rss: number; heapUsed: number; caches: Record<string, number> }> = [];
    const started = performance.now();
    let total = 0;
    const statuses: Record<string, number> = {};
    for (let sample = 1; sample <= SAMPLES; sample++) {
      const result = await measured(() => runLoad({ url: `${server.baseUrl}/v1/whoami`, connections: ctx.connections, duration: seconds / SAMPLES, setupRequest }));
      total += result.responses;
      for (const [status, count] of Object.entries(result.statusCounts)) statuses[status] = (statuses[status] ?? 0) + count;
      const memory = await server.memory();
      const text = await server.metrics();
      const caches = Object.fromEntries(Object.keys(BOUNDS).map((cache) => [cache, metricValue(text, 'gatehouse_auth_cache_entries', { cache }) ?? Number.NaN]));
      samples.push({ atSec: round((performance.now() - started) / 1000, 1), ...memory, caches });
      ctx.log(`  ${samples.at(-1)!.atSec} s: ${total} requests, RSS ${mib(memory.rss)} MiB, heap ${mib(memory.heapUsed)} MiB, caches ${JSON.stringify(caches)}`);
    }
    const after = samples.at(-1)!;
    const half = samples[Math.floor(SAMPLES / 2) - 1]!;
    const rows: Row[] = [
      { figure: 'requests sent', value: total, unit: '' },
      { figure: 'RSS before', value: mib(before.rss), unit: 'MiB' },
      { figure: 'V8 heap used before', value: mib(before.heapUsed), unit: 'MiB' },
      ratioRow(`RSS at ${half.atSec} s`, mib(half.rss), 'MiB', { figure: 'RSS before', value: mib(before.rss) }),
      ratioRow(`RSS after ${after.atSec} s`, mib(after.rss), 'MiB', { figure: `RSS at ${half.atSec} s`, value: mib(half.rss) }),
      ratioRow(`V8 heap used at ${half.atSec} s`, mib(half.heapUsed), 'MiB', { figure: 'heap before', value: mib(before.heapUsed) }),
      ratioRow(`V8 heap used after ${after.atSec} s`, mib(after.heapUsed), 'MiB', { figure: `heap at ${half.atSec} s`, value: mib(half.heapUsed) }),
      ...Object.entries(after.caches).map(([cache, entries]) => ({ figure: `cache entries: ${cache}`, value: entries, unit: `of ${BOUNDS[cache]!.toLocaleString('en-US')}` })),
    ];
    const entriesOf = (caches: Record<string, number>) => Object.values(caches).reduce((sum, entries) => sum + entries, 0);
    const bytesPerEntry = (after.heapUsed - before.heapUsed) / Math.max(1, entriesOf(after.caches));
    const atBounds = before.heapUsed + bytesPerEntry * entriesOf(BOUNDS);
    rows.push(
      { figure: 'heap growth per cache entry over the run', value: round(bytesPerEntry), unit: 'bytes' },
      ratioRow('projected heap with every cache at its bound', mib(atBounds), 'MiB', { figure: 'heap before', value: mib(before.heapUsed) }),
    );
    const withinBounds = Object.entries(after.caches).every(([cache, entries]) => entries <= BOUNDS[cache]!);
    const full = Object.entries(after.caches).filter(([cache, entries]) => entries >= BOUNDS[cache]!).map(([cache]) => cache);
    return {
      rows,
      goals: [
        {
          goal: 'memory bounded: every auth cache within its bound',
          actual: `${withinBounds ? 'all within' : 'OVER'}; at their bound: ${full.length > 0 ? full.join(', ') : 'none yet'}`,
          met: withinBounds,
        },
      ],
      notes: [
        `Embedded store, GATEHOUSE_AUTH_FAILURES_PER_MINUTE=1000000, ${ctx.connections} connections for ${seconds} s. Mix sent: ${JSON.stringify(mix)}; statuses ${JSON.stringify(statuses)}.`,
        `Memory read after a forced full GC in the server at each sample. Samples: ${samples.map((sample) => `${sample.atSec} s ${mib(sample.rss)}/${mib(sample.heapUsed)} MiB`).join('; ')} (RSS/heap).`,
        'Each bad key is new, so the per-key_id failure windows take one entry per bad request until they reach their bound (a failed key is not cached); the RSS that remains after is PGlite, V8 and the caches at their bounds.',
      ],
      data: { before, samples, mix, statuses },
    };
  },
};
