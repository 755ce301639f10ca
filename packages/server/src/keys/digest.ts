import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { deriveKey } from '../secrets/derive.ts';
import type { DeploymentSecret, DeploymentSecrets } from '../secrets/deployment-secret.ts';

/** A key secret's digest as stored: 32 bytes of HMAC-SHA-256, and the id of the deployment secret it was made under. */
export interface StoredDigest {
  digest: Uint8Array;
  secretId: string;
}

interface Pepper {
  id: string;
  key: KeyObject;
}

const pepperOf = (secret: DeploymentSecret): Pepper => ({ id: secret.id, key: createSecretKey(deriveKey(secret.bytes, 'keyDigest')) });

/**
 * SPEC 2, hot path: the keyed digest that verifies a key secret on every instance with one HMAC, beside the bcrypt
 * hash that stays the record. The pepper is derived from the deployment secret, which never enters the store.
 */
export class KeyDigester {
  private readonly current: Pepper;
  private readonly previous: Pepper | undefined;

  constructor(secrets: DeploymentSecrets) {
    this.current = pepperOf(secrets.current);
    this.previous = secrets.previous ? pepperOf(secrets.previous) : undefined;
  }

  /** The id stored beside digests made now. */
  get currentId(): string {
    return this.current.id;
  }

  /** The digest of `secret` under the current pepper, to store (issuing a key, or digesting one verified by bcrypt). */
  digest(secret: string): StoredDigest {
    return { digest: this.digestUnder(this.current, secret), secretId: this.current.id };
  }

  /** HMAC under the current pepper, for comparing with digests read under it. */
  currentDigest(secret: string): Buffer {
    return this.digestUnder(this.current, secret);
  }

  /**
   * Whether a stored digest can be checked without bcrypt: it was made under the current secret, or under the one
   * being rotated out (GATEHOUSE_SECRET_PREVIOUS). Anything else needs bcrypt once.
   */
  canCheck(secretId: string | null): boolean {
    return secretId === this.current.id || (this.previous !== undefined && secretId === this.previous.id);
  }

  /** `presented`: the secret's HMAC under the current pepper, computed once per request (see KeyVerifier). */
  matches(secret: string, presented: Buffer, stored: StoredDigest): boolean {
    if (stored.secretId === this.current.id) return sameDigest(presented, stored.digest);
    if (this.previous && stored.secretId === this.previous.id) return sameDigest(this.digestUnder(this.previous, secret), stored.digest);
    return false;
  }

  private digestUnder(pepper: Pepper, secret: string): Buffer {
    return createHmac('sha256', pepper.key).update(secret).digest();
  }
}

/** Constant-time equality of two digests (SPEC 1.1); a length mismatch (a corrupt row) is simply unequal. */
export function sameDigest(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** What an unknown key_id's HMAC is compared with, so that a miss costs what a wrong secret costs. */
export const ABSENT_DIGEST: StoredDigest = { digest: new Uint8Array(32), secretId: '' };
