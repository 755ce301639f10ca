import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyInstance, type RouteOptions } from 'fastify';
import { randomBytes } from 'node:crypto';
import { installAdminAuth } from './admin/admin-auth.ts';
import { registerAdminApi } from './admin/index.ts';
import { installKeyPipeline } from './auth/pipeline.ts';
import type { Deps } from './deps.ts';
import { installErrorHandling } from './http/error-handler.ts';
import { ApiError } from './http/errors.ts';
import { answerClientError, answerFrameworkError, EDGE_HEADERS } from './http/edge.ts';
import { DEFAULT_HEADERS_TIMEOUT_MS, DEFAULT_REQUEST_TIMEOUT_MS } from './config.ts';
import { installJsonBodyParser } from './http/json-body.ts';
import { openApiOptions } from './http/openapi.ts';
import { registerApiKeyRoutes } from './keys/routes.ts';
import { registerOperations } from './operations/routes.ts';
import { registerWhoami } from './whoami/routes.ts';
import { registerSecretScanningHook } from './leaks/routes.ts';
import { validatorCompiler } from './http/validation.ts';
import type { App } from './http/typed-app.ts';
import { registerJobsFeature } from './jobs/index.ts';
import { installIdempotency, type IdempotencyOptions } from './idempotency/plugin.ts';
import { installUnitOfWork } from './http/unit-of-work.ts';
import { loggedUrl } from './observability/key-mask.ts';
import { installRequestTracing } from './observability/request-tracing.ts';
import { tracing } from './observability/tracing.ts';
import { registerWebhooksFeature } from './webhooks/index.ts';
import { collectPartnerRoutes, registerExplainRoutes } from './explain/index.ts';
import { installUsageRecording, registerUsageFeature } from './usage/index.ts';
import { registerProjectRoutes } from './projects/routes.ts';
import { registerConsoleAccountRoutes } from './people/console-account-routes.ts';
import { CONSOLE_API, installConsoleAuth } from './people/console-auth.ts';
import { registerConsolePartnerRoutes } from './people/console-partner-routes.ts';
import { collectConsoleOpenApi } from './people/openapi.ts';
import { registerConsolePages } from './console/serve.ts';
import { registerConsoleUsageRoutes } from './usage/console-routes.ts';
import './http/route-config.ts';

/** Request ids: a per-process random part and a counter, cheaper than a UUID per request and still unique. */
function requestIds(): () => string {
  const instance = randomBytes(6).toString('hex');
  let counter = 0;
  return () => `req_${instance}${(counter++).toString(36).padStart(6, '0')}`;
}

export interface BuildOptions {
  /** Extra routes, for tests that need a route shape the product does not have. */
  extraRoutes?: (app: FastifyInstance) => void;
  /** Sees every route as it is registered (the route suite uses it to find /v1 routes it does not cover). */
  onRoute?: (route: RouteOptions) => void;
  /** Idempotency timings, for tests that cannot wait out a lease or a sweep. */
  idempotency?: Partial<IdempotencyOptions>;
}

/** The Fastify instance, without listening (tests drive it through inject() or a socket of their own). */
export async function buildApp(deps: Deps, options: BuildOptions = {}): Promise<FastifyInstance> {
  const timeouts = {
    requestMs: deps.config.timeouts?.requestMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    headersMs: Math.min(deps.config.timeouts?.headersMs ?? DEFAULT_HEADERS_TIMEOUT_MS, deps.config.timeouts?.requestMs ?? DEFAULT_REQUEST_TIMEOUT_MS),
  };
  const app = Fastify({
    loggerInstance: deps.logger,
    // One line per request is written in onResponse below, with the fields SPEC 11 asks for.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    genReqId: requestIds(),
    // SPEC 13.4: request.ip is the client address everywhere (throttles, allowedCidrs, logs, request log, audit).
    ...(deps.config.trustProxy ? { trustProxy: deps.config.trustProxy } : {}),
    requestIdHeader: false,
    bodyLimit: deps.config.bodyLimitBytes,
    // Answered in the envelope by the hook below instead of Fastify's own body.
    return503OnClosing: false,
    // The whole request, body included, must arrive within this; Node checks open connections every second. A body
    // sent a byte at a time is answered 408 and its connection closed (answerClientError).
    requestTimeout: timeouts.requestMs,
    // A connection on which nothing moves for as long is closed: a client that stops reading an answer (a 7 MB usage
    // answer, say) would otherwise hold its socket, and the rows still waiting to go out, without end.
    connectionTimeout: timeouts.requestMs,
    // Node answers a header block over maxHeaderSize with 431 before any route runs (see answerClientError).
    http: { maxHeaderSize: 16 * 1024, headersTimeout: timeouts.headersMs, connectionsCheckingInterval: Math.min(1_000, timeouts.headersMs) },
    clientErrorHandler: answerClientError,
    frameworkErrors: answerFrameworkError,
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as App;
  app.setValidatorCompiler(validatorCompiler);
  installJsonBodyParser(app);

  // Callback hooks: every request runs these two, and a callback costs no promise or microtask turn.
  // First, so that every other hook and the handler run inside the request's span.
  if (tracing.current) installRequestTracing(app, tracing.current);
  const { lifecycle } = deps;
  // Past draining (main.ts), once close has begun: a request still arriving on an open connection is refused.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(EDGE_HEADERS);
    reply.header('x-request-id', request.id);
    if (lifecycle.draining) reply.header('connection', 'close');
    if (closing) {
      reply.header('connection', 'close');
      return done(new ApiError('UNAVAILABLE', 'This server is shutting down. Retry the request.'));
    }
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    const { url, config } = request.routeOptions;
    const route = url ?? 'unmatched';
    deps.metrics.requests.inc({ route, class: config.endpointClass ?? 'none', status: reply.statusCode });
    deps.metrics.requestDuration.observe({ route }, reply.elapsedTime / 1000);
    if (deps.logger.isLevelEnabled('info')) {
      deps.logger.info(
        {
          requestId: request.id,
          apiKeyId: request.principal?.apiKeyId,
          method: request.method,
          url: loggedUrl(request.url),
          clientAddress: request.ip,
          status: reply.statusCode,
          ms: Math.round(reply.elapsedTime * 10) / 10,
        },
        'request',
      );
    }
    done();
  });

  if (deps.config.upstreams.allowPrivate) {
    deps.logger.warn(
      { setting: 'GATEHOUSE_ALLOW_PRIVATE_UPSTREAMS' },
      'GATEHOUSE_ALLOW_PRIVATE_UPSTREAMS is on: ingest and webhook deliveries may reach private, loopback and link-local addresses (local development only; never in production)',
    );
  }
  if (options.onRoute) app.addHook('onRoute', options.onRoute);
  installErrorHandling(app);
  // Before any route: it attaches itself to every admin route as it is registered, and refuses to start otherwise.
  await installAdminAuth(app, deps);
  await app.register(swagger, openApiOptions());

  const consoleOpenApi = collectConsoleOpenApi(app as unknown as FastifyInstance);
  await installKeyPipeline(app, deps);
  installConsoleAuth(app as unknown as FastifyInstance, deps);
  const partnerRoutes = collectPartnerRoutes(app);
  installUsageRecording(app, deps);
  installUnitOfWork(app, deps, installIdempotency(app, deps, options.idempotency));
  registerOperations(app, deps);
  registerWhoami(app);
  registerJobsFeature(app, deps);
  registerApiKeyRoutes(app, deps);
  registerWebhooksFeature(app, deps);
  registerProjectRoutes(app, deps);
  registerUsageFeature(app, deps);
  registerExplainRoutes(app, deps, partnerRoutes);
  registerSecretScanningHook(app, deps);
  await registerAdminApi(app, deps, partnerRoutes);
  registerConsoleAccountRoutes(app, deps);
  registerConsolePartnerRoutes(app, deps);
  registerConsoleUsageRoutes(app as unknown as FastifyInstance, deps);
  registerConsolePages(app as unknown as FastifyInstance, deps);
  options.extraRoutes?.(app as unknown as FastifyInstance);

  app.get('/v1/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
  app.get(`${CONSOLE_API}/openapi.json`, { config: { console: { who: 'anyone' } }, schema: { hide: true } }, async () => consoleOpenApi());
  return app as unknown as FastifyInstance;
}
