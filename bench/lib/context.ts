import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_TIER } from '../server.ts';
import { interleave, type Arm, type ArmSummary } from './load.ts';
import { createDatabase, type BenchDatabase } from './postgres.ts';
import { ScenarioSkipped } from './scenario.ts';
import { spawnServer, type ServerHandle, type ServerSpec } from './server-process.ts';

export interface BenchSettings {
  rounds: number;
  durationSec: number;
  warmupSec: number;
  /** Concurrent connections of a measured load (a flood brings its own). */
  connections: number;
  /** When set, every server child writes a CPU profile here. */
  cpuProfileDir?: string;
}

/** What a scenario gets from the runner: settings, and servers and databases that are cleaned up after it. */
export interface BenchContext extends BenchSettings {
  tmpDir: string;
  log(message: string): void;
  startServer(spec: ServerSpec): Promise<ServerHandle>;
  createDatabase(): Promise<BenchDatabase>;
  interleave(arms: Arm[], overrides?: Partial<Pick<BenchSettings, 'rounds' | 'durationSec' | 'warmupSec'>>): Promise<Record<string, ArmSummary>>;
  /** Skips the scenario (recorded in RESULTS) when this build answers the route with 404. */
  requireRoute(server: ServerHandle, path: string, init: RequestInit): Promise<Response>;
}

/** Limits far above anything two cores can send, so rate limiting is measured as a cost but never caps throughput. */
const UNCAPPED = 1_000_000_000;
export const BENCH_RATE_LIMITS = JSON.stringify({
  [BENCH_TIER]: { 'read-light': UNCAPPED, 'write-light': UNCAPPED, 'long-running': UNCAPPED },
});

export function createContext(settings: BenchSettings, scenarioName: string, log: (message: string) => void): BenchContext & { cleanUp(): Promise<void> } {
  const tmpDir = mkdtempSync(join(process.env.TMPDIR || '/tmp', `gatehouse-bench-${scenarioName}-`));
  const servers: ServerHandle[] = [];
  const databases: BenchDatabase[] = [];
  // One deployment secret per scenario: servers that share a database share it, as a cluster's instances do.
  const deploymentSecret = randomBytes(32).toString('base64url');
  return {
    ...settings,
    tmpDir,
    log,
    async startServer(spec) {
      const dataDir = join(tmpDir, `data-${spec.label}`);
      if (!spec.env?.DATABASE_URL) mkdirSync(dataDir, { recursive: true });
      // One directory per server: every thread (tsx's loader runs in one of its own) writes a profile there.
      const profileDir = settings.cpuProfileDir ? join(settings.cpuProfileDir, `${scenarioName}-${spec.label}`) : undefined;
      const nodeArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
      if (profileDir) mkdirSync(profileDir, { recursive: true });
      const started = performance.now();
      const server = await spawnServer(spec, {
        env: {
          GATEHOUSE_DATA_DIR: dataDir,
          GATEHOUSE_ADMIN_TOKEN: randomBytes(24).toString('base64url'),
          GATEHOUSE_SECRET: deploymentSecret,
          GATEHOUSE_RATE_LIMITS: BENCH_RATE_LIMITS,
          // Every line is still serialized and written; /dev/null spares the figures this VM's disk writeback,
          // which made the logging server's runs swing by a third (a log collector behind a pipe is closer to this).
          BENCH_LOG_FILE: '/dev/null',
        },
        nodeArgs,
      });
      servers.push(server);
      if (profileDir) writeFileSync(join(profileDir, 'window.json'), JSON.stringify({ fromUs: server.listeningAtUs }));
      log(`  server ${spec.label} (${server.store}) up in ${Math.round(performance.now() - started)} ms at ${server.baseUrl}`);
      return server;
    },
    async createDatabase() {
      const database = await createDatabase();
      databases.push(database);
      return database;
    },
    interleave: (arms, overrides = {}) =>
      interleave(arms, {
        rounds: overrides.rounds ?? settings.rounds,
        durationSec: overrides.durationSec ?? settings.durationSec,
        warmupSec: overrides.warmupSec ?? settings.warmupSec,
        log,
      }),
    async requireRoute(server, path, init) {
      const response = await fetch(`${server.baseUrl}${path}`, init);
      if (response.status === 404) {
        throw new ScenarioSkipped(`${init.method ?? 'GET'} ${path} answers 404 on this build (the route is not there yet)`);
      }
      return response;
    },
    async cleanUp() {
      await Promise.all(servers.map((server) => server.stop()));
      for (const database of databases) await database.drop().catch((error: unknown) => log(`  could not drop a database: ${String(error)}`));
      rmSync(tmpDir, { recursive: true, force: true });
    },
  };
}
