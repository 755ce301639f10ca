import { createHash } from 'node:crypto';
import type { IdempotencyEntry } from '../db/schema.ts';

/** SPEC 6: 1 to 255 printable ASCII characters (space to tilde). */
const KEY_PATTERN = /^[\x20-\x7e]{1,255}$/;

export function isWellFormedIdempotencyKey(value: unknown): value is string {
  return typeof value === 'string' && KEY_PATTERN.test(value);
}

/** JSON with object keys sorted at every depth, so `{"a":1,"b":2}` and `{"b":2,"a":1}` are the same request. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? '';
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, item]) => item !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
}

/** What identifies "the same request" under one key: the body, canonicalised. A body that is not JSON is hashed as sent. */
export function requestFingerprint(body: unknown): string {
  const text = body === undefined ? '' : typeof body === 'string' || Buffer.isBuffer(body) ? body : canonicalJson(body);
  return createHash('sha256').update(text).digest('hex');
}

export type ExistingEntryOutcome = 'replay' | 'reused' | 'in_progress';

/**
 * What a request that did not win the claim gets, from the entry that did. A different body is refused whatever
 * the state of the first request: the key names one request, and this is not it.
 */
export function outcomeFor(entry: Pick<IdempotencyEntry, 'fingerprint' | 'state'>, fingerprint: string): ExistingEntryOutcome {
  if (entry.fingerprint !== fingerprint) return 'reused';
  return entry.state === 'done' ? 'replay' : 'in_progress';
}
