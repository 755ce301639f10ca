import { readFileSync } from 'node:fs';

/**
 * The node flags `npm start` gives the server (the root package.json's start script), so that every server the bench
 * measures, Gatehouse's and the Fastify baselines alike, runs on the runtime settings a deployment runs on.
 */
export function startScriptNodeFlags(): string[] {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } };
  const [command, ...words] = manifest.scripts.start.split(/\s+/);
  if (command !== 'node') throw new Error(`the start script should run node, not ${command}`);
  return words.filter((word) => word.startsWith('--'));
}
