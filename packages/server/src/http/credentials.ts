import type { FastifyRequest } from 'fastify';

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/**
 * A credential sent in its own header, or else as `Authorization: Bearer`. The named header wins whenever it is
 * present, whatever either holds (SPEC 2 for `X-Api-Key`, SPEC 10.1 for `X-Admin-Token`).
 */
export function presentedCredential(headers: FastifyRequest['headers'], header: 'x-api-key' | 'x-admin-token'): string | undefined {
  const named = headers[header];
  if (named !== undefined) return typeof named === 'string' ? named.trim() : undefined;
  const authorization = headers.authorization;
  if (typeof authorization !== 'string') return undefined;
  return BEARER.exec(authorization)?.[1];
}
