import type { Arm } from './load.ts';
import type { ServerHandle } from './server-process.ts';

export type Phase = 'warm-up' | 'measured';

/**
 * An arm whose every run is a server process of its own: started, warmed up for `warmupSec`, measured, stopped. On
 * this machine one process against another, same build and settings, kept a bias of up to 20% in req/s and 1.3× in
 * p99 over every round (bench usage, 2026-12-03: two servers with the log off, round ratios 0.97 to 1.21); with one
 * process per arm that bias lands whole on a ratio. Fresh processes turn it into noise between rounds, which the
 * medians and the round ratios show. `armFor` gives the load for one phase of a server's life.
 */
export function freshServerArm(
  name: string,
  start: (run: number) => Promise<ServerHandle>,
  armFor: (server: ServerHandle, phase: Phase) => Arm,
  warmupSec: number,
): Arm {
  let runs = 0;
  return {
    name,
    run: async (durationSec) => {
      const server = await start(++runs);
      try {
        if (warmupSec > 0) await armFor(server, 'warm-up').run(warmupSec);
        return await armFor(server, 'measured').run(durationSec);
      } finally {
        await server.stop();
      }
    },
  };
}
