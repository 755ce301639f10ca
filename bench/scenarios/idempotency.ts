import { randomBytes } from 'node:crypto';
import { loadArm } from '../lib/load.ts';
import { armRows, type Scenario } from '../lib/scenario.ts';

const REPLAYED_KEYS = 64;

/**
 * Scenario 3: POST /v1/projects with an Idempotency-Key: first requests (each key new, so each creates a project)
 * and replays (keys already answered, so the stored answer comes back). Skipped while the route answers 404.
 */
export const scenario: Scenario = {
  name: 'idempotency',
  order: 3,
  title: 'Scenario 3: POST /v1/projects with Idempotency-Key, first requests and replays',
  async run(ctx) {
    const server = await ctx.startServer({ label: 'embedded', options: { keys: ['writer'] } });
    const { connections } = ctx;
    const url = `${server.baseUrl}/v1/projects`;
    const headers = { 'x-api-key': server.keys.writer!.key, 'content-type': 'application/json' };
    const body = JSON.stringify({ name: 'Bench project', timezone: 'Europe/Berlin', primaryLanguage: 'en' });

    const runId = randomBytes(4).toString('hex');
    const replayKeys = Array.from({ length: REPLAYED_KEYS }, (_, index) => `bench-${runId}-replay-${index}`);
    const first = await ctx.requireRoute(server, '/v1/projects', { method: 'POST', headers: { ...headers, 'idempotency-key': replayKeys[0]! }, body });
    if (first.status !== 201) throw new Error(`POST /v1/projects answered ${first.status}: ${(await first.text()).slice(0, 300)}`);
    for (const key of replayKeys.slice(1)) {
      const response = await fetch(url, { method: 'POST', headers: { ...headers, 'idempotency-key': key }, body });
      await response.arrayBuffer();
    }
    const replay = await fetch(url, { method: 'POST', headers: { ...headers, 'idempotency-key': replayKeys[0]! }, body });
    const replayed = replay.headers.get('idempotent-replayed');
    await replay.arrayBuffer();

    let fresh = 0;
    let cycled = 0;
    const arms = await ctx.interleave([
      loadArm('healthz', { url: `${server.baseUrl}/healthz`, connections }, server.cpuSeconds),
      loadArm(
        'first',
        {
          url,
          method: 'POST',
          headers,
          body,
          connections,
          setupRequest: (request) => ({ ...request, headers: { ...request.headers, 'idempotency-key': `bench-${runId}-first-${fresh++}` } }),
        },
        server.cpuSeconds,
      ),
      loadArm(
        'replay',
        {
          url,
          method: 'POST',
          headers,
          body,
          connections,
          setupRequest: (request) => ({ ...request, headers: { ...request.headers, 'idempotency-key': replayKeys[cycled++ % REPLAYED_KEYS]! } }),
        },
        server.cpuSeconds,
      ),
    ]);
    const healthz = { label: 'healthz', ...arms.healthz! };
    const firstArm = { label: 'POST first', ...arms.first! };
    const replayArm = { label: 'POST replay', ...arms.replay! };
    const statuses = (name: string) => JSON.stringify(arms[name]!.runs.map((run) => run.statusCounts));
    return {
      rows: [...armRows('healthz', healthz), ...armRows(firstArm.label, firstArm, healthz), ...armRows(replayArm.label, replayArm, firstArm)],
      goals: [],
      notes: [
        `Embedded store. First requests each carry a new Idempotency-Key (${fresh.toLocaleString('en-US')} projects created in all); replays cycle over ${REPLAYED_KEYS} keys already answered (Idempotent-Replayed: ${replayed ?? 'absent'}).`,
        `Statuses per run: first ${statuses('first')}; replay ${statuses('replay')}.`,
      ],
      data: { arms, replayedHeader: replayed },
    };
  },
};
