import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config.ts';
import { otlpProtocol, startTracing, tracing } from '../src/observability/tracing.ts';
import { partnerWithKey, withKey } from './factories.ts';
import { startOtlpReceiver, type OtlpReceiver } from './fixtures/otlp-receiver.ts';
import { startTestApp, type TestApp } from './harness.ts';

/** SPEC 11: OTLP over HTTP in either encoding the OTEL_* variables name; protobuf unless they say otherwise. */

describe('OTLP protocol', () => {
  it('is http/protobuf by default, the traces variable wins over the general one, and anything else refuses to start', () => {
    expect(otlpProtocol({})).toBe('http/protobuf');
    expect(otlpProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })).toBe('http/json');
    expect(otlpProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' })).toBe('http/protobuf');
    expect(() => otlpProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(ConfigError);
    expect(() => otlpProtocol({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'carrier-pigeon' })).toThrow(/OTEL_EXPORTER_OTLP_TRACES_PROTOCOL must be/);
  });
});

describe('traces as OTLP/HTTP JSON', () => {
  let otlp: OtlpReceiver;
  let api: TestApp;
  let baseUrl: string;

  beforeAll(async () => {
    otlp = await startOtlpReceiver();
    expect(await startTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.origin, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })).not.toBeNull();
    api = await startTestApp();
    baseUrl = await api.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await api?.close();
    await tracing.current?.shutdown();
    await new Promise((resolve) => otlp?.server.close(resolve));
  });

  it('sends a request span that continues the caller’s traceparent, as JSON', async () => {
    const { key } = await partnerWithKey(api.app);
    const traceId = randomBytes(16).toString('hex');
    const callerSpanId = randomBytes(8).toString('hex');
    const response = await fetch(`${baseUrl}/v1/whoami`, { headers: { ...withKey(key.key), traceparent: `00-${traceId}-${callerSpanId}-01` } });
    expect(response.status).toBe(200);
    await tracing.current!.flush();
    const request = otlp.spans.find((span) => span.traceId === traceId && span.name === 'GET /v1/whoami');
    expect(request).toMatchObject({ parentSpanId: callerSpanId, attributes: { 'gatehouse.api_key_id': key.id, 'http.response.status_code': 200 } });
    expect(new Set(otlp.contentTypes)).toEqual(new Set(['application/json']));
  });
});
