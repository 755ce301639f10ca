import type { Command } from 'commander';
import { findKeysInFile } from '../scanner/find-keys.ts';
import { walkTextFiles } from '../scanner/walk.ts';
import { GatehouseError } from './client.ts';
import type { Run } from './context.ts';

/** What the operator's kill of one leaked key came to; anything else is thrown and reported as a failure. */
export type KillOutcome = 'killed' | 'not_found';

export interface ScanCommandOptions {
  /** Flip the kill switch of every key found (through killKey). */
  kill?: boolean;
  /** This deployment's key prefix (GATEHOUSE_KEY_PREFIX). */
  prefix: string;
  /**
   * Kills one key through the admin API (POST /admin/v1/keys/by-key-id/:keyId/kill, see keyIdOfDisplayPrefix).
   * It receives the display prefix only: the secret never leaves the file it was found in.
   */
  killKey?: (displayPrefix: string) => Promise<KillOutcome>;
  /** Standard output and error, one line per call (process streams by default). */
  out?: (line: string) => void;
  err?: (line: string) => void;
  maxFileBytes?: number;
}

/** `<prefix>_<env>_<key_id>` → `<key_id>`, the handle the admin API kills by. */
export function keyIdOfDisplayPrefix(displayPrefix: string): string {
  return displayPrefix.slice(displayPrefix.lastIndexOf('_') + 1);
}

/**
 * `gatehouse scan PATH...` (SPEC 10.2): prints `file:line:column displayPrefix` for every key of this deployment
 * found under the paths, never the secret. Exit status: 1 when any key was found (for CI and pre-commit hooks),
 * else 2 when a path could not be read, else 0. With `kill`, every distinct key found is killed once and the
 * outcome reported; the status stays 1 (the key is still in the files).
 */
export async function scanCommand(paths: string[], options: ScanCommandOptions): Promise<number> {
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const err = options.err ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (options.kill && !options.killKey) {
    err('scan --kill needs the admin API (an admin token and URL).');
    return 2;
  }
  const found = new Set<string>();
  let locations = 0;
  let filesWithKeys = 0;
  let unreadable = 0;
  for await (const entry of walkTextFiles(paths.length > 0 ? paths : ['.'], { maxFileBytes: options.maxFileBytes })) {
    if ('skipped' in entry) {
      if (entry.skipped === 'missing' || entry.skipped === 'unreadable') {
        unreadable++;
        err(`${entry.path}: ${entry.skipped === 'missing' ? 'no such file or directory' : 'could not be read'}`);
      } else if (entry.skipped === 'too-large') {
        err(`${entry.path}: skipped (larger than the scan limit)`);
      }
      continue;
    }
    const findings = findKeysInFile(entry.text, options.prefix);
    if (findings.length > 0) filesWithKeys++;
    for (const finding of findings) {
      locations++;
      found.add(finding.displayPrefix);
      out(`${entry.path}:${finding.line}:${finding.column} ${finding.displayPrefix}`);
    }
  }

  if (options.kill && options.killKey) {
    for (const displayPrefix of found) {
      try {
        const outcome = await options.killKey(displayPrefix);
        out(outcome === 'killed' ? `killed ${displayPrefix}` : `not found on this deployment: ${displayPrefix}`);
      } catch (error) {
        out(`kill failed for ${displayPrefix}: ${(error as Error).message}`);
      }
    }
  }

  if (found.size > 0) {
    err(`${found.size} key${found.size === 1 ? '' : 's'} found at ${locations} location${locations === 1 ? '' : 's'} in ${filesWithKeys} file${filesWithKeys === 1 ? '' : 's'}.`);
    return 1;
  }
  return unreadable > 0 ? 2 : 0;
}

/** `gatehouse scan [paths...] [--kill]`: the walk is local; --kill goes through the admin API by key_id. */
export function registerScanCommand(program: Command, run: Run): void {
  program
    .command('scan')
    .description('find keys of this deployment in files (checksum-verified, never printing a secret); exit status 1 when any is found')
    .argument('[paths...]', 'files or directories to scan (default: the current directory)')
    .option('--kill', "flip the kill switch of every key found, through the admin API")
    .option('--prefix <prefix>', 'key prefix (default: GATEHOUSE_KEY_PREFIX, then lp)')
    .action(
      run(async (context, ...paths) => {
        const { kill, prefix } = context.options<{ kill?: boolean; prefix?: string }>();
        const killKey = async (displayPrefix: string): Promise<KillOutcome> => {
          try {
            await context.admin().keys.killByKeyId(keyIdOfDisplayPrefix(displayPrefix));
            return 'killed';
          } catch (error) {
            if (error instanceof GatehouseError && error.status === 404) return 'not_found';
            throw error;
          }
        };
        return scanCommand(paths, {
          kill: kill === true,
          prefix: prefix ?? (context.io.env.GATEHOUSE_KEY_PREFIX || 'lp'),
          killKey: kill ? killKey : undefined,
          out: context.io.stdout,
          err: context.io.stderr,
        });
      }),
    );
}
