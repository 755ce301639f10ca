import type * as OtelApi from '@opentelemetry/api';
import type { Context, Span, SpanKind, Tracer } from '@opentelemetry/api';
import { ConfigError } from '../config.ts';

/**
 * Traces (SPEC 11): OpenTelemetry spans exported over OTLP/HTTP, configured by the standard OTEL_* variables.
 * Off unless an OTLP endpoint is set, and then nothing of OpenTelemetry is even loaded: `current` stays null and
 * every call site checks it first, so a deployment without traces pays one null check per place that could trace.
 */
export interface Tracing {
  api: typeof OtelApi;
  tracer: Tracer;
  /** A span, child of the active context's span (or of `parent`). */
  start(name: string, options?: { kind?: SpanKind; attributes?: OtelApi.Attributes; parent?: Context; root?: boolean }): Span;
  /** Runs `work` with `span` as the active span, so the spans it starts are its children. */
  within<T>(span: Span, work: () => T): T;
  /** Ends `span`, marked as an error when `error` is given. */
  end(span: Span, error?: unknown): void;
  /** The W3C `traceparent` (and `tracestate`) headers for an outgoing request, from the active span. */
  injectHeaders(headers: Record<string, string>): void;
  /** The context an incoming request's `traceparent` names (or the active one when it has none). */
  extract(headers: Record<string, string | string[] | undefined>): Context;
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

export const tracing: { current: Tracing | null } = { current: null };

/** SpanKind's values, without loading the OpenTelemetry API where tracing is off. */
export const SPAN_KIND = { internal: 0, server: 1, client: 2 } as const satisfies Record<string, SpanKind>;

/**
 * Runs `work` inside an INTERNAL span when traces are on, so the spans it starts are its children; the span ends as
 * the work settles. Without traces it is `work()`.
 */
export function inSpan<T>(name: string, work: () => Promise<T>): Promise<T> {
  const traces = tracing.current;
  if (!traces) return work();
  const span = traces.start(name, { kind: SPAN_KIND.internal });
  return traces.within(span, work).then(
    (result) => {
      traces.end(span);
      return result;
    },
    (error: unknown) => {
      traces.end(span, error);
      throw error;
    },
  );
}

/** Whether the OTEL_* variables ask for traces: an OTLP endpoint set, and neither the SDK nor the exporter disabled. */
export function tracingRequested(env: NodeJS.ProcessEnv): boolean {
  if ((env.OTEL_SDK_DISABLED ?? '').toLowerCase() === 'true') return false;
  if ((env.OTEL_TRACES_EXPORTER ?? 'otlp').toLowerCase() === 'none') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT);
}

export type OtlpProtocol = 'http/protobuf' | 'http/json';

/**
 * OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf: the default the
 * OpenTelemetry specification gives for OTLP exporters. It is also the cheaper one to send: the protobuf serializer
 * writes spans straight into bytes (some 280 bytes for a request's span), where the JSON one builds an object tree,
 * stringifies and encodes it (some 680 bytes), about twice the CPU a span. gRPC is not offered: it needs packages of
 * its own, and every collector that takes gRPC takes OTLP/HTTP too.
 */
export function otlpProtocol(env: NodeJS.ProcessEnv): OtlpProtocol {
  const [name, value] = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL
    ? ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL]
    : ['OTEL_EXPORTER_OTLP_PROTOCOL', env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf'];
  const protocol = value.trim().toLowerCase();
  if (protocol === 'http/protobuf' || protocol === 'http/json') return protocol;
  throw new ConfigError(`${name} must be http/protobuf or http/json (got ${JSON.stringify(value.slice(0, 40))})`);
}

/** Starts the SDK when the environment asks for traces and makes it `tracing.current`; null (nothing loaded) otherwise. */
export async function startTracing(env: NodeJS.ProcessEnv = process.env): Promise<Tracing | null> {
  if (!tracingRequested(env)) return null;
  if (tracing.current) return tracing.current;
  const protocol = otlpProtocol(env);
  const [api, base, otlp, hooks, core, resources] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace-base'),
    protocol === 'http/json' ? import('@opentelemetry/exporter-trace-otlp-http') : import('@opentelemetry/exporter-trace-otlp-proto'),
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/core'),
    import('@opentelemetry/resources'),
  ]);
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || `${(env.OTEL_EXPORTER_OTLP_ENDPOINT ?? '').replace(/\/$/, '')}/v1/traces`;
  // The exporter and the batch processor read the other OTEL_* variables (headers, timeouts, OTEL_BSP_*) themselves.
  const provider = new base.BasicTracerProvider({
    resource: resources.resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME || 'gatehouse' }),
    spanProcessors: [new base.BatchSpanProcessor(new otlp.OTLPTraceExporter({ url: endpoint }))],
  });
  api.context.setGlobalContextManager(new hooks.AsyncLocalStorageContextManager().enable());
  const propagator = new core.W3CTraceContextPropagator();
  api.propagation.setGlobalPropagator(propagator);
  const tracer = provider.getTracer('gatehouse');
  const getter: OtelApi.TextMapGetter<Record<string, string | string[] | undefined>> = {
    keys: (carrier) => Object.keys(carrier),
    get: (carrier, key) => carrier[key],
  };
  const current: Tracing = {
    api,
    tracer,
    start(name, options = {}) {
      const parent = options.root ? api.ROOT_CONTEXT : (options.parent ?? api.context.active());
      return tracer.startSpan(name, { kind: options.kind, attributes: options.attributes }, parent);
    },
    within(span, work) {
      return api.context.with(api.trace.setSpan(api.context.active(), span), work);
    },
    end(span, error) {
      if (error !== undefined) {
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      }
      span.end();
    },
    injectHeaders(headers) {
      propagator.inject(api.context.active(), headers, api.defaultTextMapSetter);
    },
    extract(headers) {
      // Most callers send no traceparent: the active context is then all the propagator would find, after a walk of
      // the headers.
      if (headers.traceparent === undefined) return api.context.active();
      return propagator.extract(api.context.active(), headers, getter);
    },
    flush: () => provider.forceFlush(),
    async shutdown() {
      await provider.shutdown();
      tracing.current = null;
    },
  };
  tracing.current = current;
  return current;
}
