import { hash, verify } from '@node-rs/argon2';

/** `Algorithm.Argon2id` of @node-rs/argon2, a const enum that isolated modules cannot read. */
const ARGON2ID = 2;
import { randomBytes } from 'node:crypto';
import { COMMON_PASSWORDS } from './common-passwords.ts';

export const MIN_PASSWORD_LENGTH = 12;
/** argon2 takes any length; the bound keeps a request from making it hash a megabyte. */
export const MAX_PASSWORD_LENGTH = 256;

/**
 * SPEC 13.3: passwords as argon2id hashes. @node-rs/argon2 hashes on libuv's thread pool, so the event loop keeps
 * serving while a sign-in is checked.
 */
export class PasswordHasher {
  private readonly options;
  /** A hash of a password nobody knows, verified when no account matches, so both answers cost the same work. */
  private readonly decoy: Promise<string>;

  constructor(settings: { argon2MemoryKiB: number; argon2TimeCost: number }) {
    this.options = { algorithm: ARGON2ID, memoryCost: settings.argon2MemoryKiB, timeCost: settings.argon2TimeCost, parallelism: 1 };
    this.decoy = hash(randomBytes(32).toString('base64url'), this.options);
    // Not awaited here; a failure shows at the first verify, not as an unhandled rejection.
    this.decoy.catch(() => {});
  }

  hash(password: string): Promise<string> {
    return hash(password, this.options);
  }

  /** `stored` undefined: there is no account; the decoy is verified anyway and the answer is false. */
  async verify(stored: string | undefined, password: string): Promise<boolean> {
    const matches = await verify(stored ?? (await this.decoy), password).catch(() => false);
    return stored !== undefined && matches;
  }
}

/** Why a new password is refused, or null when it is acceptable. */
export function passwordProblem(password: string, email?: string): string | null {
  if ([...password].length < MIN_PASSWORD_LENGTH) return `must be at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH) return `must be at most ${MAX_PASSWORD_LENGTH} characters`;
  const folded = password.toLowerCase();
  if (COMMON_PASSWORDS.has(folded)) return 'is too common';
  if (new Set(folded).size <= 2) return 'is too easy to guess';
  const local = email?.toLowerCase().split('@')[0] ?? '';
  if (local.length >= 4 && folded.includes(local) && folded.length - local.length < 6) return 'is too close to the email address';
  return null;
}
