import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from './errors.ts';

/**
 * No request schema nests deeper than a few levels. A body nested far deeper (a 100,000-deep array is 200 KB) would
 * overflow the stack of anything that walks it recursively, such as the Idempotency-Key fingerprint, so it is
 * refused before it is parsed.
 */
export const MAX_JSON_DEPTH = 32;

/** Whether `text` opens more than `max` arrays or objects inside each other; string contents are skipped. */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index++) {
    const char = text.charCodeAt(index);
    if (inString) {
      if (char === 0x5c) index++;
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) {
      inString = true;
    } else if (char === 0x5b || char === 0x7b) {
      if (++depth > max) return true;
    } else if (char === 0x5d || char === 0x7d) {
      depth--;
    }
  }
  return false;
}

type Done = (error: Error | null, body?: unknown) => void;
type ParseJson = (request: FastifyRequest, text: string, done: Done) => void;

/** Fastify's own JSON parser (it refuses prototype poisoning) behind the depth check. */
function boundedJsonParser(scope: FastifyInstance): ParseJson {
  const parseJson = scope.getDefaultJsonParser('error', 'error');
  return (request, text, done) => {
    if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
      return done(new ApiError('BAD_REQUEST', `The request body is nested more than ${MAX_JSON_DEPTH} levels deep.`));
    }
    parseJson(request, text, done);
  };
}

/**
 * Replaces the JSON parser of `scope` (the application, or a plugin scope) with Fastify's own behind the depth
 * check. `emptyIsNoBody` is for POST routes that take no body but whose clients send `Content-Type:
 * application/json` on every call anyway (the partner docs' smoke test does): there an empty body reads as none.
 */
export function installJsonBodyParser(scope: FastifyInstance, options: { emptyIsNoBody?: boolean } = {}): void {
  const parse = boundedJsonParser(scope);
  // Fastify reads text/plain as a string, which then fails validation as 422; SPEC 4 makes a body that is not JSON
  // 400 BAD_REQUEST, as any other type is (415, translated in error-handler.ts).
  if (scope.hasContentTypeParser('text/plain')) scope.removeContentTypeParser('text/plain');
  scope.removeContentTypeParser('application/json');
  scope.addContentTypeParser('application/json', { parseAs: 'string' }, (request: FastifyRequest, body: string | Buffer, done: Done) => {
    const text = body.toString();
    if (text.length === 0 && options.emptyIsNoBody) return done(null, undefined);
    parse(request, text, done);
  });
}

/**
 * For routes that must see a body's exact bytes, such as a signature over them (SPEC 15): in `scope`, a JSON body
 * arrives in the handler's hooks as the raw Buffer, and the function returned parses it afterwards exactly as
 * everywhere else (a route hook then puts the parsed value in `request.body`, before validation).
 */
export function keepRawJsonBody(scope: FastifyInstance): (request: FastifyRequest, raw: Buffer) => Promise<unknown> {
  const parse = boundedJsonParser(scope);
  scope.removeContentTypeParser('application/json');
  scope.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request: FastifyRequest, body: string | Buffer, done: Done) => done(null, body));
  return (request, raw) => new Promise((resolve, reject) => parse(request, raw.toString('utf8'), (error, value) => (error ? reject(error) : resolve(value))));
}
