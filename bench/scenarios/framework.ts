import { startBaseline } from '../lib/baseline-process.ts';
import { loadArm } from '../lib/load.ts';
import { armRows, ratioRow, type Scenario } from '../lib/scenario.ts';

/**
 * Scenario 0: the hot path against the framework, not against the product's own routes (issue 14). A bare Fastify
 * app (no logging) and a Fastify app with pino request logging to /dev/null, each answering a small JSON, interleaved
 * with Gatehouse's authenticated whoami (embedded store, in-memory limiter) at the default LOG_LEVEL.
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
      const gatehouse = await ctx.startServer({ label: 'info', options: { keys: ['single'] } });
      await gatehouse.prime('single');
      const { connections } = ctx;
      const arms = await ctx.interleave([
        loadArm('bare', { url: `${bare.baseUrl}/json`, connections }, bare.cpuSeconds),
        loadArm('pino', { url: `${logged.baseUrl}/json`, connections }, logged.cpuSeconds),
        loadArm('whoami', { url: `${gatehouse.baseUrl}/v1/whoami`, headers: { 'x-api-key': gatehouse.keys.single!.key }, connections }, gatehouse.cpuSeconds),
      ]);
      const bareArm = { label: 'bare Fastify', ...arms.bare! };
      const pinoArm = { label: 'Fastify + pino request logging', ...arms.pino! };
      const whoami = { label: 'Gatehouse whoami (LOG_LEVEL=info)', ...arms.whoami! };
      const toBare = whoami.rps / bareArm.rps;
      const toPino = whoami.rps / pinoArm.rps;
      const non200 = whoami.runs.reduce((sum, run) => sum + run.responses - (run.statusCounts['200'] ?? 0), 0);
      return {
        rows: [
          ...armRows(bareArm.label, bareArm),
          ...armRows(pinoArm.label, pinoArm, bareArm),
          ...armRows(whoami.label, whoami, pinoArm),
          ratioRow(`${whoami.label} req/s`, Math.round(whoami.rps), 'req/s', { figure: `${bareArm.label} req/s`, value: bareArm.rps }),
          ratioRow(`${whoami.label} server CPU per response`, whoami.cpuUsPerResponse, 'µs', { figure: `${bareArm.label} server CPU per response`, value: bareArm.cpuUsPerResponse }),
        ],
        goals: [
          { goal: 'whoami ≥ 0.9 × Fastify with pino request logging (req/s)', actual: `${toPino.toFixed(3)} (CPU per response implies ${(pinoArm.cpuUsPerResponse / whoami.cpuUsPerResponse).toFixed(3)})`, met: toPino >= 0.9 },
          { goal: 'whoami ≥ 0.65 × bare Fastify (req/s)', actual: `${toBare.toFixed(3)} (CPU per response implies ${(bareArm.cpuUsPerResponse / whoami.cpuUsPerResponse).toFixed(3)})`, met: toBare >= 0.65 },
        ],
        notes: [
          'The baselines are bench/baselines/fastify-server.ts: Fastify answering GET /json with a small JSON object, with no logger, or with pino at info writing to /dev/null through the same buffered asynchronous destination Gatehouse uses (Fastify logs a line when a request comes in and one when it completes; Gatehouse writes one line per request).',
          `whoami: one key, verified once before the runs (its digest and state cached), ${connections} connections, no pipelining; it answered 200 to every measured request${non200 > 0 ? ` except ${non200}` : ''}. Server CPU per response is read from /proc for the baselines and from /metrics for Gatehouse.`,
        ],
        data: { arms },
      };
    } finally {
      await Promise.all(baselines.map((baseline) => baseline.stop()));
    }
  },
};
