import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatehouseAdmin, GatehouseError } from '../src/cli/client.ts';
import { DEFAULT_RATE_LIMITS } from '../src/config.ts';
import { ApiError } from '../src/http/errors.ts';
import { adminClient, countingFetch, partnerClient, partnerWithKey, rejection, startDroppingProxy, startListeningApp, type ListeningApp } from './client-support.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** A tier of the real rate limiter small enough to empty in a test: a burst of 30 whoami calls, then one every 2 s. */
const TINY_READS_PER_MINUTE = 30;

let t: ListeningApp;
let admin: GatehouseAdmin;
let apiKey: string;

/** Per test id: how many times a test route was reached. */
const attempts = new Map<string, number>();
const bump = (id: string) => {
  const count = (attempts.get(id) ?? 0) + 1;
  attempts.set(id, count);
  return count;
};

beforeAll(async () => {
  t = await startListeningApp({
    config: {
      rateLimits: { ...structuredClone(DEFAULT_RATE_LIMITS), tiny: { 'read-light': TINY_READS_PER_MINUTE, 'write-light': 60, 'long-running': 60 } },
    },
    // Failure shapes the product does not make on demand (a dependency down, an answer that never comes); they
    // sit behind the real key pipeline.
    extraRoutes: (app) => {
      const read = { endpointClass: 'read-light', scope: null } as const;
      app.get('/v1/test/unavailable-twice', { config: read }, async (request) => {
        const { id } = request.query as { id: string };
        if (bump(id) <= 2) throw new ApiError('UNAVAILABLE', 'A dependency is down.');
        return { attempts: attempts.get(id) };
      });
      app.get('/v1/test/slow', { config: read }, async (request) => {
        bump((request.query as { id: string }).id);
        await sleep(1000);
        return { ok: true };
      });
    },
  });
  admin = adminClient(t.baseUrl);
  apiKey = (await partnerWithKey(admin)).key.key;
});
afterAll(async () => t.close());

/** A key of the tiny tier whose read-light bucket the real limiter has just emptied, and its first 429. */
async function rateLimitedKey() {
  const { key } = await partnerWithKey(admin, { name: 'Tiny tier', rateLimitTier: 'tiny' });
  const impatient = partnerClient(t.baseUrl, key.key, { maxRetries: 0 });
  // The tier's burst passes; a slow machine may earn a request back while it runs, hence the margin.
  for (let passed = 0; passed < 2 * TINY_READS_PER_MINUTE; passed++) {
    const limited = await impatient.whoami().then(
      () => undefined,
      (error: unknown) => error,
    );
    if (limited !== undefined) return { key, limited: limited as GatehouseError, passed };
  }
  throw new Error(`no 429 after ${2 * TINY_READS_PER_MINUTE} whoami calls at ${TINY_READS_PER_MINUTE} a minute`);
}

const projectRows = async (organizationId: string, name: string) =>
  t.deps.store.db.selectFrom('projects').select('id').where('organization_id', '=', organizationId).where('name', '=', name).execute();

describe('client retries', () => {
  it('waits out a 429 of the real rate limiter for its Retry-After, then retries and succeeds', async () => {
    const { key, limited, passed } = await rateLimitedKey();
    expect(passed).toBeGreaterThanOrEqual(TINY_READS_PER_MINUTE);
    expect(limited).toMatchObject({ status: 429, code: 'RATE_LIMITED', details: { endpointClass: 'read-light' } });
    expect(limited.retryAfterMs).toBeGreaterThan(0);
    expect(limited.retryAfterMs).toBeLessThanOrEqual(60_000 / TINY_READS_PER_MINUTE);

    const { fetch, calls } = countingFetch();
    expect((await partnerClient(t.baseUrl, key.key, { fetch }).whoami()).apiKeyId).toBe(key.id);
    expect(calls.length).toBeGreaterThanOrEqual(2);
  });

  it('throws a 429 at once when its Retry-After is longer than the client will wait', async () => {
    const { key } = await rateLimitedKey();
    const { fetch, calls } = countingFetch();
    const error = await rejection(partnerClient(t.baseUrl, key.key, { fetch, maxRetryDelayMs: 500 }).whoami());
    expect(error).toMatchObject({ status: 429, code: 'RATE_LIMITED', details: { endpointClass: 'read-light' } });
    expect(error.retryAfterMs).toBeGreaterThan(500);
    expect(calls).toHaveLength(1);
  });

  it('throws KILL_SWITCH at once, without retrying: global switch on whoami, key switch on another route', async () => {
    const { key } = await partnerWithKey(admin);
    const { fetch, calls } = countingFetch();
    const gh = partnerClient(t.baseUrl, key.key, { fetch, maxRetries: 5 });

    await admin.killSwitch.set(true);
    try {
      const error = await rejection(gh.whoami());
      expect(error).toMatchObject({ status: 503, code: 'KILL_SWITCH', details: { scope: 'global' } });
      expect(calls).toHaveLength(1);
    } finally {
      await admin.killSwitch.set(false);
    }

    await admin.keys.kill(key.id);
    const error = await rejection(gh.projects.page());
    expect(error).toMatchObject({ status: 503, code: 'KILL_SWITCH', details: { scope: 'key' } });
    expect(calls).toHaveLength(2);
  });

  it('retries other 5xx with backoff, and never 401, 402, 404 or 422', async () => {
    const { fetch, calls } = countingFetch();
    const gh = partnerClient(t.baseUrl, apiKey, { fetch });
    expect(await gh.request('GET', '/v1/test/unavailable-twice', { query: { id: '503' } })).toEqual({ attempts: 3 });
    expect(calls).toHaveLength(3);

    const planless = (await partnerWithKey(admin, { name: 'Planless', plan: null })).key.key;
    const failures: [() => Promise<unknown>, number][] = [
      [() => partnerClient(t.baseUrl, `${apiKey.slice(0, -4)}AAAA`, { fetch }).whoami(), 401],
      [() => partnerClient(t.baseUrl, planless, { fetch }).whoami(), 402],
      [() => adminClient(t.baseUrl, { fetch }).organizations.get(randomUUID()), 404],
      [() => adminClient(t.baseUrl, { fetch }).organizations.update(randomUUID(), { creditBalance: -1 }), 422],
    ];
    for (const [call, status] of failures) {
      const before = calls.length;
      expect((await rejection(call())).status).toBe(status);
      expect(calls.length - before).toBe(1);
    }
  });

  it('gives up on an attempt after timeoutMs and retries it', async () => {
    const { fetch, calls } = countingFetch();
    const gh = partnerClient(t.baseUrl, apiKey, { fetch, timeoutMs: 150, maxRetries: 1 });
    const error = await rejection(gh.request('GET', '/v1/test/slow', { query: { id: 'slow' } }));
    expect(error).toMatchObject({ status: 0, code: 'TIMEOUT' });
    expect(calls).toHaveLength(2);
  });

  it('sends an Idempotency-Key (a UUID, or the caller’s) with every POST and none with GETs', async () => {
    const { fetch, calls } = countingFetch();
    const gh = partnerClient(t.baseUrl, apiKey, { fetch });
    await gh.projects.create({ name: 'keyed-1' });
    await gh.projects.create({ name: 'keyed-2' }, { idempotencyKey: 'my-own-key' });
    await gh.whoami();
    expect(calls.map((call) => call.headers.get('idempotency-key'))).toEqual([expect.stringMatching(UUID), 'my-own-key', null]);
  });

  it('retries a POST across a dropped connection with the same Idempotency-Key: the server replays it, one project row', async () => {
    const { organization, key } = await partnerWithKey(admin);
    const proxy = await startDroppingProxy(Number(new URL(t.baseUrl).port));
    try {
      const name = `dropped-${randomUUID()}`;
      const { fetch, calls } = countingFetch();
      // No customerExternalId: without the replay, a second attempt would make a second project.
      const project = await partnerClient(proxy.baseUrl, key.key, { fetch }).projects.create({ name });

      expect(proxy.connections()).toBe(2);
      const [first, second, ...more] = calls.map((call) => call.headers.get('idempotency-key'));
      expect(first).toMatch(UUID);
      expect(second).toBe(first);
      expect(more).toEqual([]);
      expect(project).toMatchObject({ name, organizationId: organization.id, status: 'active' });
      expect(await projectRows(organization.id, name)).toEqual([{ id: project.id }]);
      expect(await partnerClient(t.baseUrl, key.key).projects.get(project.id)).toEqual(project);
    } finally {
      await proxy.close();
    }
  });
});
