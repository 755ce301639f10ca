import type { FastifyRequest } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;
/**
 * HTTP's optional whitespace, and only that: String.prototype.trim would also take a no-break space or any other
 * Unicode space away, so `key + NBSP` would be accepted as the key (issue 13, finding 15).
 */
const OPTIONAL_WHITESPACE = /^[ \t]+|[ \t]+$/g;

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(authorization: string | undefined): string | undefined {
  return typeof authorization === 'string' ? BEARER.exec(authorization)?.[1] : undefined;
}

/**
 * A credential sent in its own header, or else as `Authorization: Bearer`. The named header wins whenever it is
 * present, whatever either holds (SPEC 2 for `X-Api-Key`, SPEC 10.1 for `X-Admin-Token`).
 */
export function presentedCredential(headers: FastifyRequest['headers'], header: 'x-api-key' | 'x-admin-token'): string | undefined {
  const named = headers[header];
  if (named !== undefined) return typeof named === 'string' ? named.replace(OPTIONAL_WHITESPACE, '') : undefined;
  return bearerToken(headers.authorization);
}

/** What a configured token is kept as: its SHA-256, so comparisons are constant-time over equal lengths. */
export const tokenDigest = (token: string): Buffer => createHash('sha256').update(token).digest();

/** Whether a presented token is the one `expected` is the digest of, compared in constant time (SPEC 1.1). */
export function tokenMatches(presented: string | undefined, expected: Buffer): boolean {
  return presented !== undefined && presented !== '' && expected.length === 32 && timingSafeEqual(tokenDigest(presented), expected);
}
