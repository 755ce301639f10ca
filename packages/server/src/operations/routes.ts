import { sql } from 'kysely';
import type { FastifyInstance } from 'fastify';
import type { Deps } from '../deps.ts';
import { bearerToken, tokenDigest, tokenMatches } from '../http/credentials.ts';
import { ApiError } from '../http/errors.ts';

/** Whether a bind address reaches only this machine (then /metrics needs no token to stay private). */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** /healthz (the process is up), /readyz (the store answers), /metrics (Prometheus). Outside the key pipeline. */
export function registerOperations(app: FastifyInstance, deps: Deps): void {
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { hide: true } }, async () => {
    if (deps.lifecycle.draining) throw new ApiError('UNAVAILABLE', 'This instance is shutting down.');
    try {
      await sql`select 1`.execute(deps.store.db);
    } catch {
      throw new ApiError('UNAVAILABLE', 'The store is not reachable.');
    }
    return { status: 'ready' };
  });

  const metricsToken = deps.config.metricsToken;
  const expectedDigest = metricsToken === undefined ? undefined : tokenDigest(metricsToken);
  if (!metricsToken && !isLoopbackHost(deps.config.host)) {
    deps.logger.warn({ host: deps.config.host }, 'metrics are served without a token beyond loopback; set GATEHOUSE_METRICS_TOKEN');
  }
  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    if (expectedDigest) {
      if (!tokenMatches(bearerToken(request.headers.authorization), expectedDigest)) {
        deps.metrics.authRefusals.inc({ surface: 'metrics', outcome: 'unauthenticated' });
        throw new ApiError('UNAUTHENTICATED', 'The metrics token is required (Authorization: Bearer).');
      }
    }
    reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });
}
