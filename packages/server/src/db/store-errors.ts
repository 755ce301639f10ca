/**
 * Whether an error means the store could not be reached (refused or dropped connection, a timeout, a server
 * shutting down or starting up), as opposed to a query that failed on a working store. Those are answered 503
 * UNAVAILABLE, so clients retry, rather than 500.
 */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/** PostgreSQL SQLSTATEs: admin_shutdown, crash_shutdown, cannot_connect_now, and class 08 (connection exceptions). */
const SERVER_CODES = new Set(['57P01', '57P02', '57P03']);
/** node-postgres reports these as plain errors, without a code. */
const CLIENT_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|Client was closed and is not queryable|Connection is closed/;

export function isStoreUnavailable(error: unknown): boolean {
  for (let cause = error, depth = 0; cause instanceof Error && depth < 4; cause = (cause as { cause?: unknown }).cause, depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || SERVER_CODES.has(code) || code.startsWith('08'))) return true;
    if (CLIENT_MESSAGES.test(cause.message)) return true;
    if (cause instanceof AggregateError && cause.errors.some((inner) => isStoreUnavailable(inner))) return true;
  }
  return false;
}
