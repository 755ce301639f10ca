import { cpus, loadavg, release, totalmem, type } from 'node:os';
import type { BenchSettings } from './context.ts';
import type { ScenarioReport } from './scenario.ts';

export interface Machine {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  node: string;
  loadAverageAtStart: number[];
}

export function describeMachine(): Machine {
  const processors = cpus();
  return {
    cores: processors.length,
    cpuModel: processors[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${type()} ${release()}`,
    node: process.version,
    loadAverageAtStart: loadavg().map((value) => Math.round(value * 100) / 100),
  };
}

export type Outcome =
  | { name: string; title: string; status: 'ran'; seconds: number; report: ScenarioReport }
  | { name: string; title: string; status: 'skipped' | 'failed'; seconds: number; reason: string };

export interface RunRecord {
  date: string;
  machine: Machine;
  loadAverageAtEnd: number[];
  settings: BenchSettings;
  selected: string[] | 'all';
  wallSeconds: number;
  outcomes: Outcome[];
  /** Modules in bench/scenarios that export no `scenario`. */
  ignoredModules: string[];
}

const formatNumber = (value: number): string => {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  return value.toLocaleString('en-US', { maximumFractionDigits: Math.abs(value) >= 100 ? 0 : 2 });
};

export function renderMarkdown(run: RunRecord): string {
  const { machine } = run;
  const lines: string[] = [
    '# Gatehouse benchmark results',
    '',
    'Written by `npm run bench` (bench/run.ts); the raw figures are in `bench/results/latest.json`. Every ratio compares two',
    'figures measured in the same run on the same machine, in interleaved runs (A B C, B C A, C A B, …), medians of five unless',
    'a row says otherwise; a throughput compared with another arm also shows its ratio round by round, whose spread says',
    'how far the median ratio can be trusted on a shared machine. Load comes from autocannon in the bench process; each',
    'server is a child process of its own.',
    '',
    `- Date: ${run.date}`,
    `- Machine: ${machine.cores} cores, ${machine.cpuModel}, ${machine.memoryGiB} GiB memory, ${machine.os}`,
    `- Node: ${machine.node}`,
    `- Load average (1, 5, 15 min) at start ${machine.loadAverageAtStart.join(' / ')}, at end ${run.loadAverageAtEnd.join(' / ')}` +
      ' (the machine is shared; other work shows up here)',
    `- Runs: ${run.settings.rounds} × ${run.settings.durationSec} s per arm after ${run.settings.warmupSec} s of warm-up, ${run.settings.connections} connections;` +
      ` scenarios: ${run.selected === 'all' ? 'all' : run.selected.join(', ')}; wall time ${Math.round(run.wallSeconds)} s`,
    '',
    '## Goals',
    '',
    '| scenario | goal | actual | met |',
    '|---|---|---|---|',
  ];
  for (const outcome of run.outcomes) {
    if (outcome.status !== 'ran') {
      lines.push(`| ${outcome.name} | — | ${outcome.status}: ${outcome.reason.replaceAll('|', '\\|')} | — |`);
      continue;
    }
    for (const goal of outcome.report.goals) {
      lines.push(`| ${outcome.name} | ${goal.goal} | ${goal.actual} | ${goal.met ? 'yes' : '**no**'}${goal.why ? `: ${goal.why}` : ''} |`);
    }
  }
  for (const outcome of run.outcomes) {
    lines.push('', `## ${outcome.title}`, '', `\`${outcome.name}\`, ${Math.round(outcome.seconds)} s.`, '');
    if (outcome.status !== 'ran') {
      lines.push(`**${outcome.status === 'skipped' ? 'Skipped' : 'Failed'}:** ${outcome.reason}`);
      continue;
    }
    lines.push('| figure | value | unit | ratio | to | runs |', '|---|---:|---|---:|---|---|');
    for (const row of outcome.report.rows) {
      const ratio = row.ratio === undefined ? '' : row.ratio.toFixed(3);
      const byRound = row.roundRatios ? ` (ratio by round: ${row.roundRatios.map((value) => value.toFixed(2)).join(', ')})` : '';
      lines.push(`| ${row.figure} | ${formatNumber(row.value)} | ${row.unit} | ${ratio} | ${row.baseline ?? ''} | ${row.runs?.map(formatNumber).join(', ') ?? ''}${byRound} |`);
    }
    if (outcome.report.notes.length > 0) lines.push('', ...outcome.report.notes.map((note) => `- ${note}`));
  }
  if (run.ignoredModules.length > 0) {
    lines.push('', `Modules in bench/scenarios that export no \`scenario\` (not run): ${run.ignoredModules.join(', ')}.`);
  }
  return `${lines.join('\n')}\n`;
}
