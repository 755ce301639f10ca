import type { FastifyInstance } from 'fastify';
import { installJsonBodyParser } from './json-body.ts';

/**
 * For POST routes that take no body (a cancel, an archive): clients such as the partner docs' CI smoke test send
 * `Content-Type: application/json` on every call, body or not. In the scope this is applied to, an empty JSON body
 * reads as no body instead of a 400; anything else is parsed as everywhere else.
 */
export function tolerateEmptyJsonBody(scope: FastifyInstance): void {
  installJsonBodyParser(scope, { emptyIsNoBody: true });
}
