/** Replaces anything shaped like a full key with its display prefix, wherever it turns up in logged text. */
const FULL_KEY = /([a-z][a-z0-9]{1,7}_(?:live|test)_[0-9A-Z]{16})_[A-Za-z0-9_-]{20,}/g;

export function maskKeys(text: string): string {
  return text.replace(FULL_KEY, '$1_[REDACTED]');
}
