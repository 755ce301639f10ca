import type { Phase } from './fresh-server-arm.ts';
import { logRound, summariesOf, type Arm, type ArmSummary, type LoadResult } from './load.ts';
import type { ServerHandle } from './server-process.ts';

/** A server of a side-by-side comparison: how a run's fresh process starts, and its load in each phase of its life. */
export interface SideBySideServer {
  name: string;
  start(run: number): Promise<ServerHandle>;
  armFor(server: ServerHandle, phase: Phase): Arm;
}

/**
 * Every round starts a fresh process of each server, warms them up together, measures them together under the same
 * load each, and stops them. Run one after another, even back to back, two servers here were compared across the
 * machine's drift: a second server with the log off differed from the first by 0.56 to 1.48× in p99 within a round
 * (bench usage at 5ea05bc). Side by side, whatever the shared cores do in a moment they do to every server at once:
 * two identical servers differed by 0.98 to 1.09× in req/s and 0.99 to 1.06× in p99 (2026-12-03, 8 rounds). A server
 * that costs more CPU a response gets less of the machine than its neighbours and answers fewer, later: the cost
 * shows as it does alone. The order the loads start in turns each round, since in a fixed order the first of the
 * bench's load generators to start had the higher p99 in six rounds of six (1.01 to 1.15×).
 */
export async function sideBySide(
  servers: SideBySideServer[],
  options: { rounds: number; durationSec: number; warmupSec: number; log: (message: string) => void },
): Promise<Record<string, ArmSummary>> {
  const runs = new Map<string, LoadResult[]>(servers.map((server) => [server.name, []]));
  for (let round = 1; round <= options.rounds; round++) {
    const order = servers.map((_, index) => servers[(index + round - 1) % servers.length]!);
    const handles = await Promise.all(order.map((server) => server.start(round)));
    try {
      const phase = (which: Phase, durationSec: number) => Promise.all(order.map((server, index) => server.armFor(handles[index]!, which).run(durationSec)));
      if (options.warmupSec > 0) await phase('warm-up', options.warmupSec);
      const results = await phase('measured', options.durationSec);
      order.forEach((server, index) => {
        runs.get(server.name)!.push(results[index]!);
        logRound(options.log, round, server.name, results[index]!);
      });
    } finally {
      await Promise.all(handles.map((handle) => handle.stop()));
    }
  }
  return summariesOf(runs);
}
