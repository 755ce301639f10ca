import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isStoreUnavailable } from '../db/store-errors.ts';
import { ApiError, errorBody, type ErrorCode } from './errors.ts';
import { issuesFrom } from './validation.ts';

function send(reply: FastifyReply, request: FastifyRequest, status: number, code: ErrorCode, message: string, details?: Record<string, unknown>) {
  request.errorCode = code;
  return reply.code(status).type('application/json; charset=utf-8').send(errorBody(code, message, request.id, details));
}

/** Framework errors with a 4xx status, translated to the catalog. Their own messages can quote the input, so they are not reused. */
function clientErrorOf(error: FastifyError): { status: number; code: ErrorCode; message: string } {
  switch (error.statusCode) {
    case 413:
      return { status: 413, code: 'PAYLOAD_TOO_LARGE', message: 'The request body is too large.' };
    case 415:
      return { status: 400, code: 'BAD_REQUEST', message: 'The request body must be JSON (Content-Type: application/json).' };
    default:
      if (error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return { status: 400, code: 'BAD_REQUEST', message: 'The request body is empty.' };
      if (error instanceof SyntaxError || error.code?.startsWith('FST_ERR_CTP')) {
        return { status: 400, code: 'BAD_REQUEST', message: 'The request body is not valid JSON.' };
      }
      return { status: 400, code: 'BAD_REQUEST', message: 'The request could not be understood.' };
  }
}

/** SPEC 4: one envelope for every error; internals (stack traces, SQL) are logged, never sent. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof ApiError) {
      if (error.headers) reply.headers(error.headers);
      return send(reply, request, error.status, error.code, error.message, error.details);
    }
    if (error.validation) {
      const issues = issuesFrom(error.validation as Parameters<typeof issuesFrom>[0], error.validationContext);
      return send(reply, request, 422, 'VALIDATION_FAILED', 'The request is not valid.', { issues });
    }
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      const { status, code, message } = clientErrorOf(error);
      return send(reply, request, status, code, message);
    }
    if (isStoreUnavailable(error)) {
      // SPEC 11: an unreachable store is an outage to retry through, not a bug; logged without the stack.
      request.log.warn({ requestId: request.id, reason: error.message }, 'store unreachable');
      reply.header('retry-after', '1');
      return send(reply, request, 503, 'UNAVAILABLE', 'The service is briefly unavailable. Retry shortly.');
    }
    request.log.error({ err: error }, 'unhandled error');
    return send(reply, request, 500, 'INTERNAL', 'Something went wrong on our side. Include the request id when you report it.');
  });

  app.setNotFoundHandler((request, reply) => send(reply, request, 404, 'NOT_FOUND', 'No such route.'));
}
