import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTracing, tracing } from '../src/observability/tracing.ts';
import { partnerWithKey, secretOf, withKey } from './factories.ts';
import { sendJson, sleep, startFakeUpstream, type FakeUpstream } from './fixtures/fake-upstream.ts';
import { insertProject } from './fixtures/jobs.ts';
import { startOtlpReceiver, type OtlpReceiver } from './fixtures/otlp-receiver.ts';
import type { DecodedSpan } from './fixtures/otlp-protobuf.ts';
import { startReceiver, type Receiver } from './fixtures/webhook-receiver.ts';
import { redisTestUrl, startTestApp, usingPostgres, type TestApp } from './harness.ts';

describe('traces over OTLP/HTTP (SPEC 11)', () => {
  let otlp: OtlpReceiver;
  let upstream: FakeUpstream;
  let hooks: Receiver;
  let api: TestApp;
  let baseUrl: string;

  beforeAll(async () => {
    otlp = await startOtlpReceiver();
    upstream = await startFakeUpstream((_request, response) => sendJson(response, 200, { resultCount: 1, results: [{ trackName: 'Traced', trackViewUrl: 'https://apps.example/t' }] }));
    hooks = await startReceiver(() => ({ status: 204 }));
    expect(await startTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.origin })).not.toBeNull();
    api = await startTestApp({
      config: {
        upstreams: { appstoreLookupUrl: `${upstream.origin}/lookup`, playstoreUrl: upstream.origin, githubApiUrl: upstream.origin, allowPrivate: true },
        jobs: { pollMs: 50, startDelayMs: 0 },
        webhooks: { pollMs: 50 },
        // With PostgreSQL, Redis too: its calls are spans.
        ...(usingPostgres ? { redisUrl: redisTestUrl } : {}),
      },
    });
    baseUrl = await api.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await api?.close();
    await tracing.current?.shutdown();
    await new Promise((resolve) => otlp?.server.close(resolve));
    await upstream?.close();
    await hooks?.close();
  });

  const flushed = async () => {
    await tracing.current!.flush();
    return otlp.spans;
  };
  const byName = (spans: DecodedSpan[], name: string, traceId: string) => spans.filter((span) => span.name === name && span.traceId === traceId);

  it('continues an incoming traceparent: request span → key verification → its database read, with the key id and never the key', async () => {
    const { organization, key } = await partnerWithKey(api.app);
    const traceId = randomBytes(16).toString('hex');
    const callerSpanId = randomBytes(8).toString('hex');
    const response = await fetch(`${baseUrl}/v1/whoami`, { headers: { ...withKey(key.key), traceparent: `00-${traceId}-${callerSpanId}-01` } });
    expect(response.status).toBe(200);
    await sleep(50);
    const spans = await flushed();

    const [request] = byName(spans, 'GET /v1/whoami', traceId);
    expect(request).toBeDefined();
    expect(request!.parentSpanId).toBe(callerSpanId);
    expect(request!.attributes).toMatchObject({ 'http.route': '/v1/whoami', 'http.response.status_code': 200, 'gatehouse.api_key_id': key.id });
    // With no OTEL_EXPORTER_OTLP_PROTOCOL, OTLP's default encoding: protobuf.
    expect(new Set(otlp.contentTypes)).toEqual(new Set(['application/x-protobuf']));
    const [verification] = byName(spans, 'key verification', traceId);
    expect(verification!.parentSpanId).toBe(request!.spanId);
    // The key's first use reads it from the store: a query span inside the verification's.
    const reads = spans.filter((span) => span.traceId === traceId && span.attributes['db.operation.name'] === 'SELECT');
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.some((span) => span.parentSpanId === verification!.spanId)).toBe(true);
    // Once cached, the key is checked in memory: no verification span and no database statement (a Redis limiter's
    // script call, with PostgreSQL, is all there is besides the request span).
    const cachedTraceId = randomBytes(16).toString('hex');
    const cached = await fetch(`${baseUrl}/v1/whoami`, { headers: { ...withKey(key.key), traceparent: `00-${cachedTraceId}-${callerSpanId}-01` } });
    expect(cached.status).toBe(200);
    await sleep(50);
    const cachedSpans = (await flushed()).filter((span) => span.traceId === cachedTraceId);
    expect(cachedSpans.map((span) => span.name).filter((name) => !name.startsWith('redis '))).toEqual(['GET /v1/whoami']);
    expect(organization.id).toBeTruthy();
    expect(otlp.raw.join('\n')).not.toContain(key.key);
    expect(otlp.raw.join('\n')).not.toContain(secretOf(key.key));
  });

  it('a statement that fails ends its span as an error, named by its SQLSTATE and never by the values it was given', async () => {
    const traces = tracing.current!;
    const parent = traces.start('failing unit', { root: true });
    const canary = `canary-${randomBytes(6).toString('hex')}`;
    const failed = await traces.within(parent, () =>
      api.deps.store.db
        .transaction()
        .execute((trx) => sql`SELECT ${canary}::uuid`.execute(trx))
        .then(
          () => null,
          (error: unknown) => error,
        ),
    );
    traces.end(parent);
    expect(failed).toBeInstanceOf(Error);
    const traceId = parent.spanContext().traceId;
    const inTrace = (await flushed()).filter((span) => span.traceId === traceId);
    expect(inTrace.map((span) => span.name).sort()).toEqual(['BEGIN', 'ROLLBACK', 'SELECT', 'failing unit']);
    const select = inTrace.find((span) => span.name === 'SELECT')!;
    expect(select.parentSpanId).toBe(parent.spanContext().spanId);
    expect(select.status).toMatchObject({ code: 2, message: 'database error 22P02' });
    expect(otlp.raw.join('\n')).not.toContain(canary);
  });

  it.runIf(usingPostgres)('Redis calls are spans of the request that made them: the limiter script and the invalidation publish', async () => {
    const { key } = await partnerWithKey(api.app);
    const traceId = randomBytes(16).toString('hex');
    const killed = await fetch(`${baseUrl}/v1/api-keys/${key.id}/kill`, { method: 'POST', headers: { ...withKey(key.key), traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` } });
    expect(killed.status).toBe(200);
    await sleep(50);
    const spans = await flushed();
    const [request] = byName(spans, 'POST /v1/api-keys/:id/kill', traceId);
    expect(request).toBeDefined();
    const inTrace = spans.filter((span) => span.traceId === traceId);
    const limiter = inTrace.find((span) => span.name === 'redis EVALSHA gatehouseRateLimit');
    expect(limiter?.attributes['db.system.name']).toBe('redis');
    const published = inTrace.find((span) => span.name === 'redis PUBLISH');
    expect(published?.attributes).toMatchObject({ 'db.system.name': 'redis', 'db.operation.name': 'PUBLISH', 'gatehouse.invalidation': 'key' });
    // Each hangs off a span of this request: the tree links up to the request span.
    const byId = new Map(inTrace.map((span) => [span.spanId, span]));
    const reachesRequest = (span: DecodedSpan): boolean => span.spanId === request!.spanId || (span.parentSpanId !== undefined && byId.has(span.parentSpanId) && reachesRequest(byId.get(span.parentSpanId)!));
    expect(reachesRequest(limiter!)).toBe(true);
    expect(reachesRequest(published!)).toBe(true);
  });

  it('a job run and a webhook delivery are traces whose outbound calls carry their traceparent', async () => {
    const { organization, key } = await partnerWithKey(api.app);
    const projectId = await insertProject(api.deps, organization.id);
    const endpoint = await api.app.inject({ method: 'POST', url: '/v1/webhook-endpoints', headers: withKey(key.key), payload: { url: `${hooks.origin}/traced`, events: ['job.succeeded'] } });
    expect(endpoint.statusCode).toBe(201);
    const queued = await api.app.inject({ method: 'POST', url: `/v1/projects/${projectId}/ingest/appstore`, headers: withKey(key.key), payload: { iosBundleId: 'com.example.traced' } });
    expect(queued.statusCode).toBe(202);
    const lookup = await upstream.waitForRequest('/lookup?bundleId=com.example.traced', 10_000);
    const [delivered] = await hooks.waitFor('/traced', 1, 10_000);
    await sleep(100);
    const spans = await flushed();

    const jobSpan = spans.find((span) => span.name === 'job ingest_appstore' && span.attributes['gatehouse.job_id'] === queued.json().jobId);
    expect(jobSpan).toBeDefined();
    const lookupSpan = spans.find((span) => span.traceId === jobSpan!.traceId && span.name === 'GET' && span.parentSpanId === jobSpan!.spanId);
    expect(lookupSpan).toBeDefined();
    expect(lookup.headers.traceparent).toBe(`00-${jobSpan!.traceId}-${lookupSpan!.spanId}-01`);

    const deliverySpan = spans.find((span) => span.name === 'webhook delivery' && span.attributes['gatehouse.webhook_id'] === delivered!.headers['webhook-id']);
    expect(deliverySpan).toBeDefined();
    const postSpan = spans.find((span) => span.traceId === deliverySpan!.traceId && span.name === 'POST' && span.parentSpanId === deliverySpan!.spanId);
    expect(postSpan).toBeDefined();
    expect(delivered!.headers.traceparent).toBe(`00-${deliverySpan!.traceId}-${postSpan!.spanId}-01`);
  });
});
