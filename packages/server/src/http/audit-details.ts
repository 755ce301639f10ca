import type { FastifyRequest } from 'fastify';

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

/** A URL is kept without its query, fragment or credentials, which may carry a receiver's token. */
function auditedText(text: string): string {
  if (/^https?:\/\//i.test(text)) {
    try {
      const url = new URL(text);
      return `${url.origin}${url.pathname}`.slice(0, MAX_AUDITED_TEXT);
    } catch {
      // not a URL after all: kept as text
    }
  }
  return text.length > MAX_AUDITED_TEXT ? `${text.slice(0, MAX_AUDITED_TEXT)}…` : text;
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
