import type { FastifyInstance } from 'fastify';

/**
 * For POST routes that take no body (a cancel, an archive): clients such as the partner docs' CI smoke test send
 * `Content-Type: application/json` on every call, body or not. In the scope this is applied to, an empty JSON body
 * reads as no body instead of a 400; anything else is parsed by Fastify's own JSON parser.
 */
export function tolerateEmptyJsonBody(scope: FastifyInstance): void {
  const parseJson = scope.getDefaultJsonParser('error', 'error');
  scope.removeContentTypeParser('application/json');
  scope.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body.length === 0) {
      done(null, undefined);
      return;
    }
    parseJson(request, body.toString(), done);
  });
}
