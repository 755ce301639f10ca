import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM as every sealed value in Gatehouse is stored: a fresh 12-byte IV, the ciphertext, the 16-byte tag.
 * `associated` binds a value to where it belongs (an endpoint's id, say): copied elsewhere, it no longer opens.
 */
const IV_BYTES = 12;
const TAG_BYTES = 16;

export function sealBytes(plain: Uint8Array, key: Buffer, associated?: Uint8Array): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  if (associated) cipher.setAAD(associated);
  const sealed = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([iv, sealed, cipher.getAuthTag()]);
}

/** Throws when the bytes were not sealed under this key (and associated data), or were altered. */
export function openBytes(stored: Uint8Array, key: Buffer, associated?: Uint8Array): Buffer {
  const bytes = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES));
  if (associated) decipher.setAAD(associated);
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]);
}
