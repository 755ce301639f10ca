import type { Span } from '@opentelemetry/api';
import type { FastifyInstance } from 'fastify';
import { SPAN_KIND, type Tracing } from './tracing.ts';

declare module 'fastify' {
  interface FastifyRequest {
    traceSpan?: Span;
  }
}

/**
 * One SERVER span per request, continuing the caller's `traceparent`: named after the route, with its status and the
 * API key id (never the key). Everything the request does runs in its context, so its spans are children of it.
 */
export function installRequestTracing(app: FastifyInstance, tracing: Tracing): void {
  app.addHook('onRequest', (request, _reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const parent = tracing.extract(request.headers);
    const span = tracing.start(`${request.method} ${route}`, {
      kind: SPAN_KIND.server,
      parent,
      attributes: { 'http.request.method': request.method, 'http.route': route, 'gatehouse.request_id': request.id },
    });
    request.traceSpan = span;
    tracing.api.context.with(tracing.api.trace.setSpan(parent, span), done);
  });
  app.addHook('onResponse', (request, reply, done) => {
    const span = request.traceSpan;
    if (span) {
      span.setAttribute('http.response.status_code', reply.statusCode);
      const apiKeyId = request.principal?.apiKeyId;
      if (apiKeyId) span.setAttribute('gatehouse.api_key_id', apiKeyId);
      tracing.end(span, reply.statusCode >= 500 ? `HTTP ${reply.statusCode}` : undefined);
    }
    done();
  });
}
