import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { loadArm, whoamiArm } from '../lib/load.ts';
import { armRows, type Scenario } from '../lib/scenario.ts';

/** Makes the bench server a build without the tracing packages: `@opentelemetry/*` cannot be resolved in it. */
const WITHOUT_OPENTELEMETRY = fileURLToPath(new URL('../../packages/server/test/fixtures/without-opentelemetry.mjs', import.meta.url));

/**
 * Traces (SPEC 11): whoami on a build without the OpenTelemetry packages, with them installed but OTEL_* unset (never
 * loaded), and with traces exported over OTLP/HTTP to a receiver in this process that accepts and discards them,
 * interleaved, beside the healthz floor.
 */
export const scenario: Scenario = {
  name: 'tracing',
  order: 9,
  title: 'Scenario 9: GET /v1/whoami with traces off and on (OTLP/HTTP)',
  async run(ctx) {
    let exports = 0;
    const sink = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        exports++;
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(sink.address() as { port: number }).port}`;
    try {
      const runs = ctx.rounds + 2;
      const absent = await ctx.startServer({ label: 'otel-absent', nodeArgs: ['--import', WITHOUT_OPENTELEMETRY], options: { freshKeys: runs } });
      const off = await ctx.startServer({ label: 'otel-unset', options: { freshKeys: runs } });
      const on = await ctx.startServer({ label: 'otel-on', env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BSP_SCHEDULE_DELAY: '500' }, options: { freshKeys: runs } });
      const { connections } = ctx;
      const arms = await ctx.interleave([
        loadArm('healthz', { url: `${off.baseUrl}/healthz`, connections }, off.cpuSeconds),
        whoamiArm('whoami-absent', absent, connections),
        whoamiArm('whoami-off', off, connections),
        whoamiArm('whoami-on', on, connections),
      ]);
      const healthz = { label: 'healthz', ...arms.healthz! };
      const withoutPackages = { label: 'whoami, build without the packages', ...arms['whoami-absent']! };
      const unset = { label: 'whoami, OTEL_* unset', ...arms['whoami-off']! };
      const traced = { label: 'whoami, traces exported', ...arms['whoami-on']! };
      const onRatio = traced.rps / unset.rps;
      const unsetRatio = unset.rps / withoutPackages.rps;
      return {
        rows: [
          ...armRows('healthz', healthz),
          ...armRows(withoutPackages.label, withoutPackages, healthz),
          ...armRows(unset.label, unset, withoutPackages),
          ...armRows(traced.label, traced, unset),
        ],
        goals: [
          { goal: 'whoami with the packages present and OTEL_* unset ≥ 0.98 × the build without them', actual: unsetRatio.toFixed(3), met: unsetRatio >= 0.98 },
          { goal: 'whoami with traces on ≥ 0.8 × whoami with OTEL_* unset', actual: onRatio.toFixed(3), met: onRatio >= 0.8 },
        ],
        notes: [
          `The build without the packages is the same server started with packages/server/test/fixtures/without-opentelemetry.mjs, a module hook that makes every \`@opentelemetry/*\` import fail as a missing package would; it starts and serves because with OTEL_* unset nothing of OpenTelemetry is imported (observability/tracing.ts).`,
          `The traced server posted ${exports} OTLP batches to a receiver in the bench process during the run (embedded store).`,
        ],
        data: { arms, exports },
      };
    } finally {
      await new Promise((resolve) => sink.close(resolve));
    }
  },
};
