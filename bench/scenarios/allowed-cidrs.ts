import { loadArm, whoamiArm } from '../lib/load.ts';
import { armRows, type Scenario } from '../lib/scenario.ts';

/** Three ranges, the one that matches the bench's client (127.0.0.1) last: every request walks all three. */
const THREE_CIDRS = ['2001:db8::/32', '203.0.113.0/24', '127.0.0.0/8'];

/**
 * Issue 20: check 5a of SPEC 2 on the hot path. whoami for a key with three allowedCidrs against a key with none, on
 * two servers alike but for that, interleaved in the same run. The ranges are parsed when the key's state is read,
 * so a request parses only its client address and compares it with each range.
 */
export const scenario: Scenario = {
  name: 'allowed-cidrs',
  order: 12,
  title: 'Scenario 12: GET /v1/whoami for a key with three allowedCidrs against a key with none',
  async run(ctx) {
    const runs = ctx.rounds + 2;
    const none = await ctx.startServer({ label: 'no-cidrs', options: { freshKeys: runs } });
    const three = await ctx.startServer({ label: 'three-cidrs', options: { freshKeys: runs, freshKeyCidrs: THREE_CIDRS } });
    const { connections } = ctx;
    // Both servers get the same pattern of work (healthz, then whoami): a server that also served the healthz arm ran
    // its whoami about 15% faster than the other, whichever key it held, which said nothing about allowedCidrs.
    const arms = await ctx.interleave([
      loadArm('healthz', { url: `${none.baseUrl}/healthz`, connections }, none.cpuSeconds),
      whoamiArm('whoami-none', none, connections),
      loadArm('healthz-three', { url: `${three.baseUrl}/healthz`, connections }, three.cpuSeconds),
      whoamiArm('whoami-three', three, connections),
    ]);
    const healthz = { label: 'healthz', ...arms.healthz! };
    const healthzThree = { label: 'healthz, second server', ...arms['healthz-three']! };
    const plain = { label: 'whoami, no allowedCidrs', ...arms['whoami-none']! };
    const restricted = { label: 'whoami, three allowedCidrs', ...arms['whoami-three']! };
    const ratio = restricted.rps / plain.rps;
    const non200 = restricted.runs.reduce((sum, run) => sum + run.responses - (run.statusCounts['200'] ?? 0), 0);
    return {
      rows: [
        ...armRows('healthz', healthz),
        ...armRows(healthzThree.label, healthzThree, healthz),
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
