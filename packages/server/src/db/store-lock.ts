import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const STORE_LOCK_FILE = 'gatehouse.lock';

/** The embedded store is open in another live process (PGlite allows one process per data directory). */
export class StoreLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number | null,
  ) {
    super(
      `The embedded store in ${dataDir} is in use by another Gatehouse process${pid === null ? '' : ` (pid ${pid})`}. ` +
        'PGlite allows one process per data directory: stop that process first, or use the commands that go through ' +
        `the admin API while it runs. If no such process is running, remove ${join(dataDir, STORE_LOCK_FILE)}.`,
    );
  }
}

/** Data directories this process holds, to tell its own lock from a stale one left under a reused pid. */
const heldHere = new Set<string>();

function holderPid(lockPath: string): number | null {
  try {
    const pid = (JSON.parse(readFileSync(lockPath, 'utf8')) as { pid?: unknown }).pid;
    return typeof pid === 'number' && Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * PGlite writes a postmaster.pid but neither checks it nor can say whether its writer lives (the pid inside is a
 * constant of the WebAssembly build), so a second process would open the same files and corrupt them. This lock
 * file records the holder's real pid. It is created by link(2), which is atomic and fails if the file exists, so
 * two processes cannot both take it; a lock whose process is gone (a crash, a kill -9) is taken over.
 */
export function acquireStoreLock(dataDir: string): { release(): void } {
  const lockPath = join(dataDir, STORE_LOCK_FILE);
  const content = JSON.stringify({ pid: process.pid, since: new Date().toISOString() });
  const staging = `${lockPath}.${process.pid}.tmp`;
  writeFileSync(staging, `${content}\n`, { mode: 0o600 });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(staging, lockPath);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const pid = holderPid(lockPath);
        // Our own pid without our own record is a lock left by an earlier process that had this pid (containers).
        const live = pid !== null && (pid === process.pid ? heldHere.has(dataDir) : isRunning(pid));
        if (live || attempt > 0) throw new StoreLockedError(dataDir, pid);
        rmSync(lockPath, { force: true });
      }
    }
  } finally {
    rmSync(staging, { force: true });
  }
  heldHere.add(dataDir);
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      heldHere.delete(dataDir);
      if (holderPid(lockPath) === process.pid) rmSync(lockPath, { force: true });
    },
  };
}
