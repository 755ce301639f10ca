import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * SPEC 1.1: `<prefix>_<env>_<key_id>_<secret>`.
 * The secret is base64url(28 random bytes ‖ CRC-32 of "<prefix>_<env>_<key_id>_" ‖ those 28 bytes), so a
 * scanner or the server can tell a real key from a typo with no database lookup and no hashing.
 */
export type KeyEnv = 'live' | 'test';

export interface ParsedKey {
  prefix: string;
  env: KeyEnv;
  keyId: string;
  secret: string;
  /** `<prefix>_<env>_<key_id>`: log-safe. */
  displayPrefix: string;
}

const CROCKFORD_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const KEY_ID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{16}$/;
const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const PREFIX_PATTERN = /^[a-z][a-z0-9]{1,7}$/;
const RANDOM_BYTES = 28;
/** Longest possible key: an 8-character prefix, `live`, 16, 43, and three separators. */
export const MAX_KEY_LENGTH = 8 + 4 + 16 + 43 + 3;

export function generateKeyId(): string {
  // 16 symbols × 5 bits = 80 bits; one random byte per symbol, masked to 5 bits, keeps the alphabet uniform.
  const bytes = randomBytes(16);
  let id = '';
  for (const byte of bytes) id += CROCKFORD_ALPHABET[byte & 31];
  return id;
}

function checksum(head: string, random: Uint8Array): Buffer {
  const sum = crc32(random, crc32(head));
  const out = Buffer.alloc(4);
  out.writeUInt32BE(sum >>> 0);
  return out;
}

export function formatKey(prefix: string, env: KeyEnv, keyId: string, random: Uint8Array): string {
  const head = `${prefix}_${env}_${keyId}_`;
  return head + Buffer.concat([random, checksum(head, random)]).toString('base64url');
}

export function generateKey(prefix: string, env: KeyEnv, keyId: string = generateKeyId()): { key: string; parsed: ParsedKey } {
  const key = formatKey(prefix, env, keyId, randomBytes(RANDOM_BYTES));
  return { key, parsed: parseKey(key, prefix)! };
}

/**
 * Parses and checksum-verifies a key. Returns null for anything that is not a well-formed key of `expectedPrefix`
 * (or of any valid prefix when none is given); never throws, whatever it is fed.
 */
export function parseKey(candidate: unknown, expectedPrefix?: string): ParsedKey | null {
  if (typeof candidate !== 'string' || candidate.length > MAX_KEY_LENGTH) return null;
  // Split on the first three underscores only: the secret's base64url alphabet includes `_` and `-`.
  const first = candidate.indexOf('_');
  const second = candidate.indexOf('_', first + 1);
  const third = candidate.indexOf('_', second + 1);
  if (first < 0 || second < 0 || third < 0) return null;
  const prefix = candidate.slice(0, first);
  const env = candidate.slice(first + 1, second);
  const keyId = candidate.slice(second + 1, third);
  const secret = candidate.slice(third + 1);
  if (expectedPrefix !== undefined ? prefix !== expectedPrefix : !PREFIX_PATTERN.test(prefix)) return null;
  if (env !== 'live' && env !== 'test') return null;
  if (!KEY_ID_PATTERN.test(keyId) || !SECRET_PATTERN.test(secret)) return null;
  const bytes = Buffer.from(secret, 'base64url');
  // 43 base64url characters carry 258 bits; the last 2 must be zero or two spellings would decode alike.
  if (bytes.length !== 32 || bytes.toString('base64url') !== secret) return null;
  const head = `${prefix}_${env}_${keyId}_`;
  const expected = checksum(head, bytes.subarray(0, RANDOM_BYTES));
  if (!expected.equals(bytes.subarray(RANDOM_BYTES))) return null;
  return { prefix, env, keyId, secret, displayPrefix: `${prefix}_${env}_${keyId}` };
}

/** Finds every checksum-valid key of `prefix` in a text (for the leaked-key scanner). */
export function findKeysInText(text: string, prefix: string): Array<{ index: number; parsed: ParsedKey }> {
  const pattern = new RegExp(`(?<![A-Za-z0-9])${prefix}_(?:live|test)_[0-9A-HJKMNP-TV-Z]{16}_[A-Za-z0-9_-]{43}`, 'g');
  const found: Array<{ index: number; parsed: ParsedKey }> = [];
  for (const match of text.matchAll(pattern)) {
    const parsed = parseKey(match[0], prefix);
    if (parsed) found.push({ index: match.index, parsed });
  }
  return found;
}
