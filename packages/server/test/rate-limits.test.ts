import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RATE_LIMITS, type EndpointClass, type RateLimitTable } from '../src/config.ts';
import { notFound } from '../src/http/errors.ts';
import { admin, createOrganization, issueKey, withKey } from './factories.ts';
import { redisTestUrl, startTestApp, usingPostgres, type TestApp } from './harness.ts';

/** SPEC 5 through HTTP: small limits so that bursts stay short; a frozen clock that tests move by hand. */
const RATE_LIMITS: RateLimitTable = {
  ...DEFAULT_RATE_LIMITS,
  standard: { 'read-light': 5, 'write-light': 3, 'long-running': 2 },
  pilot: { 'read-light': 20, 'write-light': 10, 'long-running': 7 },
};

/** Routes of the classes the product does not have yet, and one that fails after check 9. */
function extraRoutes(app: FastifyInstance): void {
  const route = (url: string, endpointClass: EndpointClass) =>
    app.get(url, { config: { endpointClass, scope: null } }, async () => ({ ok: true }));
  route('/v1/test/write', 'write-light');
  route('/v1/test/long', 'long-running');
  app.get('/v1/test/missing', { config: { endpointClass: 'read-light', scope: null } }, async () => {
    throw notFound('Thing');
  });
}

const variants = usingPostgres ? (['memory', 'redis'] as const) : (['memory'] as const);

describe.each(variants)('rate limits with the %s limiter', (variant) => {
  let nowMs = 1_800_000_000_000;
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      config: { rateLimits: RATE_LIMITS, redisUrl: variant === 'redis' ? redisTestUrl : undefined },
      deps: { now: () => nowMs, rateLimitKeyPrefix: `gh_test:${randomBytes(6).toString('hex')}:` },
      extraRoutes,
    });
  });
  afterAll(async () => t.close());

  const call = (key: string, url = '/v1/whoami') => t.app.inject({ url, headers: withKey(key) });
  async function burst(key: string, count: number, url?: string): Promise<LightMyRequestResponse[]> {
    const responses = [];
    for (let i = 0; i < count; i++) responses.push(await call(key, url));
    return responses;
  }
  const limitHeaders = (response: LightMyRequestResponse) => ({
    limit: response.headers['x-ratelimit-limit'],
    remaining: response.headers['x-ratelimit-remaining'],
    reset: response.headers['x-ratelimit-reset'],
    endpointClass: response.headers['x-ratelimit-endpoint-class'],
    tier: response.headers['x-ratelimit-tier'],
    policy: response.headers['ratelimit-policy'],
    ratelimit: response.headers['ratelimit'],
    retryAfter: response.headers['retry-after'],
  });
  async function newKey(tier = 'standard') {
    const organization = await createOrganization(t.app, { rateLimitTier: tier });
    return { organization, key: await issueKey(t.app, organization.id) };
  }

  it('admits a burst up to the bucket and answers the rest 429, every answer with its headers', async () => {
    const { key } = await newKey();
    const responses = await burst(key.key, 8);
    expect(responses.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    // 5 per minute: one every 12 s, so Reset grows by 12 s per request until the bucket is empty.
    const policy = '"read-light";q=5;w=60';
    const common = { limit: '5', endpointClass: 'read-light', tier: 'standard', policy };
    expect(limitHeaders(responses[0]!)).toEqual({ ...common, remaining: '4', reset: '12', ratelimit: '"read-light";r=4;t=12', retryAfter: undefined });
    expect(limitHeaders(responses[3]!)).toEqual({ ...common, remaining: '1', reset: '48', ratelimit: '"read-light";r=1;t=48', retryAfter: undefined });
    // Empty: t becomes the wait for the next request rather than the time to full.
    expect(limitHeaders(responses[4]!)).toEqual({ ...common, remaining: '0', reset: '60', ratelimit: '"read-light";r=0;t=12', retryAfter: undefined });
    for (const refused of responses.slice(5)) {
      expect(limitHeaders(refused)).toEqual({ ...common, remaining: '0', reset: '60', ratelimit: '"read-light";r=0;t=12', retryAfter: '12' });
      expect(refused.headers['x-request-id']).toBe(refused.json().error.requestId);
      expect(refused.json().error).toMatchObject({ code: 'RATE_LIMITED', details: { endpointClass: 'read-light', retryAfterMs: 12_000 } });
    }
  });

  it('leaves the other classes of the key untouched when one is exhausted', async () => {
    const { key } = await newKey();
    const writes = await burst(key.key, 4, '/v1/test/write');
    expect(writes.map((r) => r.statusCode)).toEqual([200, 200, 200, 429]);
    expect(limitHeaders(writes[3]!)).toMatchObject({ endpointClass: 'write-light', limit: '3', retryAfter: '20' });
    const read = await call(key.key);
    expect(read.statusCode).toBe(200);
    expect(limitHeaders(read)).toMatchObject({ endpointClass: 'read-light', limit: '5', remaining: '4' });
    const long = await call(key.key, '/v1/test/long');
    expect(long.statusCode).toBe(200);
    expect(limitHeaders(long)).toMatchObject({ endpointClass: 'long-running', limit: '2', remaining: '1', policy: '"long-running";q=2;w=60' });
  });

  it('gives every key its own buckets, test and live keys of one organization included', async () => {
    const { organization, key } = await newKey();
    const live = await issueKey(t.app, organization.id, { env: 'live' });
    const test = await issueKey(t.app, organization.id, { env: 'test' });
    expect((await burst(key.key, 6)).map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200, 429]);
    for (const other of [live, test]) {
      const response = await call(other.key);
      expect(response.statusCode).toBe(200);
      expect(limitHeaders(response)).toMatchObject({ remaining: '4', tier: 'standard' });
    }
    expect((await call(test.key)).json().env).toBe('test');
  });

  it('applies a tier change made through the admin API to the next request', async () => {
    const { organization, key } = await newKey();
    expect((await burst(key.key, 6)).map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200, 429]);
    const patched = await admin(t.app, 'PATCH', `/admin/v1/organizations/${organization.id}`, { rateLimitTier: 'pilot' });
    expect(patched.statusCode).toBe(200);
    // The bucket is still empty, but at 20 per minute the next request is 3 s away instead of 12 s.
    const refused = await call(key.key);
    expect(refused.statusCode).toBe(429);
    expect(limitHeaders(refused)).toMatchObject({ tier: 'pilot', limit: '20', retryAfter: '3', policy: '"read-light";q=20;w=60' });
    nowMs += 3000;
    const admitted = await call(key.key);
    expect(admitted.statusCode).toBe(200);
    expect(limitHeaders(admitted)).toMatchObject({ tier: 'pilot', limit: '20', remaining: '0' });
  });

  it('honours Retry-After exactly: a retry 1 ms early is refused, one on time passes', async () => {
    const { key } = await newKey();
    const responses = await burst(key.key, 3, '/v1/test/long');
    const refused = responses[2]!;
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe('30');
    expect(refused.json().error.details).toEqual({ endpointClass: 'long-running', retryAfterMs: 30_000 });
    nowMs += 30_000 - 1;
    const early = await call(key.key, '/v1/test/long');
    expect(early.statusCode).toBe(429);
    expect(early.headers['retry-after']).toBe('1');
    expect(early.json().error.details.retryAfterMs).toBe(1);
    nowMs += 1;
    expect((await call(key.key, '/v1/test/long')).statusCode).toBe(200);
  });

  it('rounds a wait that is not whole seconds up, never down', async () => {
    const { key } = await newKey('pilot');
    const responses = await burst(key.key, 8, '/v1/test/long');
    const refused = responses[7]!;
    expect(refused.statusCode).toBe(429);
    // 7 per minute: 8571.43 ms between requests.
    expect(refused.json().error.details.retryAfterMs).toBe(8572);
    expect(refused.headers['retry-after']).toBe('9');
    expect(refused.headers['ratelimit']).toBe('"long-running";r=0;t=9');
    nowMs += 8571;
    expect((await call(key.key, '/v1/test/long')).statusCode).toBe(429);
    nowMs += 1;
    expect((await call(key.key, '/v1/test/long')).statusCode).toBe(200);
  });

  it('puts the headers on errors that come after the limit, and not on unauthenticated answers', async () => {
    const { key } = await newKey();
    const missing = await call(key.key, '/v1/test/missing');
    expect(missing.statusCode).toBe(404);
    expect(limitHeaders(missing)).toMatchObject({ limit: '5', remaining: '4', endpointClass: 'read-light', tier: 'standard' });
    const anonymous = await t.app.inject({ url: '/v1/whoami' });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers['x-ratelimit-limit']).toBeUndefined();
  });

  it('falls back to the default tier for a tier no longer configured', async () => {
    const { organization, key } = await newKey();
    await t.deps.store.db.updateTable('organizations').set({ rate_limit_tier: 'retired' }).where('id', '=', organization.id).execute();
    await t.deps.bus.publish({ kind: 'organization', organizationId: organization.id });
    const response = await call(key.key);
    expect(response.statusCode).toBe(200);
    expect(limitHeaders(response)).toMatchObject({ tier: 'standard', limit: '5' });
  });

  it('reports 429s and whether limits are shared in /metrics', async () => {
    const { key } = await newKey();
    const before = (await t.deps.metrics.rateLimited.get()).values.find((v) => v.labels.class === 'write-light')?.value ?? 0;
    await burst(key.key, 5, '/v1/test/write');
    const metrics = (await t.app.inject({ url: '/metrics' })).body;
    expect(metrics).toContain(`gatehouse_rate_limited_total{class="write-light"} ${before + 2}`);
    expect(metrics).toContain(`gatehouse_rate_limiter_shared ${variant === 'redis' ? 1 : 0}`);
  });
});
