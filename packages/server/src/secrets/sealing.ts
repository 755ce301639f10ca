import { openBytes, sealBytes } from './aes-gcm.ts';
import type { DeploymentSecrets } from './deployment-secret.ts';
import { deriveKey, type SecretPurpose } from './derive.ts';

/** What `open` found: the plain text, and whether it was sealed under the secret being rotated out. */
export interface Opened {
  plain: string;
  /** Sealed under GATEHOUSE_SECRET_PREVIOUS: seal it again under the current secret (SPEC 11 rotation). */
  stale: boolean;
}

/**
 * Values kept encrypted at rest (AES-256-GCM) under a key derived from the deployment secret for one purpose, so a
 * copy of the store alone opens none of them. During a rotation a value sealed under GATEHOUSE_SECRET_PREVIOUS
 * still opens, marked stale, so its holder can seal it again under the current secret.
 */
export interface SecretSealer {
  seal(plain: string): string;
  /** Throws when neither secret sealed it (or it was altered). */
  open(sealed: string): Opened;
}

export function secretSealer(secrets: DeploymentSecrets, purpose: SecretPurpose): SecretSealer {
  const current = deriveKey(secrets.current.bytes, purpose);
  const previous = secrets.previous ? deriveKey(secrets.previous.bytes, purpose) : undefined;
  return {
    seal: (plain) => sealBytes(Buffer.from(plain, 'utf8'), current).toString('base64url'),
    open: (sealed) => {
      const bytes = Buffer.from(sealed, 'base64url');
      try {
        return { plain: openBytes(bytes, current).toString('utf8'), stale: false };
      } catch (error) {
        if (!previous) throw error;
        return { plain: openBytes(bytes, previous).toString('utf8'), stale: true };
      }
    },
  };
}
