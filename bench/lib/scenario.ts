import type { BenchContext } from './context.ts';

/**
 * A benchmark scenario: one module in bench/scenarios/*.ts exporting `scenario`. The runner loads every such module,
 * runs the ones named on the command line (all when none is), and writes what each returns into bench/RESULTS.md.
 * Every figure is compared with a baseline measured in the same run, on the same machine, interleaved with it.
 */
export interface Scenario {
  /** What `npm run bench -- <name>` selects; by convention the module's file name. */
  name: string;
  /** Orders the RESULTS sections (the issue's scenario number; modules without one go last). */
  order?: number;
  title: string;
  run(ctx: BenchContext): Promise<ScenarioReport>;
}

export interface Row {
  figure: string;
  value: number;
  unit: string;
  /** The figure this one is compared with, and the ratio value / baseline. */
  baseline?: string;
  ratio?: number;
  /** The interleaved runs behind a median (five by default), when there were several. */
  runs?: number[];
  /**
   * value / baseline round by round, when both are arms of one interleaved comparison: the two runs of a round ran
   * back to back, so their ratio is spared the drift between rounds that a ratio of medians carries, and the spread of
   * these says how far the median ratio can be trusted on a shared machine.
   */
  roundRatios?: number[];
}

export interface Goal {
  goal: string;
  actual: string;
  met: boolean;
  /** Why it was missed (or what qualifies a pass), in one or two sentences. */
  why?: string;
}

export interface ScenarioReport {
  rows: Row[];
  goals: Goal[];
  notes: string[];
  /** Raw data for bench/results/*.json. */
  data?: Record<string, unknown>;
}

/** Thrown by a scenario that cannot run on this build (its route answers 404, say); the runner records the reason. */
export class ScenarioSkipped extends Error {}

export function ratioRow(figure: string, value: number, unit: string, baseline: { figure: string; value: number }, runs?: number[]): Row {
  return { figure, value, unit, baseline: baseline.figure, ratio: baseline.value === 0 ? Number.NaN : value / baseline.value, ...(runs ? { runs } : {}) };
}

/** The usual rows of a measured arm against a baseline arm: throughput, p99 and server CPU per response. */
export function armRows(
  label: string,
  arm: { rps: number; p99: number; cpuUsPerResponse: number; runs: Array<{ rps: number }> },
  baseline?: { label: string; rps: number; p99: number; cpuUsPerResponse: number; runs?: Array<{ rps: number }> },
): Row[] {
  const runs = arm.runs.map((run) => Math.round(run.rps));
  if (!baseline) {
    return [
      { figure: `${label} req/s`, value: Math.round(arm.rps), unit: 'req/s', runs },
      { figure: `${label} p99`, value: arm.p99, unit: 'ms' },
      { figure: `${label} server CPU per response`, value: arm.cpuUsPerResponse, unit: 'µs' },
    ];
  }
  const baselineRuns = baseline.runs;
  const roundRatios =
    baselineRuns && baselineRuns.length === arm.runs.length ? arm.runs.map((run, round) => run.rps / baselineRuns[round]!.rps) : undefined;
  return [
    { ...ratioRow(`${label} req/s`, Math.round(arm.rps), 'req/s', { figure: `${baseline.label} req/s`, value: baseline.rps }, runs), ...(roundRatios ? { roundRatios } : {}) },
    ratioRow(`${label} p99`, arm.p99, 'ms', { figure: `${baseline.label} p99`, value: baseline.p99 }),
    ratioRow(`${label} server CPU per response`, arm.cpuUsPerResponse, 'µs', { figure: `${baseline.label} server CPU per response`, value: baseline.cpuUsPerResponse }),
  ];
}
