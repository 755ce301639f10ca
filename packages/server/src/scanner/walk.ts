import ignore, { type Ignore } from 'ignore';
import type { Dirent } from 'node:fs';
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';

/** Never descended into, whatever .gitignore says: dependencies and git's own store. */
const SKIPPED_NAMES = new Set(['node_modules', '.git']);
/** git's own test for binary content: a NUL byte in the first 8000 bytes. */
const BINARY_SNIFF_BYTES = 8000;
export const DEFAULT_MAX_FILE_BYTES = 32 * 1024 * 1024;

interface IgnoreRules {
  base: string;
  rules: Ignore;
}

export type WalkEntry = { path: string; text: string } | { path: string; skipped: 'binary' | 'too-large' | 'unreadable' | 'missing' };

async function readRules(dir: string): Promise<IgnoreRules | undefined> {
  try {
    const text = await readFile(join(dir, '.gitignore'), 'utf8');
    return { base: dir, rules: ignore().add(text) };
  } catch {
    return undefined;
  }
}

/**
 * The .gitignore files that apply to `dir` from above it: those from the enclosing repository's root down to its
 * parent. Outside a repository, none (a stray .gitignore in a parent directory is not this tree's).
 */
async function inheritedRules(dir: string): Promise<IgnoreRules[]> {
  const chain: string[] = [];
  let repositoryRoot: string | undefined;
  for (let current = dir; ; current = dirname(current)) {
    chain.unshift(current);
    if (await lstat(join(current, '.git')).then(() => true, () => false)) {
      repositoryRoot = current;
      break;
    }
    if (dirname(current) === current) break;
  }
  if (!repositoryRoot) return [];
  const rules = await Promise.all(chain.slice(0, -1).map(readRules));
  return rules.filter((rule): rule is IgnoreRules => rule !== undefined);
}

/** git's precedence: the deepest .gitignore with a rule about the path decides; within a file, the last rule. */
function isIgnored(stack: readonly IgnoreRules[], path: string, isDirectory: boolean): boolean {
  for (let i = stack.length - 1; i >= 0; i--) {
    const { base, rules } = stack[i]!;
    const rel = relative(base, path).split(sep).join('/');
    if (!rel || rel.startsWith('..')) continue;
    const verdict = rules.test(isDirectory ? `${rel}/` : rel);
    if (verdict.ignored) return true;
    if (verdict.unignored) return false;
  }
  return false;
}

async function readText(path: string, maxFileBytes: number): Promise<WalkEntry> {
  let content: Buffer;
  try {
    const info = await stat(path);
    if (info.size > maxFileBytes) return { path, skipped: 'too-large' };
    content = await readFile(path);
  } catch {
    return { path, skipped: 'unreadable' };
  }
  if (content.subarray(0, BINARY_SNIFF_BYTES).includes(0)) return { path, skipped: 'binary' };
  return { path, text: content.toString('utf8') };
}

async function* walkDirectory(dir: string, shown: string, stack: IgnoreRules[], maxFileBytes: number): AsyncGenerator<WalkEntry> {
  const own = await readRules(dir);
  const rules = own ? [...stack, own] : stack;
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    yield { path: shown, skipped: 'unreadable' };
    return;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    // Symbolic links are not followed: they can loop, and what they point to is scanned where it lives.
    if (SKIPPED_NAMES.has(entry.name) || entry.isSymbolicLink()) continue;
    const full = join(dir, entry.name);
    const isDirectory = entry.isDirectory();
    if (!isDirectory && !entry.isFile()) continue;
    if (isIgnored(rules, full, isDirectory)) continue;
    const path = join(shown, entry.name);
    if (isDirectory) yield* walkDirectory(full, path, rules, maxFileBytes);
    else {
      const read = await readText(full, maxFileBytes);
      yield { ...read, path };
    }
  }
}

/**
 * The text files under `paths`, in a stable order, with the paths as the caller spelled them. Directories are
 * walked respecting .gitignore (the tree's own and, inside a repository, its parents'), skipping node_modules, .git,
 * symbolic links and binary files. A path named explicitly is read even if ignored: the caller asked for it.
 */
export async function* walkTextFiles(paths: readonly string[], options: { maxFileBytes?: number } = {}): AsyncGenerator<WalkEntry> {
  const maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  for (const path of paths) {
    const full = resolve(path);
    const info = await stat(full).catch(() => undefined);
    if (!info) yield { path, skipped: 'missing' };
    else if (info.isDirectory()) yield* walkDirectory(full, path, await inheritedRules(full), maxFileBytes);
    else if (info.isFile()) yield { ...(await readText(full, maxFileBytes)), path };
  }
}
