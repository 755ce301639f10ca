import { randomUUID } from 'node:crypto';
import { Ajv } from 'ajv';
import formats from 'ajv-formats';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWebhook, type WebhookEvent } from '../../client/src/webhooks.ts';
import type { Config } from '../src/config.ts';
import type { Store } from '../src/db/create-db.ts';
import { findApiKeyById } from '../src/keys/repository.ts';
import { WEBHOOK_EVENT_TYPES } from '../src/webhooks/events.ts';
import { admin, createOrganization, issueKey, secretOf, withKey } from './factories.ts';
import { sleep } from './fixtures/fake-upstream.ts';
import { ingest, insertProject, waitForJob } from './fixtures/jobs.ts';
import { startReceiver, type Receiver } from './fixtures/webhook-receiver.ts';
import { createTestStore, startTestApp, type TestApp } from './harness.ts';

/**
 * SPEC 7 lifecycle events through the signed, retried deliveries of SPEC 8.6: each delivered once, signed, to the
 * endpoints of the right env only (SPEC 12), never with a secret in it.
 */

const HOUR = 3_600_000;
/** Fast polling, so a test waits milliseconds for a delivery; the key.expiring scan as often. */
const FAST: Partial<Config> = { webhooks: { pollMs: 50, backoffBaseMs: 100, jitter: 0, timeoutMs: 2_000 }, keyExpiringScanMs: 50 };
/** Time the worker gets to send anything more than expected, before a test says "exactly once". */
const SETTLE_MS = 600;

let receiver: Receiver;
let store: Store;
let t: TestApp;
/** The injected clock: real time plus what the expiring test moves it by. */
let clockOffsetMs = 0;
/** Every plain key and every secret part the test made: none may appear in any event. */
const canaries: string[] = [];

beforeAll(async () => {
  receiver = await startReceiver(() => ({ status: 204 }));
  store = await createTestStore();
  t = await startTestApp({ store, config: FAST, deps: { now: () => Date.now() + clockOffsetMs } });
});
afterAll(async () => {
  await t?.close();
  await store?.close();
  await receiver?.close();
});

const remember = <K extends { key: string }>(created: K): K => {
  canaries.push(created.key, secretOf(created.key));
  return created;
};

interface Subscriber {
  path: string;
  secret: string;
  id: string;
}

/** An endpoint of the calling key's env, subscribed to `events` (all of them by default). */
async function subscribe(key: string, events: readonly string[] = WEBHOOK_EVENT_TYPES): Promise<Subscriber> {
  const path = `/hook/${randomUUID()}`;
  const response = await t.app.inject({ method: 'POST', url: '/v1/webhook-endpoints', headers: withKey(key), payload: { url: `${receiver.origin}${path}`, events } });
  expect(response.statusCode, response.body).toBe(201);
  const { id, secret } = response.json();
  return { path, secret, id };
}

type Data = Record<string, unknown> & { env: string; apiKey?: Record<string, unknown> };

/** What reached the subscriber, each signature verified with its secret; no two with one webhook-id. */
async function received(subscriber: Subscriber): Promise<Array<WebhookEvent<Data> & { webhookId: string; body: string }>> {
  const events = [];
  for (const request of receiver.on(subscriber.path)) {
    const verified = await verifyWebhook<Data>({ payload: request.body, headers: request.headers, secret: subscriber.secret });
    events.push({ ...verified.event, webhookId: verified.webhookId, body: request.body });
  }
  expect(new Set(events.map((event) => event.webhookId)).size).toBe(events.length);
  return events;
}

/** Waits for `count` events, then long enough to see any extra one arrive, and returns exactly those. */
async function exactly(subscriber: Subscriber, count: number) {
  await receiver.waitFor(subscriber.path, count);
  await sleep(SETTLE_MS);
  const events = await received(subscriber);
  expect(events.map((event) => event.type)).toHaveLength(count);
  return events;
}

const typesOf = (events: Array<{ type: string }>) => events.map((event) => event.type).sort();

// ajv-formats is CommonJS; its default export arrives wrapped under NodeNext resolution (as in src/http/validation.ts).
const addFormats = formats as unknown as { default: (ajv: Ajv) => Ajv };

/** Each body is what the served OpenAPI document's `webhooks` says its type's body is (additional fields refused). */
async function expectDocumented(events: Array<{ type: string; body: string }>) {
  const document = (await t.app.inject({ url: '/v1/openapi.json' })).json() as { webhooks: Record<string, { post: { requestBody: { content: Record<string, { schema: object }> } } }> };
  expect(Object.keys(document.webhooks).sort()).toEqual([...WEBHOOK_EVENT_TYPES, 'test.ping'].sort());
  const ajv = addFormats.default(new Ajv({ strict: false }));
  for (const { type, body } of events) {
    const validate = ajv.compile(document.webhooks[type]!.post.requestBody.content['application/json']!.schema);
    expect(validate(JSON.parse(body)), `${type}: ${JSON.stringify(validate.errors)}`).toBe(true);
  }
}

/** No plain key, no secret part, no field named like a secret, hash or digest, in any event body. */
function expectNoSecret(events: Array<{ body: string }>) {
  for (const { body } of events) {
    for (const canary of canaries) expect(body).not.toContain(canary);
    expect(body).not.toMatch(/"[^"]*(secret|hash|digest)[^"]*":/i);
    expect(body).not.toContain('whsec_');
  }
}

async function newOrganization(fields: Parameters<typeof createOrganization>[1] = {}) {
  const organization = await createOrganization(t.app, fields);
  const live = remember(await issueKey(t.app, organization.id, { name: 'live admin key' }));
  const test = remember(await issueKey(t.app, organization.id, { name: 'test admin key', env: 'test' }));
  return { organization, live, test };
}

describe('key lifecycle events', () => {
  it('delivers every key event and organization.access_changed once, signed, without a secret, to endpoints of the key env only', async () => {
    const { organization, live, test } = await newOrganization();
    const liveHook = await subscribe(live.key);
    const testHook = await subscribe(test.key);
    const killOnly = await subscribe(live.key, ['key.killed']);

    // Partner API: create, kill (twice: the second changes nothing), revoke (twice), roll.
    const created = remember((await t.app.inject({ method: 'POST', url: '/v1/api-keys', headers: withKey(live.key), payload: { name: 'made by partner' } })).json());
    expect(created.id).toBeDefined();
    for (let i = 0; i < 2; i++) expect((await t.app.inject({ method: 'POST', url: `/v1/api-keys/${created.id}/kill`, headers: withKey(live.key) })).statusCode).toBe(200);
    // Admin API: issue, unkill (twice), kill, revoke.
    const issued = remember(await issueKey(t.app, organization.id, { name: 'made by operator' }));
    for (let i = 0; i < 2; i++) expect((await admin(t.app, 'POST', `/admin/v1/keys/${created.id}/unkill`)).statusCode).toBe(200);
    const rolled = await t.app.inject({ method: 'POST', url: `/v1/api-keys/${issued.id}/roll`, headers: withKey(live.key), payload: { overlapSeconds: 3 * 86_400 } });
    expect(rolled.statusCode, rolled.body).toBe(201);
    remember(rolled.json());
    for (let i = 0; i < 2; i++) expect((await t.app.inject({ method: 'DELETE', url: `/v1/api-keys/${created.id}`, headers: withKey(live.key) })).statusCode).toBe(200);
    expect((await admin(t.app, 'POST', `/admin/v1/keys/${issued.id}/kill`)).statusCode).toBe(200);
    expect((await admin(t.app, 'POST', `/admin/v1/keys/${issued.id}/revoke`)).statusCode).toBe(200);
    // The organization's switch both ways (the second "true" changes nothing).
    for (const revoked of [true, true, false]) {
      const patched = await admin(t.app, 'PATCH', `/admin/v1/organizations/${organization.id}`, { apiAccessRevoked: revoked });
      expect(patched.statusCode, patched.body).toBe(200);
    }
    // A test key's own change: its event goes to the test endpoint only.
    const testMade = remember((await t.app.inject({ method: 'POST', url: '/v1/api-keys', headers: withKey(test.key), payload: { name: 'test made' } })).json());
    // A leak found by `gatehouse scan --kill`, reported twice (SPEC 15): killed and announced once.
    for (let i = 0; i < 2; i++) expect((await admin(t.app, 'POST', `/admin/v1/keys/by-key-id/${live.keyId}/kill`)).statusCode).toBe(200);

    const liveEvents = await exactly(liveHook, 12);
    expect(typesOf(liveEvents)).toEqual(
      [
        'key.created',
        'key.created',
        'key.killed',
        'key.unkilled',
        'key.rolled',
        'key.revoked',
        'key.killed',
        'key.revoked',
        'organization.access_changed',
        'organization.access_changed',
        'key.killed',
        'key.leaked',
      ].sort(),
    );
    for (const event of liveEvents) {
      expect(event.data.env).toBe('live');
      expect(event.data.organizationId).toBe(organization.id);
    }
    const byType = (type: string) => liveEvents.filter((event) => event.type === type);
    expect(byType('key.created').map((event) => event.data.apiKey!.id).sort()).toEqual([created.id, issued.id].sort());
    const [roll] = byType('key.rolled');
    expect(roll!.data.apiKey).toMatchObject({ id: rolled.json().id, displayPrefix: rolled.json().displayPrefix, env: 'live' });
    expect(roll!.data.previousKey).toMatchObject({ id: issued.id, displayPrefix: issued.displayPrefix, expiresAt: rolled.json().previousKey.expiresAt });
    expect(byType('key.revoked').map((event) => event.data.apiKey!.status)).toEqual(['revoked', 'revoked']);
    // Two flips, one each way; their deliveries may arrive in either order.
    expect(byType('organization.access_changed').map((event) => event.data.apiAccessRevoked).sort()).toEqual([false, true]);
    expect(byType('key.leaked')[0]!.data).toMatchObject({ apiKey: { id: live.id, keyId: live.keyId, displayPrefix: live.displayPrefix, killSwitch: true }, source: 'gatehouse scan' });

    // The test endpoint: the test key's creation and the organization's switch, each copy in its own env.
    const testEvents = await exactly(testHook, 3);
    expect(typesOf(testEvents)).toEqual(['key.created', 'organization.access_changed', 'organization.access_changed']);
    for (const event of testEvents) expect(event.data.env).toBe('test');
    expect(testEvents.find((event) => event.type === 'key.created')!.data.apiKey).toMatchObject({ id: testMade.id, env: 'test' });

    // An endpoint gets only what it subscribed to.
    expect(typesOf(await exactly(killOnly, 3))).toEqual(['key.killed', 'key.killed', 'key.killed']);

    expectNoSecret([...liveEvents, ...testEvents]);
    await expectDocumented([...liveEvents, ...testEvents]);
    // What the store kept of them (the delivery log) holds no secret either.
    const bodies = await t.deps.store.db.selectFrom('webhook_deliveries').select('body').where('organization_id', '=', organization.id).execute();
    expect(bodies).toHaveLength(12 + 3 + 3);
    expectNoSecret(bodies.map((row) => ({ body: row.body ?? '' })));
  });

  it('announces a switch flipped by several requests at once exactly once', async () => {
    const { live } = await newOrganization();
    const hook = await subscribe(live.key, ['key.killed', 'key.unkilled', 'key.revoked']);
    const target = remember((await t.app.inject({ method: 'POST', url: '/v1/api-keys', headers: withKey(live.key), payload: { name: 'contended' } })).json());
    for (const path of ['kill', 'unkill', 'revoke']) {
      const answers = await Promise.all(Array.from({ length: 5 }, () => admin(t.app, 'POST', `/admin/v1/keys/${target.id}/${path}`)));
      expect(answers.map((answer) => answer.statusCode)).toEqual([200, 200, 200, 200, 200]);
    }
    expect(typesOf(await exactly(hook, 3))).toEqual(['key.killed', 'key.revoked', 'key.unkilled']);
  });

  it('rolls the event back with its change when the transaction fails', async () => {
    const { live } = await newOrganization();
    const hook = await subscribe(live.key, ['key.killed']);
    const victim = remember((await t.app.inject({ method: 'POST', url: '/v1/api-keys', headers: withKey(live.key), payload: { name: 'victim' } })).json());
    // The kill's audit entry fails once (unit-of-work.test.ts's injection): the kill and its event roll back together.
    const name = `fail_${randomUUID().replaceAll('-', '')}`;
    await sql
      .raw(
        `CREATE SEQUENCE ${name};
         CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.target_id = '${victim.id}' AND NEW.action = 'key.kill' AND nextval('${name}') = 1 THEN RAISE EXCEPTION 'injected failure'; END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER ${name} BEFORE INSERT ON audit_entries FOR EACH ROW EXECUTE FUNCTION ${name}();`,
      )
      .execute(t.deps.store.db);
    const failed = await t.app.inject({ method: 'POST', url: `/v1/api-keys/${victim.id}/kill`, headers: withKey(live.key) });
    expect(failed.statusCode).toBe(500);
    const queued = () => t.deps.store.db.selectFrom('webhook_deliveries').select('id').where('endpoint_id', '=', hook.id).execute();
    expect(await queued()).toHaveLength(0);
    expect((await findApiKeyById(t.deps.store.db, victim.id))!.kill_switch).toBe(false);
    await sleep(SETTLE_MS);
    expect(receiver.on(hook.path)).toHaveLength(0);

    expect((await t.app.inject({ method: 'POST', url: `/v1/api-keys/${victim.id}/kill`, headers: withKey(live.key) })).statusCode).toBe(200);
    const [event] = await exactly(hook, 1);
    expect(event!.data.apiKey).toMatchObject({ id: victim.id, killSwitch: true });
  });
});

describe('credits.low', () => {
  it('is sent once per crossing of lowCreditThreshold, to live endpoints only, and the threshold is set and shown by the admin API', async () => {
    const { organization, live, test } = await newOrganization({ creditBalance: 1000 });
    const liveHook = await subscribe(live.key, ['credits.low']);
    const testHook = await subscribe(test.key, ['credits.low']);
    const patch = async (body: Record<string, unknown>) => {
      const response = await admin(t.app, 'PATCH', `/admin/v1/organizations/${organization.id}`, body);
      expect(response.statusCode, response.body).toBe(200);
      return response.json();
    };
    expect((await admin(t.app, 'GET', `/admin/v1/organizations/${organization.id}`)).json().lowCreditThreshold).toBeNull();
    expect((await patch({ lowCreditThreshold: 500 })).lowCreditThreshold).toBe(500);
    expect((await admin(t.app, 'GET', `/admin/v1/organizations/${organization.id}`)).json().lowCreditThreshold).toBe(500);
    expect((await admin(t.app, 'PATCH', `/admin/v1/organizations/${organization.id}`, { lowCreditThreshold: -1 })).statusCode).toBe(422);

    await patch({ creditBalance: 400 }); // falls below: the first crossing
    await patch({ creditBalance: 300 }); // stays below: nothing
    const first = await exactly(liveHook, 1);
    expect(first[0]).toMatchObject({ type: 'credits.low', data: { env: 'live', organizationId: organization.id, creditBalance: 400, lowCreditThreshold: 500 } });

    await patch({ creditBalance: 600 }); // above again: nothing
    await patch({ creditBalance: 450 }); // below again: the second crossing
    const both = await exactly(liveHook, 2);
    expect(both.map((event) => event.data.creditBalance)).toEqual([400, 450]);
    await expectDocumented(both);

    // A top-up that stays below the threshold is no crossing either; turning it off stops the events.
    expect((await admin(t.app, 'POST', `/admin/v1/organizations/${organization.id}/credits`, { amount: 10 })).statusCode).toBe(200);
    expect((await patch({ lowCreditThreshold: null })).lowCreditThreshold).toBeNull();
    await patch({ creditBalance: 1000 });
    await patch({ creditBalance: 0 });
    await exactly(liveHook, 2);
    expect(receiver.on(testHook.path)).toHaveLength(0);
    expect(await t.deps.store.db.selectFrom('webhook_deliveries').select('id').where('endpoint_id', '=', testHook.id).execute()).toHaveLength(0);
  });
});

describe('credits.low from a job', () => {
  it('is written by the charge of a job that takes the balance below the threshold, once', async () => {
    const { organization, live } = await newOrganization({ creditBalance: 105 });
    expect((await admin(t.app, 'PATCH', `/admin/v1/organizations/${organization.id}`, { lowCreditThreshold: 100 })).statusCode).toBe(200);
    const hook = await subscribe(live.key, ['credits.low']);
    const projectId = await insertProject(t.deps, organization.id);
    // Each ingest is charged 10 credits when it starts (its upstream then refuses it: the charge stays): 95, then 85.
    for (const bundle of ['com.example.one', 'com.example.two']) {
      const job = await waitForJob(t.app, live.key, await ingest(t.app, live.key, projectId, 'appstore', { iosBundleId: bundle }));
      expect(job.creditsCharged).toBe(10);
    }
    const [event] = await exactly(hook, 1);
    expect(event!.data).toMatchObject({ env: 'live', organizationId: organization.id, creditBalance: 95, lowCreditThreshold: 100 });
  });
});

describe('key.expiring', () => {
  let second: TestApp;
  beforeAll(async () => {
    // A second instance over the same store scans too: each notice is still sent once.
    second = await startTestApp({ store, config: FAST, deps: { now: () => Date.now() + clockOffsetMs } });
  });
  afterAll(async () => second?.close());

  it('is sent 24 hours and 1 hour before expiresAt, each once, by two instances scanning one store', async () => {
    const { organization, live, test } = await newOrganization();
    const liveHook = await subscribe(live.key, ['key.expiring']);
    const testHook = await subscribe(test.key, ['key.expiring']);
    const start = Date.now() + clockOffsetMs;
    const expiresAt = new Date(start + 48 * HOUR).toISOString();
    const expiring = remember(await issueKey(t.app, organization.id, { name: 'expiring', expiresAt }));
    const expiringTest = remember(await issueKey(t.app, organization.id, { name: 'expiring test', env: 'test', expiresAt }));
    // Another key of the organization without an expiry, and a revoked one: never a notice.
    const revoked = remember(await issueKey(t.app, organization.id, { name: 'revoked', expiresAt }));
    expect((await admin(t.app, 'POST', `/admin/v1/keys/${revoked.id}/revoke`)).statusCode).toBe(200);

    await sleep(SETTLE_MS);
    expect(receiver.on(liveHook.path)).toHaveLength(0);

    clockOffsetMs += 25 * HOUR; // 23 hours left
    const day = await exactly(liveHook, 1);
    expect(day[0]).toMatchObject({ type: 'key.expiring', data: { env: 'live', hoursBefore: 24, apiKey: { id: expiring.id, displayPrefix: expiring.displayPrefix, expiresAt } } });
    const testDay = await exactly(testHook, 1);
    expect(testDay[0]!.data).toMatchObject({ env: 'test', hoursBefore: 24, apiKey: { id: expiringTest.id } });

    clockOffsetMs += 22 * HOUR + 30 * 60_000; // 30 minutes left
    const hour = await exactly(liveHook, 2);
    expect(hour.map((event) => event.data.hoursBefore)).toEqual([24, 1]);
    await exactly(testHook, 2);

    clockOffsetMs += HOUR; // expired: nothing more
    await sleep(SETTLE_MS);
    await exactly(liveHook, 2);
    expectNoSecret([...hour, ...(await received(testHook))]);
    await expectDocumented(hour);
    const marked = await t.deps.store.db.selectFrom('api_keys').select(['id', 'expiring_notice']).where('id', 'in', [expiring.id, revoked.id]).execute();
    expect(Object.fromEntries(marked.map((row) => [row.id, row.expiring_notice]))).toEqual({ [expiring.id]: 1, [revoked.id]: 0 });

    // SPEC 10.3: each notice is audited too, once, in its key's world, by the scan that sent it.
    type Entry = { actor: string; targetId: string; details: { hoursBefore: number } };
    const auditedFor = async (key: string) =>
      ((await t.app.inject({ url: '/v1/audit?action=key.expiring', headers: withKey(key) })).json() as { data: Entry[] }).data.map((entry) => [
        entry.actor,
        entry.targetId,
        entry.details.hoursBefore,
      ]);
    expect(await auditedFor(live.key)).toEqual([
      ['gatehouse:expiring-scan', expiring.id, 1],
      ['gatehouse:expiring-scan', expiring.id, 24],
    ]);
    expect(await auditedFor(test.key)).toEqual([
      ['gatehouse:expiring-scan', expiringTest.id, 1],
      ['gatehouse:expiring-scan', expiringTest.id, 24],
    ]);
  });

  it('starts again for a new expiresAt, and gives a key first seen within the hour only the 1-hour notice', async () => {
    const { organization, live } = await newOrganization();
    const hook = await subscribe(live.key, ['key.expiring', 'key.rolled']);
    const start = Date.now() + clockOffsetMs;
    const soon = remember(await issueKey(t.app, organization.id, { name: 'soon', expiresAt: new Date(start + 40 * 60_000).toISOString() }));
    const [notice] = await exactly(hook, 1);
    expect(notice!.data).toMatchObject({ hoursBefore: 1, apiKey: { id: soon.id } });

    // A key 20 hours from expiry gets its 24-hour notice; rolled with a 30-minute overlap, its new expiresAt gets a
    // 1-hour notice of its own (the successor inherits the old expiry: its own notices follow).
    const later = remember(await issueKey(t.app, organization.id, { name: 'later', expiresAt: new Date(start + 20 * HOUR).toISOString() }));
    await receiver.waitFor(hook.path, 2);
    const rolled = await t.app.inject({ method: 'POST', url: `/v1/api-keys/${later.id}/roll`, headers: withKey(live.key), payload: { overlapSeconds: 1800 } });
    expect(rolled.statusCode).toBe(201);
    remember(rolled.json());
    const events = await exactly(hook, 5);
    const about = (id: string) => events.filter((event) => event.type === 'key.expiring' && event.data.apiKey!.id === id).map((event) => event.data.hoursBefore);
    expect(about(later.id)).toEqual([24, 1]);
    expect(about(rolled.json().id)).toEqual([24]);
  });
});
