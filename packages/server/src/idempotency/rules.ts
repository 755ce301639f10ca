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

export type EntryOutcome = 'claim' | 'replay' | 'reused' | 'in_progress';

/**
 * What a request gets from the entry its key already has, if any. `claim` means "run": the unit of work's
 * transaction then keeps the answer, or finds that another request kept one first.
 * A different body is refused while the entry lives: the key names one request, and this is not it. Entries are
 * written answered, in the transaction of the change; a "running" entry is a claim left by an earlier version,
 * waited for until its lease runs out.
 */
export function outcomeFor(
  entry: Pick<IdempotencyEntry, 'fingerprint' | 'state' | 'locked_until' | 'expires_at'> | undefined,
  fingerprint: string,
  now: Date,
): EntryOutcome {
  if (!entry || entry.expires_at <= now) return 'claim';
  if (entry.fingerprint !== fingerprint) return 'reused';
  if (entry.state === 'done') return 'replay';
  return entry.locked_until !== null && entry.locked_until <= now ? 'claim' : 'in_progress';
}
