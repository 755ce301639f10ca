import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultHashConcurrency, loadConfig } from '../src/config.ts';
import { formatKey, generateKey } from '../src/keys/format.ts';
import { SecretHasher } from '../src/keys/hashing.ts';
import { createLogger, logDestination } from '../src/observability/logger.ts';
import { partnerWithKey, withKey } from './factories.ts';
import { startTestApp, type TestApp } from './harness.ts';

/** Reads one series of a Prometheus text exposition, e.g. `gatehouse_auth_cache_entries{cache="verified"}`. */
function series(text: string, name: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe('auth path gauges on /metrics', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ config: { hashConcurrency: 1 } });
  });
  afterAll(async () => t.close());

  it('count cached keys, failure windows and the peak of concurrent hashes, which stays within the bound', async () => {
    const { organization, key } = await partnerWithKey(t.app);
    // Keys without a digest (issued before digests existed) are proven by bcrypt at their first use.
    const legacy = await Promise.all(
      [0, 1].map(async () => {
        const { key: legacyKey, parsed } = generateKey('lp', 'live');
        const secretHash = await t.deps.hasher.hash(parsed.secret);
        await t.deps.store.db.insertInto('api_keys').values({ key_id: parsed.keyId, organization_id: organization.id, name: 'legacy', env: 'live', scopes: [], secret_hash: secretHash }).execute();
        return legacyKey;
      }),
    );
    const wrongForLegacy = formatKey('lp', 'live', legacy[0]!.split('_')[2]!, randomBytes(28));
    const wrong = formatKey('lp', 'live', key.keyId, randomBytes(28));
    const responses = await Promise.all([
      ...Array.from({ length: 5 }, () => t.app.inject({ url: '/v1/whoami', headers: withKey(key.key) })),
      ...legacy.map((legacyKey) => t.app.inject({ url: '/v1/whoami', headers: withKey(legacyKey) })),
      t.app.inject({ url: '/v1/whoami', headers: withKey(wrongForLegacy) }),
      t.app.inject({ url: '/v1/whoami', headers: withKey(wrong) }),
    ]);
    expect(responses.map((response) => response.statusCode)).toEqual([200, 200, 200, 200, 200, 200, 200, 401, 401]);
    const metrics = (await t.app.inject({ url: '/metrics' })).body;
    expect(series(metrics, 'gatehouse_auth_cache_entries{cache="keys"}')).toBe(3);
    expect(series(metrics, 'gatehouse_auth_cache_entries{cache="usage"}')).toBe(3);
    // Two failures, each counted for its client address (one here) and its key_id (two).
    expect(series(metrics, 'gatehouse_auth_cache_entries{cache="failure_windows"}')).toBe(3);
    expect(series(metrics, 'gatehouse_key_hash_verifications_total{outcome="match"}')).toBe(2);
    expect(series(metrics, 'gatehouse_key_hash_verifications_total{outcome="mismatch"}')).toBe(1);
    // Three verifications were wanted at once; the bound of 1 made them take turns.
    expect(series(metrics, 'gatehouse_key_hash_peak_concurrency')).toBe(1);
    expect(series(metrics, 'gatehouse_key_hash_in_flight')).toBe(0);
  });

  it('count verified-key cache lookups by result, once each however often /metrics is scraped', async () => {
    const { key } = await partnerWithKey(t.app);
    const scrape = async () => (await t.app.inject({ url: '/metrics' })).body;
    const before = await scrape();
    const hits = series(before, 'gatehouse_key_cache_total{result="hit"}') ?? 0;
    const misses = series(before, 'gatehouse_key_cache_total{result="miss"}') ?? 0;
    for (let i = 0; i < 3; i++) expect((await t.app.inject({ url: '/v1/whoami', headers: withKey(key.key) })).statusCode).toBe(200);
    await scrape();
    const after = await scrape();
    expect(series(after, 'gatehouse_key_cache_total{result="miss"}')).toBe(misses + 1);
    expect(series(after, 'gatehouse_key_cache_total{result="hit"}')).toBe(hits + 2);
  });
});

describe('bcrypt concurrency default', () => {
  it('leaves a core for the event loop', () => {
    expect(defaultHashConcurrency(1)).toBe(1);
    expect(defaultHashConcurrency(2)).toBe(1);
    expect(defaultHashConcurrency(4)).toBe(3);
    expect(defaultHashConcurrency(16)).toBe(15);
  });

  it('yields to GATEHOUSE_HASH_CONCURRENCY', () => {
    expect(loadConfig({ GATEHOUSE_HASH_CONCURRENCY: '5' }).hashConcurrency).toBe(5);
  });
});

describe('bcrypt threads', () => {
  const niceOf = (threadId: number) => Number(readFileSync(`/proc/${process.pid}/task/${threadId}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);

  it.runIf(process.platform === 'linux')('verify on threads of the configured lower priority, and hash keys being issued at the event loop\'s', async () => {
    const hasher = new SecretHasher(4, 2, 7);
    try {
      const stored = await Promise.all([hasher.hash('first-secret'), hasher.hash('second-secret')]);
      expect(await hasher.verify('first-secret', stored[0]!)).toBe(true);
      expect(await hasher.verify('first-secret', stored[1]!)).toBe(false);
      expect(await hasher.verify('second-secret', stored[1]!)).toBe(true);
      const { urgent, background } = hasher.threadIds;
      expect(background.length).toBeGreaterThanOrEqual(1);
      expect(urgent.length).toBeGreaterThanOrEqual(1);
      for (const threadId of background) expect(niceOf(threadId)).toBe(7);
      for (const threadId of urgent) expect(niceOf(threadId)).toBe(0);
      expect(niceOf(process.pid)).toBe(0);
    } finally {
      await hasher.close();
    }
  });

  it('takes GATEHOUSE_HASH_NICENESS, 19 unless set', () => {
    expect(loadConfig({}).hashNiceness).toBe(19);
    expect(loadConfig({ GATEHOUSE_HASH_NICENESS: '0' }).hashNiceness).toBe(0);
    expect(() => loadConfig({ GATEHOUSE_HASH_NICENESS: '20' })).toThrow(/GATEHOUSE_HASH_NICENESS/);
  });

  it('fails a task whose thread dies, and starts a new thread for the next one', async () => {
    const hasher = new SecretHasher(4, 1, 0);
    try {
      const stored = await hasher.hash('a-secret');
      // The expectation holds the rejection from the start: it comes while close() is still being awaited, and a
      // rejection nobody holds by then is reported as unhandled (it failed a CI run once).
      const closing = expect(hasher.verify('a-secret', stored)).rejects.toThrow(/exited/);
      await hasher.close();
      await closing;
      expect(await hasher.verify('a-secret', stored)).toBe(true);
    } finally {
      await hasher.close();
    }
  });
});

describe('log destination', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-log-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a lone line within about a second, though lines are gathered before each write', async () => {
    const file = join(dir, 'quiet.log');
    const logger = createLogger('info', logDestination(file));
    logger.info({ requestId: 'req_quiet' }, 'request');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(readFileSync(file, 'utf8')).toContain('"requestId":"req_quiet"');
  });
});
