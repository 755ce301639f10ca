import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startScriptNodeFlags } from './node-flags.ts';

const ENTRY = fileURLToPath(new URL('../baselines/fastify-server.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TICKS_PER_SECOND = 100;

export interface BaselineServer {
  baseUrl: string;
  /** The process's CPU time so far (user + system, all threads), from /proc: it has no /metrics. */
  cpuSeconds(): Promise<number | undefined>;
  stop(): Promise<void>;
}

/** Starts bench/baselines/fastify-server.ts (`bare` or `pino`) in a child process of its own. */
export async function startBaseline(kind: 'bare' | 'pino'): Promise<BaselineServer> {
  const child = spawn(process.execPath, [...startScriptNodeFlags(), '--import', 'tsx', ENTRY], { cwd: ROOT, env: { ...process.env, BENCH_BASELINE: kind }, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`baseline ${kind}: no handshake within 60 s`)), 60_000);
    child.once('exit', (code) => reject(new Error(`baseline ${kind} exited with ${code}`)));
    createInterface({ input: child.stdout }).once('line', (first) => {
      clearTimeout(timer);
      resolve(first);
    });
  });
  const { baseUrl, pid } = JSON.parse(line) as { baseUrl: string; pid: number };
  return {
    baseUrl,
    cpuSeconds: async () => {
      try {
        const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
      } catch {
        return undefined;
      }
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
