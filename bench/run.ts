/**
 * `npm run bench [-- <scenario> ...] [-- --profile]`: runs the scenarios in bench/scenarios (all, or those named),
 * each against servers it starts on 127.0.0.1, and writes bench/RESULTS.md and bench/results/{latest,<date>}.json.
 * --profile makes every server child write a CPU profile to bench/results/profiles and prints its hottest functions.
 * BENCH_ROUNDS, BENCH_DURATION, BENCH_WARMUP and BENCH_CONNECTIONS override the run shape (for quick trials).
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createContext, type BenchSettings } from './lib/context.ts';
import { summarizeProfile } from './lib/profile.ts';
import { describeMachine, renderMarkdown, type Outcome, type RunRecord } from './lib/report.ts';
import { ScenarioSkipped, type Scenario } from './lib/scenario.ts';

const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url));
const RESULTS_DIR = join(BENCH_DIR, 'results');

function numberFrom(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
}

function isScenario(value: unknown): value is Scenario {
  const candidate = value as Partial<Scenario> | undefined;
  return typeof candidate?.name === 'string' && typeof candidate.title === 'string' && typeof candidate.run === 'function';
}

async function loadScenarios(): Promise<{ scenarios: Scenario[]; ignored: string[] }> {
  const dir = join(BENCH_DIR, 'scenarios');
  const scenarios: Scenario[] = [];
  const ignored: string[] = [];
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.ts')).sort()) {
    const module = (await import(pathToFileURL(join(dir, file)).href)) as Record<string, unknown>;
    const found = [module.scenario, module.default].find(isScenario);
    if (found) scenarios.push(found);
    else ignored.push(file);
  }
  scenarios.sort((a, b) => (a.order ?? Number.MAX_SAFE_INTEGER) - (b.order ?? Number.MAX_SAFE_INTEGER) || a.name.localeCompare(b.name));
  return { scenarios, ignored };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const profile = args.includes('--profile');
  const names = args.filter((arg) => !arg.startsWith('--'));
  const { scenarios, ignored } = await loadScenarios();
  const unknown = names.filter((name) => !scenarios.some((scenario) => scenario.name === name));
  if (unknown.length > 0) {
    console.error(`unknown scenario(s) ${unknown.join(', ')}; available: ${scenarios.map((scenario) => scenario.name).join(', ')}`);
    process.exit(2);
  }
  const selected = names.length === 0 ? scenarios : scenarios.filter((scenario) => names.includes(scenario.name));
  const settings: BenchSettings = {
    rounds: numberFrom('BENCH_ROUNDS', 5),
    durationSec: numberFrom('BENCH_DURATION', 5),
    warmupSec: numberFrom('BENCH_WARMUP', 3),
    connections: numberFrom('BENCH_CONNECTIONS', 16),
  };
  if (profile) {
    settings.cpuProfileDir = join(RESULTS_DIR, 'profiles');
    rmSync(settings.cpuProfileDir, { recursive: true, force: true });
    mkdirSync(settings.cpuProfileDir, { recursive: true });
  }

  const machine = describeMachine();
  const startedAt = new Date();
  const started = performance.now();
  const outcomes: Outcome[] = [];
  const log = (message: string) => console.log(message);
  log(`Gatehouse bench: ${selected.map((scenario) => scenario.name).join(', ')} on ${machine.cores} × ${machine.cpuModel}, Node ${machine.node}`);

  for (const scenario of selected) {
    log(`\n${scenario.title}`);
    const scenarioStarted = performance.now();
    const ctx = createContext(settings, scenario.name, log);
    const seconds = () => (performance.now() - scenarioStarted) / 1000;
    try {
      const report = await scenario.run(ctx);
      outcomes.push({ name: scenario.name, title: scenario.title, status: 'ran', seconds: seconds(), report });
      for (const goal of report.goals) log(`  goal ${goal.met ? 'met' : 'MISSED'}: ${goal.goal} (${goal.actual})`);
    } catch (error) {
      const status = error instanceof ScenarioSkipped ? 'skipped' : 'failed';
      const reason = error instanceof Error ? error.message : String(error);
      if (status === 'failed') console.error(error);
      log(`  ${status}: ${reason}`);
      outcomes.push({ name: scenario.name, title: scenario.title, status, seconds: seconds(), reason });
    } finally {
      await ctx.cleanUp();
    }
  }

  const record: RunRecord = {
    date: startedAt.toISOString(),
    machine,
    loadAverageAtEnd: loadavg().map((value) => Math.round(value * 100) / 100),
    settings,
    selected: names.length === 0 ? 'all' : names,
    wallSeconds: (performance.now() - started) / 1000,
    outcomes,
    ignoredModules: ignored,
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  const json = `${JSON.stringify(record, null, 2)}\n`;
  writeFileSync(join(RESULTS_DIR, 'latest.json'), json);
  writeFileSync(join(RESULTS_DIR, `${startedAt.toISOString().replaceAll(':', '-')}.json`), json);
  writeFileSync(join(BENCH_DIR, 'RESULTS.md'), renderMarkdown(record));
  log(`\nWrote bench/RESULTS.md and bench/results/latest.json (${Math.round(record.wallSeconds)} s).`);

  if (settings.cpuProfileDir) {
    for (const server of readdirSync(settings.cpuProfileDir, { withFileTypes: true }).filter((entry) => entry.isDirectory())) {
      const dir = join(settings.cpuProfileDir, server.name);
      // Node names a profile CPU.<date>.<time>.<pid>.<thread id>.<sequence>.cpuprofile; thread 0 answers requests. The
      // others (tsx's loader, the embedded store's thread, the bcrypt thread) are summarized beside it.
      const window = JSON.parse(readFileSync(join(dir, 'window.json'), 'utf8')) as { fromUs: number };
      for (const name of readdirSync(dir).filter((file) => file.endsWith('.cpuprofile'))) {
        const thread = Number(name.split('.').at(-3));
        const summary = summarizeProfile(join(dir, name), window.fromUs);
        writeFileSync(join(settings.cpuProfileDir, thread === 0 ? `${server.name}.txt` : `${server.name}.thread-${thread}.txt`), summary);
        if (thread === 0) log(`\n${server.name} (${name})\n${summary}`);
      }
    }
  }
  if (outcomes.some((outcome) => outcome.status === 'failed')) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
