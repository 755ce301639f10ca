import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import type { IdempotencyScope } from './repository.ts';

/**
 * A stored answer may hold a secret shown once (a new API key, a webhook signing secret), and no full key may sit
 * in the database. So the store keeps only a digest of the Idempotency-Key, and the answer sealed (AES-256-GCM)
 * under a key derived from the Idempotency-Key itself: only a client presenting the same Idempotency-Key again,
 * with the same API key, method and path, can have it opened. The database alone cannot.
 */
const IV_BYTES = 12;
const TAG_BYTES = 16;

export function idempotencyKeyDigest(idempotencyKey: string): string {
  return createHash('sha256').update(idempotencyKey).digest('base64url');
}

export function replayKey(idempotencyKey: string, scope: Omit<IdempotencyScope, 'key'>): Buffer {
  const salt = `${scope.apiKeyId} ${scope.method} ${scope.path}`;
  return Buffer.from(hkdfSync('sha256', idempotencyKey, salt, 'gatehouse idempotent replay v1', 32));
}

export function sealReplay(body: Uint8Array, key: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const sealed = Buffer.concat([cipher.update(body), cipher.final()]);
  return Buffer.concat([iv, sealed, cipher.getAuthTag()]);
}

/** Throws when the stored bytes were not sealed under this key (or were altered). */
export function openReplay(stored: Uint8Array, key: Buffer): Buffer {
  const bytes = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES));
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]);
}
