import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { FloodOptions } from '../flood.ts';
import type { LoadResult } from './load.ts';

const FLOOD_ENTRY = fileURLToPath(new URL('../flood.ts', import.meta.url));

export interface RunningFlood {
  /** Resolves when the flood's first requests are on their way. */
  started: Promise<void>;
  done: Promise<LoadResult>;
}

/** Starts bench/flood.ts in a child process of its own. */
export function startFlood(options: FloodOptions): RunningFlood {
  const child = spawn(process.execPath, ['--import', 'tsx', FLOOD_ENTRY], {
    env: { ...process.env, BENCH_FLOOD: JSON.stringify(options) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  let markStarted: () => void = () => {};
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  const done = new Promise<LoadResult>((resolve, reject) => {
    let result: LoadResult | undefined;
    lines.on('line', (line) => {
      if (line === 'started') markStarted();
      else if (line.startsWith('{')) result = JSON.parse(line) as LoadResult;
    });
    child.once('exit', (code) => {
      markStarted();
      if (result) resolve(result);
      else reject(new Error(`flood exited with ${code} and no result`));
    });
  });
  return { started, done };
}
