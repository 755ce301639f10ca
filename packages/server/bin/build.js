// The compiled build: packages/server/src (and the client source the CLI imports) as JavaScript in dist/, so that
// `npm start` and the CLI load no TypeScript loader at run time. Built by `npm ci` (the root `prepare` script) and
// again by the first start after a source file changed; a start with an up-to-date build only stats the sources.
import { execFileSync } from 'node:child_process';
import process from 'node:process';
import { createHash } from 'node:crypto';
import { mkdirSync, openSync, closeSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL, URL } from 'node:url';

const SERVER_DIR = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(SERVER_DIR, 'dist');
const STAMP = join(DIST, '.source-stamp');
const LOCK = join(DIST, '.build-lock');
const SOURCES = [join(SERVER_DIR, 'src'), join(SERVER_DIR, '../client/src'), join(SERVER_DIR, 'tsconfig.build.json'), join(SERVER_DIR, '../../tsconfig.base.json')];

/** A digest of every source file's path, size and modification time: a change to any of them means a rebuild. */
function sourceStamp() {
  const hash = createHash('sha256');
  const visit = (path) => {
    const stat = statSync(path);
    if (stat.isDirectory()) {
      for (const name of readdirSync(path).sort()) visit(join(path, name));
    } else {
      hash.update(`${path}\0${stat.size}\0${stat.mtimeMs}\n`);
    }
  };
  for (const source of SOURCES) visit(source);
  return hash.digest('hex');
}

function readStamp() {
  try {
    return readFileSync(STAMP, 'utf8');
  } catch {
    return '';
  }
}

function processIsAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/** One builder at a time (servers started side by side would otherwise write the same files at once). */
function withBuildLock(work) {
  mkdirSync(DIST, { recursive: true });
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      const fd = openSync(LOCK, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
      const holder = Number(readFileSync(LOCK, 'utf8') || 0);
      if (holder && !processIsAlive(holder)) rmSync(LOCK, { force: true });
      else if (Date.now() > deadline) throw new Error(`another build (pid ${holder}) holds ${LOCK}`);
      else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }
  try {
    return work();
  } finally {
    rmSync(LOCK, { force: true });
  }
}

/**
 * Makes sure dist/ holds the current sources compiled, compiling them if not. Emit only (`--noCheck`): type checking
 * is `npm run typecheck`'s job, and skipping it keeps a rebuild to a few seconds.
 */
export function ensureBuilt({ quiet = false } = {}) {
  const stamp = sourceStamp();
  if (readStamp() === stamp) return;
  withBuildLock(() => {
    if (readStamp() === stamp) return; // built by whoever held the lock
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    if (!quiet) process.stderr.write('gatehouse: compiling the server (once per source change)…\n');
    rmSync(join(DIST, 'server'), { recursive: true, force: true });
    rmSync(join(DIST, 'client'), { recursive: true, force: true });
    execFileSync(process.execPath, [tsc, '-p', join(SERVER_DIR, 'tsconfig.build.json'), '--noCheck'], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    writeFileSync(STAMP, stamp);
  });
}

/** The compiled counterpart of a module under packages/server/src, as a URL to import. */
export function compiled(sourcePath) {
  return pathToFileURL(join(DIST, 'server/src', sourcePath.replace(/\.ts$/, '.js'))).href;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  ensureBuilt({ quiet: true });
}
