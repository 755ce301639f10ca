import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type Config } from '../config.ts';
import { secretIdOf } from './derive.ts';

/** The file that keeps an embedded store's generated secret, in its data directory. */
export const SECRET_FILE = 'secret';

/** 32 or more bytes in base64url (43+ characters), as SPEC 11 asks. */
const SECRET_PATTERN = /^[A-Za-z0-9_-]{43,512}$/;

/** One deployment secret, decoded, with its public id. */
export interface DeploymentSecret {
  readonly bytes: Buffer;
  readonly id: string;
}

/** The secret in force, and the one being rotated out (still accepted for reading what was made with it). */
export interface DeploymentSecrets {
  readonly current: DeploymentSecret;
  readonly previous: DeploymentSecret | undefined;
}

export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

function decode(name: string, text: string): DeploymentSecret {
  const value = text.trim();
  // The message names the variable and the rule, never the value.
  if (!SECRET_PATTERN.test(value)) throw new ConfigError(`${name} must be 32 or more random bytes in base64url (43 or more characters of A-Z a-z 0-9 - _)`);
  const bytes = Buffer.from(value, 'base64url');
  return { bytes, id: secretIdOf(bytes) };
}

/**
 * SPEC 11: GATEHOUSE_SECRET, else (embedded store only) the one kept in `<data dir>/secret`, generated on first
 * start. With DATABASE_URL it is required: instances sharing a store must share it, so none may invent its own.
 * An in-memory store (tests) gets a fresh one when none is given: nothing outlives it.
 */
export function resolveDeploymentSecrets(config: Pick<Config, 'secret' | 'secretPrevious' | 'databaseUrl' | 'dataDir'>): DeploymentSecrets {
  const previous = config.secretPrevious ? decode('GATEHOUSE_SECRET_PREVIOUS', config.secretPrevious) : undefined;
  if (config.secret) return { current: decode('GATEHOUSE_SECRET', config.secret), previous };
  if (config.databaseUrl) {
    throw new ConfigError(
      'GATEHOUSE_SECRET is required with DATABASE_URL: every instance on the store must share one deployment secret, and it is never kept in the database. Generate one with: node -e "console.log(require(\'crypto\').randomBytes(32).toString(\'base64url\'))"',
    );
  }
  if (config.dataDir.startsWith('memory://')) return { current: decode('generated secret', generateSecret()), previous };
  return { current: decode(`${join(config.dataDir, SECRET_FILE)}`, readOrCreateSecretFile(config.dataDir)), previous };
}

function readOrCreateSecretFile(dataDir: string): string {
  const file = join(dataDir, SECRET_FILE);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  try {
    // `wx`: never overwrite a secret that exists, so two first starts cannot end with different ones.
    writeFileSync(file, `${generateSecret()}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  // Owner-only whatever the umask was when it was written.
  chmodSync(file, 0o600);
  return readFileSync(file, 'utf8');
}
