import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { errorBody } from './errors.ts';

/**
 * Headers on every answer, errors and raw socket answers included. `no-store` everywhere rather than on the answers
 * that carry a secret (a created or rolled key, a webhook signing secret, an invitation link): a route added later
 * cannot forget it, and nothing the API answers is meant for a shared cache. `nosniff` keeps a browser from reading
 * a JSON error that echoes input as HTML.
 */
export const EDGE_HEADERS = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' } as const;

const rawHeaders = Object.entries(EDGE_HEADERS)
  .map(([name, value]) => `${name}: ${value}\r\n`)
  .join('');

const CLIENT_ERRORS: Record<string, { status: number; reason: string; message: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, reason: 'Request Header Fields Too Large', message: 'The request headers are too large.' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, reason: 'Request Timeout', message: 'The request did not arrive in time.' },
};
const UNPARSEABLE = { status: 400, reason: 'Bad Request', message: 'The request could not be parsed.' };

/**
 * What Node's parser refuses before Fastify sees a request (bad syntax, headers too large, a request or its body
 * too slow to arrive) answered in the SPEC 4 envelope with an X-Request-Id, then the connection closed. The status
 * tells what happened; the code stays in the catalog (BAD_REQUEST), as SPEC 4 names no code for 408 or 431.
 */
export function answerClientError(error: Error, socket: Duplex): void {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (code === 'ECONNRESET' || socket.destroyed) return;
  const { status, reason, message } = CLIENT_ERRORS[code] ?? UNPARSEABLE;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const requestId = `req_${randomBytes(8).toString('hex')}`;
  const body = JSON.stringify(errorBody('BAD_REQUEST', message, requestId));
  // Closed once the answer is out: whatever is still arriving (a slow body) is not read.
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nX-Request-Id: ${requestId}\r\n${rawHeaders}` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    () => socket.destroy(),
  );
}

/**
 * Errors Fastify's router raises before any hook runs: a path whose percent-encoding does not decode, a path
 * parameter longer than the router keeps. Their own answers quote the URL and carry no request id.
 */
export function answerFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH';
  const status = tooLong ? 414 : 400;
  const message = tooLong ? 'A path segment of the request URL is too long.' : 'The request URL could not be decoded.';
  void reply
    .code(status)
    .headers({ 'x-request-id': request.id, ...EDGE_HEADERS })
    .type('application/json; charset=utf-8')
    .send(errorBody('BAD_REQUEST', message, request.id));
}
