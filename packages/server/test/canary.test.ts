import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, partnerWithKey, withKey } from './factories.ts';
import { everyTableAsText, startTestApp, type TestApp } from './harness.ts';

/** A secret that only the failing statements below ever carry, as a parameter. */
const PARAMETER_CANARY = `whsec_${'Qz7'.repeat(12)}`;

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    config: { logLevel: 'trace' },
    extraRoutes: (app) => {
      app.get('/v1/test-crash', { config: { endpointClass: 'read-light', scope: null } }, async (request) => {
        throw new Error(`failed while handling ${request.headers['x-api-key']}`);
      });
      // Statements that fail with the secret as a parameter: one whose message quotes the value, one whose detail
      // does (a unique violation), as a bug in a route would make them fail.
      app.get('/v1/test-cast-crash', { config: { endpointClass: 'read-light', scope: null } }, async () => {
        await sql`select ${PARAMETER_CANARY}::uuid`.execute(t.deps.store.db);
      });
      app.get('/v1/test-duplicate-crash', { config: { endpointClass: 'read-light', scope: null } }, async () => {
        const plan = { name: PARAMETER_CANARY, rank: 0, features: [PARAMETER_CANARY] };
        await t.deps.store.db.insertInto('plans').values(plan).onConflict((conflict) => conflict.doNothing()).execute();
        await t.deps.store.db.insertInto('plans').values(plan).execute();
      });
    },
  });
});
afterAll(async () => t.close());

/** Every row of every table of the store, as text. */
async function everyRowAsText(): Promise<string> {
  // The request log and usage are written behind: out of memory first, so their rows are searched too.
  await t.deps.recording?.flush();
  const { tables, rows } = await everyTableAsText(t.deps.store.db);
  expect(tables.length).toBeGreaterThanOrEqual(5);
  return rows.join('\n');
}

describe('canary: a full key never reaches a log line, an error or the database', () => {
  it('uses the canary in good and bad requests, then finds it nowhere', async () => {
    const { organization, key } = await partnerWithKey(t.app);
    const canary = key.key;
    const secret = canary.slice(canary.lastIndexOf('_', 30) + 1);
    const mutated = canary.slice(0, -3) + (canary.endsWith('AAA') ? 'BBB' : 'AAA');

    const responses = [
      await t.app.inject({ url: '/v1/whoami', headers: withKey(canary) }),
      await t.app.inject({ url: '/v1/whoami', headers: { authorization: `Bearer ${canary}` } }),
      await t.app.inject({ url: '/v1/whoami', headers: withKey(mutated) }),
      await t.app.inject({ url: '/v1/whoami', headers: withKey(`${canary} `) }),
      await t.app.inject({ url: `/v1/whoami?api_key=${canary}`, headers: withKey(canary) }),
      await t.app.inject({ url: `/v1/${canary}` }),
      await t.app.inject({ url: '/v1/test-crash', headers: withKey(canary) }),
      await t.app.inject({ url: '/admin/v1/plans', headers: withKey(canary) }),
      await t.app.inject({ url: '/admin/v1/plans', headers: { authorization: `Bearer ${canary}` } }),
      await t.app.inject({ method: 'POST', url: '/v1/whoami', headers: withKey(canary), payload: { key: canary } }),
      // The key pasted where an id belongs: refused with 422, and audited with the id as sent, which must be masked.
      await t.app.inject({ method: 'DELETE', url: `/v1/api-keys/${canary}`, headers: withKey(canary) }),
      await admin(t.app, 'POST', `/admin/v1/keys/${canary}/kill`),
    ];
    await admin(t.app, 'POST', `/admin/v1/keys/${key.id}/kill`);
    responses.push(await t.app.inject({ url: '/v1/test-crash', headers: withKey(canary) }));
    await admin(t.app, 'PATCH', `/admin/v1/organizations/${organization.id}`, { apiAccessRevoked: true });
    await admin(t.app, 'POST', `/admin/v1/keys/${key.id}/revoke`);
    responses.push(await t.app.inject({ url: '/v1/whoami', headers: withKey(canary) }));
    responses.push(await admin(t.app, 'GET', `/admin/v1/organizations/${organization.id}/keys`));
    responses.push(await admin(t.app, 'GET', `/admin/v1/audit?limit=100`));
    await t.deps.usage.flush();

    expect(responses[0]!.statusCode).toBe(200);
    expect(responses[6]!.statusCode).toBe(500);
    expect(responses[10]!.statusCode).toBe(422);
    expect(responses[11]!.statusCode).toBe(422);
    for (const response of responses) {
      expect(response.body).not.toContain(secret);
      for (const value of Object.values(response.headers)) expect(String(value)).not.toContain(secret);
    }
    expect(t.logs.lines.length).toBeGreaterThan(10);
    expect(t.logs.text).toContain(key.displayPrefix);
    expect(t.logs.text).not.toContain(secret);
    expect(t.logs.text).not.toContain(mutated.slice(-43));

    const rows = await everyRowAsText();
    expect(rows).toContain(key.keyId);
    expect(rows).toContain(`${key.displayPrefix}_[REDACTED]`);
    expect(rows).not.toContain(secret);
    expect(rows).not.toContain(canary);
  });
});

describe("canary: a failed statement's text and parameters never reach a log line", () => {
  it('answers 500 for statements that fail with a secret parameter and logs the error without it', async () => {
    const { key } = await partnerWithKey(t.app);
    for (const url of ['/v1/test-cast-crash', '/v1/test-duplicate-crash']) {
      const response = await t.app.inject({ url, headers: withKey(key.key) });
      expect(response.statusCode).toBe(500);
      expect(response.body).not.toContain(PARAMETER_CANARY);
    }
    const errorLines = t.logs.lines.filter((line) => line.includes('unhandled error'));
    expect(errorLines.length).toBeGreaterThanOrEqual(2);
    // The SQLSTATEs show the errors were logged (invalid text representation, unique violation) ...
    expect(t.logs.text).toContain('"code":"22P02"');
    expect(t.logs.text).toContain('"code":"23505"');
    // ... without the parameter, the statement, or the detail that quotes the duplicate value.
    expect(t.logs.text).not.toContain(PARAMETER_CANARY);
    expect(t.logs.text).not.toContain('Qz7Qz7');
    expect(t.logs.text.toLowerCase()).not.toContain('insert into');
    expect(t.logs.text.toLowerCase()).not.toContain('::uuid');
  });
});

describe('canary: secrets shown once stay out of the idempotency store', () => {
  it('a key created with an Idempotency-Key replays to its client, yet no table holds it', async () => {
    const { key } = await partnerWithKey(t.app);
    const headers = withKey(key.key, { 'idempotency-key': 'create-key-canary-0001' });
    const first = await t.app.inject({ method: 'POST', url: '/v1/api-keys', headers, payload: { name: 'ci' } });
    expect(first.statusCode).toBe(201);
    const created = first.json() as { key: string };
    const replay = await t.app.inject({ method: 'POST', url: '/v1/api-keys', headers, payload: { name: 'ci' } });
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toBe(first.body);

    const webhook = await t.app.inject({
      method: 'POST',
      url: '/v1/webhook-endpoints',
      headers: withKey(key.key, { 'idempotency-key': 'create-webhook-canary-0001' }),
      payload: { url: 'https://example.com/hooks', events: ['job.succeeded'] },
    });
    expect(webhook.statusCode).toBe(201);
    const signingSecret = (webhook.json() as { secret: string }).secret;

    const rows = await everyRowAsText();
    expect(rows).not.toContain(created.key.slice(-43));
    expect(rows).not.toContain('create-key-canary-0001');
    // The signing secret is kept only sealed (SPEC 8.6): in no table in plain text, its endpoint's row included.
    expect(signingSecret).toMatch(/^whsec_/);
    expect(rows).not.toContain(signingSecret);
    expect(rows).not.toContain(signingSecret.slice('whsec_'.length));
    expect(t.logs.text).not.toContain(created.key.slice(-43));
    expect(t.logs.text).not.toContain(signingSecret);
  });
});

describe('audit entries of requests refused for their path', () => {
  it('keep an id holding NUL, replaced, rather than lose the entry to the database refusing it', async () => {
    const { key } = await partnerWithKey(t.app);
    const refused = await t.app.inject({ method: 'DELETE', url: '/v1/api-keys/abc%00def', headers: withKey(key.key) });
    expect(refused.statusCode).toBe(422);
    const audit = await admin(t.app, 'GET', '/admin/v1/audit?limit=10');
    const targets = (audit.json() as { data: { action: string; targetId: string | null; status: number }[] }).data
      .filter((entry) => entry.status === 422)
      .map((entry) => entry.targetId);
    expect(targets).toContain('abc\ufffddef');
  });
});
