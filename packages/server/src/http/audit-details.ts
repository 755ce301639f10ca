import type { FastifyRequest } from 'fastify';
import { maskKeys } from '../observability/key-mask.ts';
import { storableText } from './request-schema-bounds.ts';

/**
 * What an audit entry says beyond who, what and when (SPEC 10.3): for a change, the fields it asked for, next to any
 * `before` / `after` its route records. Reads carry only what their route adds.
 */

/** Reads are audited as `<thing>.read` or `<thing>.list`; every other action changes something. */
export const isReadAction = (action: string): boolean => /\.(read|list)$/.test(action);

/** The audit list leaves reads out by their action's name, so a route's action must say which it is. */
export function checkAuditActionName(method: string | string[], url: string, action: string): void {
  const reads = [method].flat().every((one) => one === 'GET' || one === 'HEAD');
  if (reads !== isReadAction(action)) {
    throw new Error(`${url}: audit action ${action} must end in ${reads ? '.read or .list (a read)' : 'neither .read nor .list (a change)'}`);
  }
}

const MAX_AUDITED_TEXT = 200;
const MAX_AUDITED_ITEMS = 32;

/**
 * Text as an audit entry keeps it. A request refused before its handler (a 422 on its path or body) is audited with
 * what it sent, unvalidated: a key pasted where an id belongs is masked (SPEC 1.1: never stored in plain text), and a
 * NUL or a lone surrogate, which the database refuses in text, is replaced so the entry is not lost. A URL is kept
 * without its query, fragment or credentials, which may carry a receiver's token.
 */
export function auditedText(text: string): string {
  const storable = maskKeys(storableText(text));
  if (/^https?:\/\//i.test(storable)) {
    try {
      const url = new URL(storable);
      return `${url.origin}${url.pathname}`.slice(0, MAX_AUDITED_TEXT);
    } catch {
      // not a URL after all: kept as text
    }
  }
  return storable.length > MAX_AUDITED_TEXT ? `${storable.slice(0, MAX_AUDITED_TEXT)}…` : storable;
}

function auditedValue(value: unknown): unknown {
  if (typeof value === 'string') return auditedText(value);
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.slice(0, MAX_AUDITED_ITEMS).map((item) => (typeof item === 'object' && item !== null ? '[object]' : auditedValue(item)));
  return '[object]';
}

/**
 * Fields that carry what a person knows or was sent (passwords, invitation and reset tokens, TOTP and recovery codes):
 * an entry says they were given, never what they were. API keys travel in headers and generated secrets only in
 * answers, so every other field is kept as sent.
 */
const SECRET_FIELD = /(password|token|secret|code)s?$/i;

/** What a change asked for: the body's fields, bounded (long text cut, URLs without query), secrets withheld. */
function requestedChanges(body: unknown): Record<string, unknown> | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const fields = Object.entries(body);
  if (fields.length === 0) return null;
  return Object.fromEntries(fields.map(([field, value]) => [field, SECRET_FIELD.test(field) ? '[withheld]' : auditedValue(value)]));
}

/** The details of the request's audit entry for `action`, or null when there is nothing to add. */
export function auditDetailsOf(request: FastifyRequest, action: string): Record<string, unknown> | null {
  const changes = isReadAction(action) ? null : requestedChanges(request.body);
  const details = { ...(changes && { changes }), ...request.auditDetails };
  return Object.keys(details).length > 0 ? details : null;
}
