import { createHash, createHmac } from 'node:crypto';
import type { IdempotencyScope } from './repository.ts';

/**
 * A stored answer may hold a secret shown once (a new API key, a webhook signing secret), and no full key may sit
 * in the database. So the store keeps only a digest of the Idempotency-Key, and the answer sealed (AES-256-GCM)
 * under a key derived from the Idempotency-Key itself: only a client presenting the same Idempotency-Key again,
 * with the same API key, method and path, can have it opened (secrets/aes-gcm.ts seals it). The database alone cannot.
 */

export function idempotencyKeyDigest(idempotencyKey: string): string {
  return createHash('sha256').update(idempotencyKey).digest('base64url');
}

const REPLAY_INFO = Buffer.from('gatehouse idempotent replay v1\x01');

/**
 * HKDF-SHA-256 (RFC 5869) of the Idempotency-Key, salted with its scope, 32 bytes: the extract and the one expand
 * block written out as their two HMACs, which cost half of what `hkdfSync` spends on one call (it is on every
 * idempotent request). The test holds it equal to `hkdfSync`.
 */
export function replayKey(idempotencyKey: string, scope: Omit<IdempotencyScope, 'key'>): Buffer {
  const pseudoRandomKey = createHmac('sha256', `${scope.apiKeyId} ${scope.method} ${scope.path}`).update(idempotencyKey).digest();
  return createHmac('sha256', pseudoRandomKey).update(REPLAY_INFO).digest();
}
