import { loadArm, whoamiArm } from '../lib/load.ts';
import { armRows, type Scenario } from '../lib/scenario.ts';

/** Three ranges, the one that matches the bench's client (127.0.0.1) last: every request walks all three. */
const THREE_CIDRS = ['2001:db8::/32', '203.0.113.0/24', '127.0.0.0/8'];
/** The bulk group of keys that carry THREE_CIDRS, one per measured run. */
const RESTRICTED = 'restricted';

/**
 * Issue 20: check 5a of SPEC 2 on the hot path. whoami for a key with three allowedCidrs against a key with none, both
 * keys of one server, interleaved in the same run. The ranges are parsed when the key's state is read,
 * so a request parses only its client address and compares it with each range.
 */
export const scenario: Scenario = {
  name: 'allowed-cidrs',
  order: 12,
  title: 'Scenario 12: GET /v1/whoami for a key with three allowedCidrs against a key with none',
  async run(ctx) {
    const runs = ctx.rounds + 2;
    // One server holds both kinds of key, so the two arms differ only by the key: with a server each, the server
    // that happened to run first or to serve the healthz arm ran whoami up to 15% faster, whichever key it held.
    const server = await ctx.startServer({
      label: 'both',
      options: { freshKeys: runs, bulk: { total: 0, groups: [{ name: RESTRICTED, count: runs, cost: 4, allowedCidrs: THREE_CIDRS }] } },
    });
    const { connections } = ctx;
    const arms = await ctx.interleave([
      loadArm('healthz', { url: `${server.baseUrl}/healthz`, connections }, server.cpuSeconds),
      whoamiArm('whoami-none', server, connections),
      whoamiArm('whoami-three', server, connections, RESTRICTED),
    ]);
    const healthz = { label: 'healthz', ...arms.healthz! };
    const plain = { label: 'whoami, no allowedCidrs', ...arms['whoami-none']! };
    const restricted = { label: 'whoami, three allowedCidrs', ...arms['whoami-three']! };
    const ratio = restricted.rps / plain.rps;
    const non200 = restricted.runs.reduce((sum, run) => sum + run.responses - (run.statusCounts['200'] ?? 0), 0);
    return {
      rows: [
        ...armRows('healthz', healthz),
        ...armRows(plain.label, plain, healthz),
        ...armRows(restricted.label, restricted, plain),
      ],
      goals: [{ goal: 'whoami with three allowedCidrs ≥ 0.97 × whoami with none', actual: ratio.toFixed(3), met: ratio >= 0.97 }],
      notes: [
        `allowedCidrs ${JSON.stringify(THREE_CIDRS)}; the client (127.0.0.1) matches the last. Non-200 answers in the restricted arm: ${non200}.`,
      ],
      data: { arms },
    };
  },
};
