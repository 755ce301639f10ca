import { startBaseline } from '../lib/baseline-process.ts';
import { loadArm } from '../lib/load.ts';
import { armRows, ratioRow, type Scenario } from '../lib/scenario.ts';

/**
 * Scenario 0: the hot path against the framework, not against the product's own routes (issue 14). A bare Fastify
 * app (no logging) and a Fastify app with pino request logging to /dev/null, each answering a small JSON, interleaved
 * with Gatehouse's authenticated whoami (embedded store, in-memory limiter) at the default LOG_LEVEL. Two more arms
 * split whoami's cost without serving as baselines: Gatehouse answering whoami's shape with no key (what every route
 * pays), and whoami on a second server with usage and the request log off (what the key pipeline adds).
 */
export const scenario: Scenario = {
  name: 'framework',
  order: 0,
  title: 'Scenario 0: authenticated whoami against bare Fastify and Fastify with pino request logging',
  async run(ctx) {
    const baselines: Array<{ stop(): Promise<void> }> = [];
    try {
      const bare = await startBaseline('bare');
      baselines.push(bare);
      const logged = await startBaseline('pino');
      baselines.push(logged);
      const gatehouse = await ctx.startServer({ label: 'info', options: { keys: ['single'], shapeRoute: true } });
      await gatehouse.prime('single');
      // Not baselines: they split whoami's cost into the parts every route pays, the key pipeline, and the recording.
      const unrecorded = await ctx.startServer({ label: 'info-unrecorded', env: { GATEHOUSE_USAGE_RECORDING: 'false' }, options: { keys: ['single'] } });
      await unrecorded.prime('single');
      const { connections } = ctx;
      const arms = await ctx.interleave([
        loadArm('bare', { url: `${bare.baseUrl}/json`, connections }, bare.cpuSeconds),
        loadArm('pino', { url: `${logged.baseUrl}/json`, connections }, logged.cpuSeconds),
        loadArm('whoami', { url: `${gatehouse.baseUrl}/v1/whoami`, headers: { 'x-api-key': gatehouse.keys.single!.key }, connections }, gatehouse.cpuSeconds),
        loadArm('shape', { url: `${gatehouse.baseUrl}/bench/whoami-shape`, connections }, gatehouse.cpuSeconds),
        loadArm('unrecorded', { url: `${unrecorded.baseUrl}/v1/whoami`, headers: { 'x-api-key': unrecorded.keys.single!.key }, connections }, unrecorded.cpuSeconds),
      ]);
      const bareArm = { label: 'bare Fastify', ...arms.bare! };
      const pinoArm = { label: 'Fastify + pino request logging', ...arms.pino! };
      const whoami = { label: 'Gatehouse whoami (LOG_LEVEL=info)', ...arms.whoami! };
      const shape = { label: 'Gatehouse whoami-shaped answer, no key', ...arms.shape! };
      const unrecordedArm = { label: 'Gatehouse whoami, usage and request log off', ...arms.unrecorded! };
      const toBare = whoami.rps / bareArm.rps;
      const cpu = (arm: { cpuUsPerResponse: number }) => arm.cpuUsPerResponse.toFixed(1);
      const toPino = whoami.rps / pinoArm.rps;
      const non200 = whoami.runs.reduce((sum, run) => sum + run.responses - (run.statusCounts['200'] ?? 0), 0);
      return {
        rows: [
          ...armRows(bareArm.label, bareArm),
          ...armRows(pinoArm.label, pinoArm, bareArm),
          ...armRows(whoami.label, whoami, pinoArm),
          ...armRows(shape.label, shape, pinoArm),
          ...armRows(unrecordedArm.label, unrecordedArm, pinoArm),
          ratioRow(`${whoami.label} req/s`, Math.round(whoami.rps), 'req/s', { figure: `${bareArm.label} req/s`, value: bareArm.rps }),
          ratioRow(`${whoami.label} server CPU per response`, whoami.cpuUsPerResponse, 'µs', { figure: `${bareArm.label} server CPU per response`, value: bareArm.cpuUsPerResponse }),
        ],
        goals: [
          { goal: 'whoami ≥ 0.9 × Fastify with pino request logging (req/s)', actual: `${toPino.toFixed(3)} (CPU per response implies ${(pinoArm.cpuUsPerResponse / whoami.cpuUsPerResponse).toFixed(3)})`, met: toPino >= 0.9 },
          { goal: 'whoami ≥ 0.65 × bare Fastify (req/s)', actual: `${toBare.toFixed(3)} (CPU per response implies ${(bareArm.cpuUsPerResponse / whoami.cpuUsPerResponse).toFixed(3)})`, met: toBare >= 0.65 },
        ],
        notes: [
          'The baselines are bench/baselines/fastify-server.ts: Fastify answering GET /json with a small JSON object, with no logger, or with pino at info writing to /dev/null through the same buffered asynchronous destination Gatehouse uses (Fastify logs a line when a request comes in and one when it completes; Gatehouse writes one line per request).',
          `Where whoami's server CPU per response goes (medians of this run; the two extra arms are a split, not baselines): Fastify + pino ${cpu(pinoArm)} µs; Gatehouse's answer of whoami's shape with no key ${cpu(shape)} µs (what every route pays: its hooks, edge headers, metrics, its log line, the response schema); whoami with usage and the request log off ${cpu(unrecordedArm)} µs (the key pipeline: parse, HMAC, cache, access checks, rate limit, on a second server); whoami ${cpu(whoami)} µs (usage counting and the request log row, mostly the embedded store's thread writing it).`,
          `whoami: one key, verified once before the runs (its digest and state cached), ${connections} connections, no pipelining; it answered 200 to every measured request${non200 > 0 ? ` except ${non200}` : ''}. Server CPU per response is read from /proc for the baselines and from /metrics for Gatehouse.`,
        ],
        data: { arms },
      };
    } finally {
      await Promise.all(baselines.map((baseline) => baseline.stop()));
    }
  },
};
