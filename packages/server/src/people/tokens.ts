import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Session, link and recovery tokens: 256 random bits shown to their holder, stored only as a digest (links and
 * recovery codes SHA-256; sessions an HMAC under the deployment secret, session-signing.ts). A fast digest is enough
 * for that much entropy (nothing to guess), and a database copy yields no usable token.
 */
export const newToken = (): string => randomBytes(32).toString('base64url');

export const tokenDigest = (token: string): string => createHash('sha256').update(token).digest('base64url');

export function sameToken(presented: string, expected: string): boolean {
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Recovery codes: 10 characters of Crockford's base32 (no i, l, o, u to misread), 50 bits each. */
const RECOVERY_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
export function newRecoveryCode(): string {
  const bytes = randomBytes(10);
  const chars = [...bytes].map((byte) => RECOVERY_ALPHABET[byte & 31]!).join('');
  return `${chars.slice(0, 5)}-${chars.slice(5)}`;
}
/** Typed codes may come with other case, spaces or without the dash. */
export const normalizeRecoveryCode = (code: string): string => {
  const bare = code.toLowerCase().replace(/[^a-z0-9]/g, '');
  return `${bare.slice(0, 5)}-${bare.slice(5)}`;
};
