import { createHash, hkdfSync } from 'node:crypto';
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

export function replayKey(idempotencyKey: string, scope: Omit<IdempotencyScope, 'key'>): Buffer {
  const salt = `${scope.apiKeyId} ${scope.method} ${scope.path}`;
  return Buffer.from(hkdfSync('sha256', idempotencyKey, salt, 'gatehouse idempotent replay v1', 32));
}
