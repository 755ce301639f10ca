import { sql } from 'kysely';
import type { FastifyInstance } from 'fastify';
import type { Deps } from '../../deps.ts';
import { ApiError } from '../errors.ts';

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

  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });
}
