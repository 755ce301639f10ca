import { maskKeys } from './key-mask.ts';

/**
 * What a logged error keeps. Errors from PGlite carry the failed statement and its parameters (`query`, `params`),
 * PostgreSQL's carry values in `detail` ("Key (key_id)=(...) already exists"), `where` and `internalQuery`, and both
 * quote the offending value in the message itself ('invalid input syntax for type uuid: "whsec_..."'). A log line
 * gets none of them: a database error keeps its SQLSTATE and the names of what it concerned, and its message with
 * every quoted part masked; any other error keeps its type, message, stack and code.
 */
const DATABASE_NAMES = ['severity', 'code', 'constraint', 'table', 'column', 'schema', 'dataType', 'routine'] as const;
const SQLSTATE = /^[0-9A-Z]{5}$/;
/** A cause chain is followed this far: enough for a wrapped driver error, never a loop. */
const MAX_CAUSES = 3;

interface LoggedError {
  type: string;
  message: string;
  stack?: string;
  code?: unknown;
  statusCode?: unknown;
  cause?: LoggedError;
  [name: string]: unknown;
}

function isDatabaseError(error: Error & Record<string, unknown>): boolean {
  return typeof error.code === 'string' && SQLSTATE.test(error.code) && typeof error.severity === 'string';
}

/** The stack's frames under a message of our choosing: the first lines of a stack repeat the raw message. */
function stackUnder(message: string, error: Error): string | undefined {
  if (typeof error.stack !== 'string') return undefined;
  const frames = error.stack.indexOf('\n    at ');
  return `${error.name}: ${message}${frames === -1 ? '' : error.stack.slice(frames)}`;
}

function serialize(error: unknown, depth: number): LoggedError {
  if (!(error instanceof Error)) return { type: typeof error, message: maskKeys(String(error)) };
  const fields = error as Error & Record<string, unknown>;
  const database = isDatabaseError(fields);
  const message = maskKeys(database ? error.message.replace(/"[^"]*"/g, '"…"') : error.message);
  const logged: LoggedError = { type: error.constructor?.name ?? 'Error', message };
  const stack = stackUnder(message, error);
  if (stack !== undefined) logged.stack = maskKeys(stack);
  if (database) {
    for (const name of DATABASE_NAMES) if (fields[name] !== undefined) logged[name] = fields[name];
  } else {
    if (fields.code !== undefined) logged.code = fields.code;
    if (fields.statusCode !== undefined) logged.statusCode = fields.statusCode;
  }
  if (error.cause !== undefined && depth < MAX_CAUSES) logged.cause = serialize(error.cause, depth + 1);
  return logged;
}

/** pino's serializer for `err`: every error any module logs goes through it. */
export const serializeError = (error: unknown): LoggedError => serialize(error, 0);
