import { hkdfSync } from 'node:crypto';

/**
 * Every key Gatehouse derives from the deployment secret (SPEC 11, GATEHOUSE_SECRET), one label per purpose, so a
 * key made for one purpose is useless for another and the secret itself is never used directly. Add a purpose here
 * (never reuse a label for something else; change a label's version to change its keys).
 */
export const SECRET_PURPOSES = {
  /** HMAC-SHA-256 key of the digests of API key secrets (SPEC 2, hot path). */
  keyDigest: 'gatehouse/key-digest/v1',
  /** The public id of a secret, stored beside what was made with it to tell which secret that was. */
  secretId: 'gatehouse/secret-id/v1',
  /** AES-256-GCM key that seals people's TOTP secrets at rest (SPEC 13.3). */
  totpSecret: 'gatehouse/totp-secret/v1',
  /** AES-256-GCM key that seals webhook endpoints' signing secrets at rest (SPEC 8.6). */
  webhookSecret: 'gatehouse/webhook-secret/v1',
  /** HMAC-SHA-256 key of the digests console sessions are stored and looked up by (SPEC 13.5). */
  sessionDigest: 'gatehouse/session-digest/v1',
  /** HMAC-SHA-256 key that signs a session's CSRF token (SPEC 13.5). */
  sessionCsrf: 'gatehouse/session-csrf/v1',
} as const;

export type SecretPurpose = keyof typeof SECRET_PURPOSES;

/** HKDF-SHA-256 (RFC 5869) of the deployment secret for one purpose; no salt: the secret is already uniformly random. */
export function deriveKey(secret: Uint8Array, purpose: SecretPurpose, length = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), SECRET_PURPOSES[purpose], length));
}

/**
 * A short public id of a secret (16 base64url characters), safe to store and log: it tells which secret a stored
 * value was made with, and says nothing about the secret or the keys derived from it for other purposes.
 */
export function secretIdOf(secret: Uint8Array): string {
  return deriveKey(secret, 'secretId', 12).toString('base64url');
}
