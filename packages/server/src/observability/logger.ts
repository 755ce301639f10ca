import pino, { type DestinationStream, type Logger } from 'pino';

/** Replaces anything shaped like a full key with its display prefix, wherever it turns up in logged text. */
const FULL_KEY = /([a-z][a-z0-9]{1,7}_(?:live|test)_[0-9A-Z]{16})_[A-Za-z0-9_-]{20,}/g;

export function maskKeys(text: string): string {
  return text.replace(FULL_KEY, '$1_[REDACTED]');
}

/**
 * Where production log lines go (stdout by default). Asynchronous, and lines are gathered to 4 KB before each
 * write (pino's documented asynchronous setting), so one write call carries a couple of dozen request lines rather
 * than one each when requests arrive one per event-loop turn. A quiet server still writes within a second, and
 * pino flushes what is left synchronously when the process exits.
 */
export function logDestination(dest: string | number = 1): DestinationStream {
  return pino.destination({ dest, sync: false, minLength: 4096, periodicFlush: 1000 });
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'gatehouse' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['req.headers["x-api-key"]', 'req.headers.authorization', 'req.headers["x-admin-token"]', 'key', 'secret', 'adminToken'],
        censor: '[REDACTED]',
      },
      formatters: {
        log: (object) => {
          // A message or URL might quote a key a client pasted in the wrong place; mask it before it is written.
          for (const field of ['msg', 'url'] as const) {
            const value = object[field];
            if (typeof value === 'string') object[field] = maskKeys(value);
          }
          const err = object.err as { message?: unknown; stack?: unknown } | undefined;
          if (err && typeof err === 'object') {
            if (typeof err.message === 'string') err.message = maskKeys(err.message);
            if (typeof err.stack === 'string') err.stack = maskKeys(err.stack);
          }
          return object;
        },
      },
    },
    destination ?? logDestination(),
  );
}
