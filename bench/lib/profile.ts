import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a function lives: our source, an npm package, Node itself, or V8's pseudo-frames ((idle), (garbage collector)). */
function ownerOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const module = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (module) return module[1]!;
  if (url.includes('/packages/server/src/')) return 'gatehouse';
  if (url.includes('/bench/')) return 'bench';
  if (url.startsWith('node:')) return 'node';
  return url;
}

function shortUrl(url: string): string {
  const index = Math.max(url.lastIndexOf('node_modules/'), url.lastIndexOf('packages/server/src/'));
  return index >= 0 ? url.slice(index).replace('node_modules/', '') : url.replace(/^file:\/\//, '');
}

/**
 * Self time by function and by owner, hottest first, as text for a terminal or a .txt beside the profile. Samples
 * before `fromUs` (CLOCK_MONOTONIC µs, the profile's own clock) are left out, so startup does not count.
 */
export function summarizeProfile(path: string, fromUs = 0, top = 30): string {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfByFunction = new Map<string, number>();
  const selfByOwner = new Map<string, number>();
  let total = 0;
  let idle = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, index) => {
    const node = byId.get(id);
    const delta = profile.timeDeltas[index] ?? 0;
    at += delta;
    if (!node || at < fromUs) return;
    const { functionName, url, lineNumber } = node.callFrame;
    total += delta;
    if (functionName === '(idle)') idle += delta;
    const key = `${functionName || '(anonymous)'}  ${url ? `${shortUrl(url)}:${lineNumber + 1}` : ''}`;
    selfByFunction.set(key, (selfByFunction.get(key) ?? 0) + delta);
    const owner = ownerOf(url, functionName);
    selfByOwner.set(owner, (selfByOwner.get(owner) ?? 0) + delta);
  });
  const busy = total - idle;
  const pct = (value: number) => `${((100 * value) / busy).toFixed(1).padStart(5)}%`;
  const lines = [`sampled ${(total / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(1)} s (percentages of busy time)`, '', 'self time by owner:'];
  for (const [owner, value] of [...selfByOwner].filter(([owner]) => owner !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, 15)) {
    lines.push(`  ${pct(value)}  ${owner}`);
  }
  lines.push('', 'self time by function:');
  for (const [key, value] of [...selfByFunction].filter(([key]) => !key.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`  ${pct(value)}  ${key}`);
  }
  return `${lines.join('\n')}\n`;
}
