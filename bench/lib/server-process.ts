import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Handshake, ServerOptions } from '../server.ts';
import { startScriptNodeFlags } from './node-flags.ts';
import { metricValue } from './prometheus.ts';

const SERVER_ENTRY = fileURLToPath(new URL('../server.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Variables of the bench's own environment that would change what a server child is (a store, a limiter, a cost). */
const INHERITED_SETTINGS = /^(DATABASE_URL|REDIS_URL|LOG_LEVEL|GATEHOUSE_.*|PORT|HOST)$/;

export interface ServerSpec {
  label: string;
  /** Settings for the child (DATABASE_URL, REDIS_URL, LOG_LEVEL, GATEHOUSE_*); nothing leaks in from the bench's own. */
  env?: Record<string, string>;
  options?: ServerOptions;
  /** Extra node flags (the runner adds --cpu-prof here when profiling). */
  nodeArgs?: string[];
}

export interface ServerHandle extends Handshake {
  label: string;
  /** The current /metrics text. */
  metrics(): Promise<string>;
  metric(name: string, labels?: Record<string, string>): Promise<number | undefined>;
  /** process_cpu_seconds_total: the server's CPU time so far, all threads. */
  cpuSeconds(): Promise<number | undefined>;
  /**
   * RSS and V8 heap in use (bytes) after a full garbage collection in the server, once no bcrypt is queued; with
   * `afterWriteBehind`, once the usage counts and last-used times it holds for its next write are written, too.
   */
  memory(options?: { afterWriteBehind?: boolean }): Promise<{ rss: number; heapUsed: number }>;
  /** Resolves when no bcrypt runs or waits (hashes a load left queued finish after it), or after 20 s. */
  hashesSettled(): Promise<void>;
  /** One whoami with each named key, so its bcrypt verification is done before anything is timed. */
  prime(...keyNames: string[]): Promise<void>;
  /** A key of `group` (default `fresh`) not used before, verified just now by a whoami, so no run pays its first read. */
  freshKey(group?: string): Promise<string>;
  stop(): Promise<void>;
}

export async function spawnServer(spec: ServerSpec, defaults: { env: Record<string, string>; nodeArgs: string[] }): Promise<ServerHandle> {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!INHERITED_SETTINGS.test(name)) env[name] = value;
  Object.assign(env, defaults.env, spec.env, { BENCH_SERVER: JSON.stringify(spec.options ?? {}) });
  const child = spawn(process.execPath, ['--expose-gc', ...startScriptNodeFlags(), ...defaults.nodeArgs, ...(spec.nodeArgs ?? []), '--import', 'tsx', SERVER_ENTRY], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const handshake = await readHandshake(child, spec.label);
  const metrics = async () => {
    const response = await fetch(`${handshake.baseUrl}/metrics`);
    return response.text();
  };
  let stopped: Promise<void> | undefined;
  const keysUsed = new Map<string, number>();
  const whoamiWith = async (key: string, what: string) => {
    const response = await fetch(`${handshake.baseUrl}/v1/whoami`, { headers: { 'x-api-key': key } });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`server ${spec.label}: ${what} answered ${response.status}`);
  };
  const hashesSettled = async () => {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && (metricValue(await metrics(), 'gatehouse_key_hash_in_flight') ?? 0) > 0) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  return {
    ...handshake,
    label: spec.label,
    metrics,
    hashesSettled,
    metric: async (name, labels) => metricValue(await metrics(), name, labels),
    cpuSeconds: async () => metricValue(await metrics(), 'process_cpu_seconds_total'),
    memory: async (options = {}) => {
      // Requests waiting for a hash hold memory that is the queue's, not the caches'.
      await hashesSettled();
      if (options.afterWriteBehind) {
        const response = await fetch(`${handshake.baseUrl}/bench/write-behind`, { method: 'POST' });
        if (!response.ok) throw new Error(`${spec.label}: POST /bench/write-behind answered ${response.status}`);
      }
      const response = await fetch(`${handshake.baseUrl}/bench/heap`, { method: 'POST' });
      if (!response.ok) throw new Error(`${spec.label}: POST /bench/heap answered ${response.status}`);
      return (await response.json()) as { rss: number; heapUsed: number };
    },
    prime: async (...keyNames) => {
      for (const name of keyNames) await whoamiWith(handshake.keys[name]!.key, `key ${name}`);
    },
    freshKey: async (group = 'fresh') => {
      const used = keysUsed.get(group) ?? 0;
      keysUsed.set(group, used + 1);
      const key = handshake.groups[group]?.[used];
      if (!key) throw new Error(`server ${spec.label}: out of keys in group ${group} (start it with more)`);
      await whoamiWith(key, 'a fresh key');
      return key;
    },
    stop: () => (stopped ??= stopChild(child)),
  };
}

function readHandshake(child: ChildProcess, label: string): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server ${label}: no handshake within 900 s`));
      // Seeding 100,000 real bcrypt hashes takes minutes on a busy 2-core machine.
    }, 900_000);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`server ${label} exited with ${code} before its handshake`));
    };
    child.once('exit', onExit);
    lines.once('line', (line) => {
      clearTimeout(timer);
      child.off('exit', onExit);
      // Nothing else is expected on stdout; keep reading so a stray write can never block the child on a full pipe.
      lines.on('line', () => {});
      try {
        resolve(JSON.parse(line) as Handshake);
      } catch {
        child.kill('SIGKILL');
        reject(new Error(`server ${label}: unreadable handshake ${line.slice(0, 200)}`));
      }
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
