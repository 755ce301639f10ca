import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalInvalidationBus } from '../src/auth/invalidation.ts';
import type { Store } from '../src/db/create-db.ts';
import { loadConfig } from '../src/config.ts';
import { formatKey, generateKey } from '../src/keys/format.ts';
import { KEYS_REFETCH_INTERVAL_MS } from '../src/leaks/github-keys.ts';
import { MAX_TOKENS_PER_REPORT, SECRET_SCANNING_HOOK } from '../src/leaks/routes.ts';
import { admin, createOrganization, issueKey, partnerWithKey, withKey, type KeyFixture } from './factories.ts';
import { startFakeUpstream, type FakeUpstream } from './fixtures/fake-upstream.ts';
import { createTestStore, everyTableAsText, redisTestUrl, startTestApp, usingPostgres, type TestApp } from './harness.ts';

/**
 * SPEC 15: GitHub's secret scanning reports tokens it found; the report is signed with a P-256 key from GitHub's keys
 * document. Here the key pair is the test's own, and the keys document is served by a test server on loopback that
 * counts how often it is fetched.
 */

interface SigningKey {
  identifier: string;
  privateKey: KeyObject;
  pem: string;
}

function newSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { identifier: randomBytes(32).toString('hex'), privateKey, pem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

interface KeysServer {
  upstream: FakeUpstream;
  url: string;
  /** What the document lists from now on. */
  publish(keys: SigningKey[]): void;
  fetches(): number;
}

async function startKeysServer(keys: SigningKey[]): Promise<KeysServer> {
  let published = keys;
  const upstream = await startFakeUpstream((_request, response) => {
    const document = { public_keys: published.map((key, index) => ({ key_identifier: key.identifier, key: key.pem, is_current: index === 0 })) };
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(document));
  });
  return {
    upstream,
    url: `${upstream.origin}/meta/public_keys/secret_scanning`,
    publish: (next) => void (published = next),
    fetches: () => upstream.count('/meta/public_keys/secret_scanning'),
  };
}

interface Match {
  token: string;
  type?: string;
  url?: string;
  source?: string;
}

const reportOf = (matches: Match[]) =>
  JSON.stringify(matches.map((match) => ({ type: 'gatehouse_api_key', url: 'https://github.com/octo/leaky/blob/main/.env', source: 'content', ...match })));

/** GitHub's request: the raw body, signed as sent. */
function signedReport(app: FastifyInstance, body: string, key: SigningKey, overrides: { identifier?: string; signature?: string } = {}) {
  const signature = overrides.signature ?? sign('sha256', Buffer.from(body), { key: key.privateKey, dsaEncoding: 'der' }).toString('base64');
  return app.inject({
    method: 'POST',
    url: SECRET_SCANNING_HOOK,
    headers: {
      'content-type': 'application/json',
      'github-public-key-identifier': overrides.identifier ?? key.identifier,
      'github-public-key-signature': signature,
    },
    payload: body,
  });
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

async function leakEntries(t: TestApp, apiKeyId: string) {
  return t.deps.store.db.selectFrom('audit_entries').selectAll().where('action', '=', 'key.leaked').where('target_id', '=', apiKeyId).orderBy('occurred_at').execute();
}

/** The key.leaked events written for the organization's endpoints (the worker is off: they stay as written). */
async function leakEvents(t: TestApp, apiKeyId?: string) {
  const rows = await t.deps.store.db.selectFrom('webhook_deliveries').select(['body', 'env']).where('event_type', '=', 'key.leaked').execute();
  return rows
    // A job event is enqueued without a body (the worker renders it when first sent); key events carry theirs.
    .flatMap((row) => (row.body === null ? [] : [{ env: row.env, event: JSON.parse(row.body) as { type: string; data: { env: string; apiKey: { id: string; killSwitch: boolean }; source: string; url: string | null } } }]))
    .filter(({ event }) => apiKeyId === undefined || event.data.apiKey.id === apiKeyId);
}

const auditCount = async (t: TestApp) => Number((await t.deps.store.db.selectFrom('audit_entries').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

/** A route that refuses a killed key (whoami reports the switch with 200, SPEC 3). */
const listProjects = (t: TestApp, key: string) => t.app.inject({ url: '/v1/projects', headers: withKey(key) });

describe('POST /hooks/github/secret-scanning', () => {
  const github = newSigningKey();
  let keysServer: KeysServer;
  let t: TestApp;
  let clock = Date.now();
  let organizationId: string;
  const tokensSent = new Set<string>();
  const report = (matches: Match[], key = github, overrides: { identifier?: string; signature?: string } = {}) => {
    for (const match of matches) tokensSent.add(match.token);
    return signedReport(t.app, reportOf(matches), key, overrides);
  };

  beforeAll(async () => {
    keysServer = await startKeysServer([github]);
    t = await startTestApp({ config: { githubSecretScanningKeysUrl: keysServer.url, webhooks: { concurrency: 0 } }, deps: { now: () => clock } });
    const { organization, key: partner } = await partnerWithKey(t.app);
    organizationId = organization.id;
    // The organization listens for key.leaked in both worlds (SPEC 12: a test key's event goes to test endpoints).
    for (const env of ['live', 'test'] as const) {
      const listener = env === 'live' ? partner : await issueKey(t.app, organizationId, { env, name: 'test listener' });
      const endpoint = { url: 'http://127.0.0.1:9/leaks', events: ['key.leaked'] };
      const created = await t.app.inject({ method: 'POST', url: '/v1/webhook-endpoints', headers: withKey(listener.key), payload: endpoint });
      expect(created.statusCode).toBe(201);
    }
  });
  afterAll(async () => {
    // No token of any report reached a log line or a table in plain text.
    const { rows } = await everyTableAsText(t.deps.store.db);
    for (const token of tokensSent) {
      expect(t.logs.text).not.toContain(token);
      expect(rows.filter((row) => row.includes(token))).toEqual([]);
    }
    await t.close();
    await keysServer.upstream.close();
  });

  it('kills a real key within the request, audits where it was found, and labels it true_positive', async () => {
    const key = await issueKey(t.app, organizationId, { name: 'leaked' });
    expect((await listProjects(t, key.key)).statusCode).toBe(200);

    const response = await report([{ token: key.key, url: 'https://github.com/octo/leaky/blob/main/config.js' }]);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual([{ token_hash: sha256(key.key), token_type: 'gatehouse_api_key', label: 'true_positive' }]);

    const refused = await listProjects(t, key.key);
    expect(refused.statusCode).toBe(503);
    expect(refused.json().error.code).toBe('KILL_SWITCH');
    const whoami = await t.app.inject({ url: '/v1/whoami', headers: withKey(key.key) });
    expect(whoami.json()).toMatchObject({ killSwitch: true });

    const [entry, ...more] = await leakEntries(t, key.id);
    expect(more).toEqual([]);
    expect(entry).toMatchObject({ organization_id: organizationId, actor: 'github:secret-scanning', target_type: 'api_key', env: 'live', status: 200 });
    expect(entry!.details).toMatchObject({ source: 'content', url: 'https://github.com/octo/leaky/blob/main/config.js', firstReport: true });
    expect(entry!.request_id).toBe(response.headers['x-request-id']);

    // The organization hears of it once, with where it was found, never the token.
    const events = await leakEvents(t, key.id);
    expect(events).toHaveLength(1);
    expect(events[0]!.event.data).toMatchObject({ env: 'live', apiKey: { id: key.id, killSwitch: true }, source: 'content', url: 'https://github.com/octo/leaky/blob/main/config.js' });
    expect(JSON.stringify(events)).not.toContain(key.key);
  });

  it('labels a random token, a key of another prefix, an unknown key_id and a wrong secret false_positive, and changes nothing', async () => {
    const bystander = await issueKey(t.app, organizationId, { name: 'bystander' });
    const wrongSecret = formatKey('lp', 'live', bystander.keyId, randomBytes(28));
    const tokens = [
      `lp_live_${randomBytes(30).toString('base64url')}`,
      generateKey('xy', 'live').key,
      generateKey('lp', 'test').key,
      wrongSecret,
    ];
    const before = await auditCount(t);
    const eventsBefore = (await leakEvents(t)).length;
    const response = await report(tokens.map((token) => ({ token, type: 'other_type' })));
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual(tokens.map((token) => ({ token_hash: sha256(token), token_type: 'other_type', label: 'false_positive' })));
    expect(await auditCount(t)).toBe(before);
    expect(await leakEvents(t)).toHaveLength(eventsBefore);
    expect((await listProjects(t, bystander.key)).statusCode).toBe(200);
  });

  it('labels each token of a mixed report, killing only the keys of this deployment', async () => {
    const [first, second] = [await issueKey(t.app, organizationId), await issueKey(t.app, organizationId, { env: 'test' })];
    const noise = generateKey('zz', 'live').key;
    const response = await report([{ token: first.key }, { token: noise }, { token: second.key }]);
    expect(response.json().map((verdict: { label: string }) => verdict.label)).toEqual(['true_positive', 'false_positive', 'true_positive']);
    for (const key of [first, second]) expect((await listProjects(t, key.key)).statusCode).toBe(503);
    expect((await leakEntries(t, second.id))[0]).toMatchObject({ env: 'test' });
    expect((await leakEvents(t, second.id)).map(({ env }) => env)).toEqual(['test']);
  });

  it('answers 401 to a missing or bad signature and an unknown identifier, with nothing changed', async () => {
    const key = await issueKey(t.app, organizationId, { name: 'not yet leaked' });
    const body = reportOf([{ token: key.key }]);
    tokensSent.add(key.key);
    const before = await auditCount(t);
    const eventsBefore = (await leakEvents(t)).length;
    const otherKey = newSigningKey();
    const attempts = [
      // Signed by someone else under GitHub's identifier.
      await signedReport(t.app, body, otherKey, { identifier: github.identifier }),
      // GitHub's signature over another body.
      await signedReport(t.app, body, github, { signature: sign('sha256', Buffer.from(`${body} `), { key: github.privateKey, dsaEncoding: 'der' }).toString('base64') }),
      await signedReport(t.app, body, github, { signature: 'bm90IGEgc2lnbmF0dXJl' }),
      await signedReport(t.app, body, otherKey),
      await t.app.inject({ method: 'POST', url: SECRET_SCANNING_HOOK, headers: { 'content-type': 'application/json' }, payload: body }),
      await t.app.inject({ method: 'POST', url: SECRET_SCANNING_HOOK }),
    ];
    for (const response of attempts) {
      expect(response.statusCode).toBe(401);
      expect(response.json().error.code).toBe('UNAUTHENTICATED');
    }
    expect(await auditCount(t)).toBe(before);
    expect(await leakEntries(t, key.id)).toEqual([]);
    expect(await leakEvents(t)).toHaveLength(eventsBefore);
    expect((await listProjects(t, key.key)).statusCode).toBe(200);
  });

  it('fetches the keys document again at most once a minute for an unknown identifier, once however many ask', async () => {
    const fetched = keysServer.fetches();
    expect(fetched).toBeGreaterThanOrEqual(1);
    const rotated = newSigningKey();
    const body = reportOf([{ token: `lp_live_${randomBytes(8).toString('hex')}` }]);
    // Within the minute after the last fetch: unknown identifiers are refused without asking again.
    for (let attempt = 0; attempt < 5; attempt++) expect((await signedReport(t.app, body, rotated)).statusCode).toBe(401);
    // GitHub rotates: the new key is published, and a report signed with it is taken once a fetch is due.
    keysServer.publish([rotated, github]);
    expect((await signedReport(t.app, body, rotated)).statusCode).toBe(401);
    expect(keysServer.fetches()).toBe(fetched);

    clock += KEYS_REFETCH_INTERVAL_MS;
    const together = await Promise.all(Array.from({ length: 5 }, () => signedReport(t.app, body, rotated)));
    expect(together.map((response) => response.statusCode)).toEqual([200, 200, 200, 200, 200]);
    expect(keysServer.fetches()).toBe(fetched + 1);
    // Known identifiers never fetch; an unknown one waits for the next minute again.
    expect((await signedReport(t.app, body, github)).statusCode).toBe(200);
    expect((await signedReport(t.app, body, newSigningKey())).statusCode).toBe(401);
    expect(keysServer.fetches()).toBe(fetched + 1);
  });

  it('adds only an audit entry when the same key is reported again: one event', async () => {
    const key = await issueKey(t.app, organizationId, { name: 'reported twice' });
    expect((await report([{ token: key.key }])).json()[0].label).toBe('true_positive');
    const second = await report([{ token: key.key, url: 'https://gist.github.com/octo/abc', source: 'gist' }]);
    expect(second.json()[0].label).toBe('true_positive');
    const entries = await leakEntries(t, key.id);
    expect(entries.map((entry) => (entry.details as { firstReport: boolean }).firstReport)).toEqual([true, false]);
    expect(entries[1]!.details).toMatchObject({ source: 'gist', url: 'https://gist.github.com/octo/abc' });
    const row = await t.deps.store.db.selectFrom('api_keys').select(['leaked_at', 'kill_switch']).where('id', '=', key.id).executeTakeFirstOrThrow();
    expect(row.kill_switch).toBe(true);
    expect(row.leaked_at).toBeInstanceOf(Date);
    expect(await leakEvents(t, key.id)).toHaveLength(1);
  });

  it('never keeps the token, even where the report quotes it in its url', async () => {
    const key = await issueKey(t.app, organizationId, { name: 'quoted' });
    await report([{ token: key.key, url: `https://example.com/paste?k=${key.key}`, source: `found ${key.key}` }]);
    const [entry] = await leakEntries(t, key.id);
    expect(JSON.stringify(entry!.details)).not.toContain(key.key);
    expect(JSON.stringify(entry!.details)).toContain(key.displayPrefix);
  });

  it('refuses a signed report that is not a bounded array of matches: 400 or 422, never 500', async () => {
    const too = Array.from({ length: MAX_TOKENS_PER_REPORT + 1 }, (_, index) => ({ token: `t${index}`, type: 'x', url: 'u', source: 's' }));
    const cases: Array<[string, number]> = [
      ['{"not":"an array"}', 422],
      [JSON.stringify(too), 422],
      [JSON.stringify([{ token: 'x'.repeat(5_000), type: 'x', url: 'u', source: 's' }]), 422],
      [JSON.stringify([{ token: 'abc' }]), 422],
      ['[{"token": "abc", ', 400],
      [`${'['.repeat(100)}${']'.repeat(100)}`, 400],
    ];
    for (const [body, status] of cases) {
      const response = await signedReport(t.app, body, github);
      expect(response.statusCode, body.slice(0, 40)).toBe(status);
      expect(response.json().error.code).toBe(status === 400 ? 'BAD_REQUEST' : 'VALIDATION_FAILED');
    }
  });

  it('kills through the same service from `gatehouse scan --kill` (the admin API by key_id)', async () => {
    const key: KeyFixture = await issueKey(t.app, organizationId, { name: 'found in files' });
    expect((await admin(t.app, 'POST', `/admin/v1/keys/by-key-id/${key.keyId}/kill`)).statusCode).toBe(200);
    const [entry] = await leakEntries(t, key.id);
    expect(entry).toMatchObject({ actor: 'admin', organization_id: organizationId });
    expect(entry!.details).toMatchObject({ source: 'gatehouse scan', firstReport: true });
    expect((await leakEvents(t, key.id)).map(({ event }) => event.data.source)).toEqual(['gatehouse scan']);
    // GitHub reporting it afterwards is a second report of the same leak.
    await report([{ token: key.key }]);
    expect((await leakEntries(t, key.id)).map((one) => (one.details as { firstReport: boolean }).firstReport)).toEqual([true, false]);
    expect(await leakEvents(t, key.id)).toHaveLength(1);
  });
});

describe("the key pattern the README gives GitHub's partner program", () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf("### Leaked keys: GitHub's secret scanning"));
  const pattern = new RegExp(`^(?:${/```text\n(.+)\n/.exec(section)![1]!.trim()})$`);

  it('matches every key this deployment makes, and nothing of another shape', () => {
    for (let index = 0; index < 500; index++) expect(generateKey('lp', index % 2 ? 'live' : 'test').key).toMatch(pattern);
    const key = generateKey('lp', 'live').key;
    for (const other of [generateKey('xy', 'live').key, key.slice(0, -1), `${key}A`, key.replace('_live_', '_prod_'), `lp_live_${randomBytes(40).toString('base64url')}`]) {
      expect(other).not.toMatch(pattern);
    }
  });
});

describe('the hook on a deployment that takes no reports', () => {
  it("fetches GitHub's own keys unless told otherwise (SPEC 11), and takes no reports with the setting off", () => {
    expect(loadConfig({}).githubSecretScanningKeysUrl).toBe('https://api.github.com/meta/public_keys/secret_scanning');
    expect(loadConfig({ GATEHOUSE_GITHUB_SECRET_SCANNING_KEYS_URL: 'http://127.0.0.1:9/keys' }).githubSecretScanningKeysUrl).toBe('http://127.0.0.1:9/keys');
    expect(loadConfig({ GATEHOUSE_GITHUB_SECRET_SCANNING_KEYS_URL: 'off' }).githubSecretScanningKeysUrl).toBeUndefined();
  });

  it('answers 404 while GATEHOUSE_GITHUB_SECRET_SCANNING_KEYS_URL is off', async () => {
    const t = await startTestApp({ config: { githubSecretScanningKeysUrl: undefined } });
    try {
      const body = reportOf([{ token: 'whatever' }]);
      const response = await signedReport(t.app, body, newSigningKey());
      expect(response.statusCode).toBe(404);
      expect(response.json().error.code).toBe('NOT_FOUND');
    } finally {
      await t.close();
    }
  });
});

describe('a leak reported to one instance', () => {
  const github = newSigningKey();
  let keysServer: KeysServer;
  let store: Store;
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    keysServer = await startKeysServer([github]);
    store = await createTestStore();
    // PostgreSQL: the cluster's own bus (Redis). PGlite: two instances in one process share an in-process bus.
    const config = { githubSecretScanningKeysUrl: keysServer.url, ...(usingPostgres ? { redisUrl: redisTestUrl } : {}) };
    const options = usingPostgres ? { store, config } : { store, config, deps: { bus: new LocalInvalidationBus() } };
    a = await startTestApp(options);
    b = await startTestApp(options);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    await store.close();
    await keysServer.upstream.close();
  });

  it('is in force on the other within one second', async () => {
    const organization = await createOrganization(a.app);
    const key = await issueKey(a.app, organization.id);
    const onB = () => b.app.inject({ url: '/v1/projects', headers: withKey(key.key) });
    // B holds the key's state in its cache.
    expect((await onB()).statusCode).toBe(200);
    const reported = await signedReport(a.app, reportOf([{ token: key.key }]), github);
    expect(reported.json()[0].label).toBe('true_positive');
    const started = performance.now();
    let status = 200;
    while (performance.now() - started < 5_000) {
      status = (await onB()).statusCode;
      if (status === 503) break;
      await sleep(10);
    }
    expect(status).toBe(503);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
