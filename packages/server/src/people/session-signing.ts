import { createHmac } from 'node:crypto';
import type { DeploymentSecrets } from '../secrets/deployment-secret.ts';
import { deriveKey } from '../secrets/derive.ts';
import { sameToken } from './tokens.ts';

/**
 * Session signing (SPEC 11: GATEHOUSE_SECRET signs sessions). A session's token is stored as an HMAC under a key of
 * the deployment secret, and its CSRF token is an HMAC of it under another: rows copied out of the store cannot be
 * turned into a working session or CSRF token without the secret. While GATEHOUSE_SECRET_PREVIOUS is set, sessions
 * and CSRF tokens made under it still work, so rotating the secret signs nobody out.
 */
export interface SessionSigner {
  /** The digest a new session is stored under. */
  digest(token: string): string;
  /** Every digest a presented token may be stored under: the current secret's, then the previous one's. */
  lookupDigests(token: string): string[];
  csrfToken(token: string): string;
  csrfMatches(presented: string, token: string): boolean;
}

const hmac = (key: Buffer, token: string) => createHmac('sha256', key).update(token).digest('base64url');

export function sessionSigner(secrets: DeploymentSecrets): SessionSigner {
  const each = [secrets.current, ...(secrets.previous ? [secrets.previous] : [])];
  const digestKeys = each.map((secret) => deriveKey(secret.bytes, 'sessionDigest'));
  const csrfKeys = each.map((secret) => deriveKey(secret.bytes, 'sessionCsrf'));
  return {
    digest: (token) => hmac(digestKeys[0]!, token),
    lookupDigests: (token) => digestKeys.map((key) => hmac(key, token)),
    csrfToken: (token) => hmac(csrfKeys[0]!, token),
    csrfMatches: (presented, token) => csrfKeys.some((key) => sameToken(presented, hmac(key, token))),
  };
}
