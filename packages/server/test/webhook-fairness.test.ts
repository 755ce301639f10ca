import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partnerWithKey, withKey } from './factories.ts';
import { sleep } from './fixtures/fake-upstream.ts';
import { ingest, insertProject } from './fixtures/jobs.ts';
import { startReceiver, type Receiver } from './fixtures/webhook-receiver.ts';
import { startTestApp, type TestApp } from './harness.ts';

/**
 * Issue 13, findings 5 and 14: one organization's receivers that never answer must not delay another organization's
 * webhooks, nor hold an unbounded number of test pings open.
 */
const TIMEOUT_MS = 6_000;

let receiver: Receiver;
let t: TestApp;
beforeAll(async () => {
  receiver = await startReceiver((path) => (path.startsWith('/hang/') ? 'hang' : { status: 204 }));
  // The default slots (8 per instance, 2 per organization); attempts are cut after TIMEOUT_MS.
  t = await startTestApp({ config: { jobs: { concurrency: 0 }, webhooks: { pollMs: 100, timeoutMs: TIMEOUT_MS } } });
});
afterAll(async () => {
  await t.close();
  await receiver.close();
});

async function organizationWithEndpoints(count: number, path: string) {
  const { organization, key } = await partnerWithKey(t.app);
  for (let index = 0; index < count; index++) {
    const response = await t.app.inject({
      method: 'POST',
      url: '/v1/webhook-endpoints',
      headers: withKey(key.key),
      payload: { url: `${receiver.origin}${path}/${index}`, events: ['job.canceled'] },
    });
    expect(response.statusCode, response.body).toBe(201);
  }
  return { organizationId: organization.id, key: key.key };
}

/** A queued job canceled at once: free, and one job.canceled event per endpoint. */
async function cancelOneJob(organizationId: string, key: string): Promise<void> {
  const projectId = await insertProject(t.deps, organizationId);
  const jobId = await ingest(t.app, key, projectId, 'appstore', { iosBundleId: `fair.${randomUUID().slice(0, 8)}` });
  expect((await t.app.inject({ method: 'POST', url: `/v1/jobs/${jobId}/cancel`, headers: withKey(key) })).statusCode).toBe(200);
}

describe('webhook deliveries are shared between organizations (finding 5)', () => {
  it("delivers another organization's event while one organization's 48 deliveries hang", async () => {
    const slow = await organizationWithEndpoints(16, `/hang/${randomUUID()}`);
    for (let job = 0; job < 3; job++) await cancelOneJob(slow.organizationId, slow.key);
    // The slow organization's attempts take what they may of the slots.
    await sleep(500);

    const quickPath = `/ok/${randomUUID()}`;
    const quick = await organizationWithEndpoints(1, quickPath);
    const started = Date.now();
    await cancelOneJob(quick.organizationId, quick.key);
    await receiver.waitFor(`${quickPath}/0`, 1, TIMEOUT_MS * 3);
    // Before the fix every slot was held by the hanging receiver, so the event waited at least one whole timeout.
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS - 1_000);
  });
});

describe('test pings are bounded per organization (finding 14)', () => {
  it('holds at most two pings to a receiver that never answers and refuses the rest at once with 429', async () => {
    const { key } = await partnerWithKey(t.app);
    const endpoint = await t.app.inject({
      method: 'POST',
      url: '/v1/webhook-endpoints',
      headers: withKey(key.key),
      payload: { url: `${receiver.origin}/hang/ping-${randomUUID()}`, events: ['job.canceled'] },
    });
    const endpointId = endpoint.json().id as string;
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const response = await t.app.inject({ method: 'POST', url: `/v1/webhook-endpoints/${endpointId}/test`, headers: withKey(key.key) });
        return { response, ms: Date.now() - started };
      }),
    );
    const held = answers.filter(({ response }) => response.statusCode === 200);
    const refused = answers.filter(({ response }) => response.statusCode === 429);
    expect(held).toHaveLength(2);
    expect(refused).toHaveLength(6);
    for (const { response, ms } of refused) {
      expect(response.json().error).toMatchObject({ code: 'RATE_LIMITED', details: { reason: 'test_pings_in_flight', limit: 2 } });
      expect(response.headers['retry-after']).toBeDefined();
      // Refused before any held ping could have timed out.
      expect(ms).toBeLessThan(TIMEOUT_MS);
    }
    for (const { response } of held) expect(response.json()).toMatchObject({ delivered: false, error: { code: 'UPSTREAM_TIMEOUT' } });

    // Another organization pings meanwhile as usual, and the slots come back once the pings end.
    const other = await partnerWithKey(t.app);
    const otherEndpoint = await t.app.inject({
      method: 'POST',
      url: '/v1/webhook-endpoints',
      headers: withKey(other.key.key),
      payload: { url: `${receiver.origin}/ok/ping-${randomUUID()}`, events: ['job.canceled'] },
    });
    const otherPing = await t.app.inject({ method: 'POST', url: `/v1/webhook-endpoints/${otherEndpoint.json().id}/test`, headers: withKey(other.key.key) });
    expect(otherPing.json()).toMatchObject({ delivered: true });
    const again = await t.app.inject({ method: 'POST', url: `/v1/webhook-endpoints/${endpointId}/test`, headers: withKey(key.key) });
    expect(again.statusCode).toBe(200);
  });
});
