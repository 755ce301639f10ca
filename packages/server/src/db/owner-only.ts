import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const OWNER_DIRECTORY = 0o700;
const OWNER_FILE = 0o600;

/**
 * The embedded store's directory holds every secret the server keeps (webhook signing secrets, in its WAL and
 * table files too), so only the user the server runs as may enter it: 0700, however it was created and whatever the
 * umask. A mkdir mode passes through the umask, hence the chmod.
 */
export function ensureOwnerOnlyDirectory(path: string): void {
  mkdirSync(path, { recursive: true, mode: OWNER_DIRECTORY });
  chmodSync(path, OWNER_DIRECTORY);
}

/**
 * Files 0600 and directories 0700 under `root`. PGlite unpacks its initial database with mode 0666 and writes some
 * files (the relation cache) through the umask, so the tree is tightened once it is open; what PostgreSQL creates
 * later it creates 0600 itself. Symbolic links are left alone (never followed out of the directory).
 */
export function tightenToOwner(root: string): void {
  const pending = [root];
  while (pending.length > 0) {
    const directory = pending.pop()!;
    chmodSync(directory, OWNER_DIRECTORY);
    for (const entry of readdirSync(directory, { withFileTypes: true })) {
      const path = join(directory, entry.name);
      if (entry.isDirectory()) pending.push(path);
      else if (entry.isFile() && (lstatSync(path).mode & 0o777) !== OWNER_FILE) chmodSync(path, OWNER_FILE);
    }
  }
}
