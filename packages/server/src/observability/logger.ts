import pino, { type DestinationStream, type Logger } from 'pino';
import { serializeError } from './error-serializer.ts';
import { maskKeys } from './key-mask.ts';

export { maskKeys };

/**
 * Where production log lines go (stdout by default). Asynchronous, and lines are gathered to 4 KB before each
 * write (pino's documented asynchronous setting), so one write call carries a couple of dozen request lines rather
 * than one each when requests arrive one per event-loop turn. A quiet server still writes within a second, and
 * pino flushes what is left synchronously when the process exits.
 */
export function logDestination(dest: string | number = 1): DestinationStream {
  return pino.destination({ dest, sync: false, minLength: 4096, periodicFlush: 1000 });
}

/**
 * pino's isoTime, formatted once per millisecond: at thousands of request lines a second, several share a millisecond,
 * and Date#toISOString was among the hottest functions of the request path in a CPU profile of whoami.
 */
function isoTimePerMillisecond(): () => string {
  let formattedAt = -1;
  let formatted = '';
  return () => {
    const now = Date.now();
    if (now !== formattedAt) {
      formattedAt = now;
      formatted = `,"time":"${new Date(now).toISOString()}"`;
    }
    return formatted;
  };
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'gatehouse' },
      timestamp: isoTimePerMillisecond(),
      redact: {
        paths: ['req.headers["x-api-key"]', 'req.headers.authorization', 'req.headers["x-admin-token"]', 'key', 'secret', 'adminToken'],
        censor: '[REDACTED]',
      },
      // Errors are written field by field, never with the statement or parameters a database error carries.
      serializers: { err: serializeError },
      formatters: {
        log: (object) => {
          // A message or URL might quote a key a client pasted in the wrong place; mask it before it is written (errors
          // are masked by their serializer).
          for (const field of ['msg', 'url'] as const) {
            const value = object[field];
            if (typeof value === 'string') object[field] = maskKeys(value);
          }
          return object;
        },
      },
    },
    destination ?? logDestination(),
  );
}
