import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalInvalidationBus } from '../src/auth/invalidation.ts';
import { BCRYPT_LANE_WAITING, KeyVerifier } from '../src/auth/key-verifier.ts';
import type { Store } from '../src/db/create-db.ts';
import { formatKey, generateKey, parseKey } from '../src/keys/format.ts';
import { generateSecret } from '../src/secrets/deployment-secret.ts';
import { admin, createOrganization, issueKey, partnerWithKey, withKey, type KeyFixture } from './factories.ts';
import { createTestStore, startTestApp, TEST_SECRET, type TestApp, type TestAppOptions } from './harness.ts';

/** SPEC 2, hot path: bcrypt is the record, a keyed digest under GATEHOUSE_SECRET the per-request check. */

let store: Store;
const open: TestApp[] = [];
beforeAll(async () => {
  store = await createTestStore();
});
afterAll(async () => {
  for (const app of open.splice(0)) await app.close();
  await store.close();
});

/** An instance on the shared store; a bus of its own unless given, so nothing crosses instances unless a test says. */
async function instance(options: TestAppOptions = {}): Promise<TestApp> {
  const t = await startTestApp({ store, ...options, deps: { bus: new LocalInvalidationBus(), ...options.deps } });
  open.push(t);
  return t;
}

async function closeInstance(t: TestApp): Promise<void> {
  open.splice(open.indexOf(t), 1);
  await t.close();
}

const whoami = async (t: TestApp, key: string, remoteAddress?: string) =>
  t.app.inject({ url: '/v1/whoami', headers: withKey(key), ...(remoteAddress ? { remoteAddress } : {}) });
const status = async (t: TestApp, key: string) => (await whoami(t, key)).statusCode;

/** A key as issued before digests existed: a bcrypt hash and no digest (what migration 0010 leaves behind). */
async function legacyKey(t: TestApp, organizationId: string): Promise<string> {
  const { key, parsed } = generateKey('lp', 'live');
  await t.deps.store.db
    .insertInto('api_keys')
    .values({ key_id: parsed.keyId, organization_id: organizationId, name: 'legacy', env: 'live', scopes: [], secret_hash: await t.deps.hasher.hash(parsed.secret) })
    .execute();
  return key;
}

const digestRow = (keyId: string) =>
  store.db.selectFrom('api_keys').select(['secret_digest', 'digest_secret_id']).where('key_id', '=', keyId).executeTakeFirstOrThrow();

describe('bcrypt at most once per key per deployment', () => {
  it('a key issued now is never bcrypt-verified, on any instance', async () => {
    const a = await instance();
    const b = await instance();
    const { key } = await partnerWithKey(a.app);
    for (let i = 0; i < 20; i++) expect(await status(a, key.key)).toBe(200);
    expect(await status(b, key.key)).toBe(200);
    expect(a.deps.hasher.verifications + b.deps.hasher.verifications).toBe(0);
    const row = await digestRow(key.keyId);
    expect(row.digest_secret_id).toBe(a.deps.secrets.current.id);
    expect(row.secret_digest).toHaveLength(32);
  });

  it('a key without a digest is bcrypt-verified once, then never again: not here, not on another instance, not after a restart', async () => {
    const a = await instance();
    const organization = await createOrganization(a.app);
    const key = await legacyKey(a, organization.id);
    const concurrent = await Promise.all(Array.from({ length: 10 }, () => status(a, key)));
    expect(concurrent).toEqual(Array(10).fill(200));
    for (let i = 0; i < 10; i++) expect(await status(a, key)).toBe(200);
    expect(a.deps.hasher.verifications).toBe(1);
    expect((await digestRow(parseKey(key)!.keyId)).digest_secret_id).toBe(a.deps.secrets.current.id);

    const b = await instance();
    expect(await status(b, key)).toBe(200);
    expect(b.deps.hasher.verifications).toBe(0);

    await closeInstance(a);
    const restarted = await instance();
    expect(await status(restarted, key)).toBe(200);
    expect(restarted.deps.hasher.verifications).toBe(0);
  });
});

describe('wrong secrets and unknown key_ids cost the same (issue 13, finding 9)', () => {
  it('each costs one read by key_id and one HMAC, never bcrypt, whether the key_id exists, is cached or not', async () => {
    const t = await instance();
    const { key } = await partnerWithKey(t.app);
    const uncached = await issueKey(t.app, key.organizationId);
    expect(await status(t, key.key)).toBe(200);
    const verifier = t.deps.verifier;
    const cost = async (presented: string) => {
      const before = { reads: verifier.storeReads, digests: verifier.digestsComputed, bcrypt: t.deps.hasher.verifications };
      expect(await status(t, presented)).toBe(401);
      return { reads: verifier.storeReads - before.reads, digests: verifier.digestsComputed - before.digests, bcrypt: t.deps.hasher.verifications - before.bcrypt };
    };
    const one = { reads: 1, digests: 1, bcrypt: 0 };
    expect(await cost(generateKey('lp', 'live').key)).toEqual(one);
    expect(await cost(formatKey('lp', 'live', key.keyId, new Uint8Array(28).fill(9)))).toEqual(one);
    expect(await cost(formatKey('lp', 'live', uncached.keyId, new Uint8Array(28).fill(9)))).toEqual(one);
  });

  it('a key whose organization is cached costs one read of api_keys alone; the first key of an organization one more', async () => {
    const t = await instance();
    const organization = await createOrganization(t.app);
    const [first, second] = [await issueKey(t.app, organization.id), await issueKey(t.app, organization.id)];
    const verifier = t.deps.verifier;
    const reads = async (key: string) => {
      const before = { keys: verifier.storeReads, organizations: verifier.organizationReads };
      expect(await status(t, key)).toBe(200);
      return { keys: verifier.storeReads - before.keys, organizations: verifier.organizationReads - before.organizations };
    };
    expect(await reads(first.key)).toEqual({ keys: 1, organizations: 1 });
    expect(await reads(second.key)).toEqual({ keys: 1, organizations: 0 });
    expect(await reads(second.key)).toEqual({ keys: 0, organizations: 0 });
  });

  it('takes as long: the median times of many tries of each, interleaved, are within a generous factor', async () => {
    const t = await instance();
    const { key } = await partnerWithKey(t.app);
    expect(await status(t, key.key)).toBe(200);
    const timings = { unknown: [] as number[], wrongSecret: [] as number[] };
    const timed = async (presented: string) => {
      const started = performance.now();
      expect(await status(t, presented)).toBe(401);
      return performance.now() - started;
    };
    for (let i = 0; i < 150; i++) {
      timings.unknown.push(await timed(generateKey('lp', 'live').key));
      timings.wrongSecret.push(await timed(generateKey('lp', 'live', key.keyId).key));
    }
    const median = (values: number[]) => [...values].sort((x, y) => x - y)[values.length >> 1]!;
    const ratio = median(timings.wrongSecret) / median(timings.unknown);
    // Before digests a wrong secret cost bcrypt: 30 times an unknown key_id. Same work now, so about 1.
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
  });
});

describe('state: dropped by the bus, re-read every 60 s when the bus is silent', () => {
  it('a kill made on another instance, whose bus never tells this one, is in force here once the state is 60 s old', async () => {
    let clock = Date.now();
    const a = await instance();
    const b = await instance({ deps: { now: () => clock } });
    const { key } = await partnerWithKey(a.app);
    expect((await whoami(b, key.key)).json().killSwitch).toBe(false);
    await admin(a.app, 'POST', `/admin/v1/keys/${key.id}/kill`);
    clock += 59_000;
    expect((await whoami(b, key.key)).json().killSwitch).toBe(false);
    clock += 1_000;
    expect((await whoami(b, key.key)).json().killSwitch).toBe(true);
    expect(b.deps.hasher.verifications).toBe(0);
  });

  it('a key in use has its state re-read in the background before then, so its requests do not wait', async () => {
    let clock = Date.now();
    const a = await instance();
    const b = await instance({ deps: { now: () => clock } });
    const { key } = await partnerWithKey(a.app);
    expect(await status(b, key.key)).toBe(200);
    await admin(a.app, 'POST', `/admin/v1/keys/${key.id}/revoke`);
    clock += 45_000;
    await b.deps.verifier.refreshStates();
    const readsBefore = b.deps.verifier.storeReads;
    expect(await status(b, key.key)).toBe(401);
    // Answered from the refreshed state: no read on the request's path.
    expect(b.deps.verifier.storeReads).toBe(readsBefore);
  });

  it('a re-read the store refuses is reported, never thrown: the key is read again at its next request', async () => {
    let clock = Date.now();
    const t = await instance();
    const { key } = await partnerWithKey(t.app);
    let failing = false;
    const real = t.deps.store.db;
    const db = new Proxy(real, {
      get: (target, property) => {
        if (failing && property === 'selectFrom') throw new Error('store down');
        const value: unknown = Reflect.get(target, property);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const errors: unknown[] = [];
    const { hasher, digester } = t.deps;
    const verifier = new KeyVerifier({ db, hasher, digester, bus: new LocalInvalidationBus(), keyPrefix: 'lp', authFailuresPerMinute: 30, now: () => clock, onRefreshError: (error) => errors.push(error) });
    try {
      expect((await verifier.verify(key.key, '127.0.0.1')).ok).toBe(true);
      clock += 45_000;
      failing = true;
      await verifier.refreshStates();
      expect(errors).toHaveLength(1);
      failing = false;
      clock += 16_000;
      const reads = verifier.storeReads;
      expect((await verifier.verify(key.key, '127.0.0.1')).ok).toBe(true);
      expect(verifier.storeReads).toBe(reads + 1);
    } finally {
      verifier.close();
    }
  });

  it('an invalidation drops the state at once, and the digest stays: no bcrypt, one read', async () => {
    const bus = new LocalInvalidationBus();
    const a = await instance({ deps: { bus } });
    const b = await instance({ deps: { bus } });
    const { key } = await partnerWithKey(a.app);
    expect((await whoami(b, key.key)).json().killSwitch).toBe(false);
    await admin(a.app, 'POST', `/admin/v1/keys/${key.id}/kill`);
    expect((await whoami(b, key.key)).json().killSwitch).toBe(true);
    await admin(a.app, 'POST', `/admin/v1/keys/${key.id}/revoke`);
    expect(await status(b, key.key)).toBe(401);
    expect(b.deps.hasher.verifications).toBe(0);
  });
});

describe('rotating GATEHOUSE_SECRET', () => {
  it('keeps every key working: with the old secret as GATEHOUSE_SECRET_PREVIOUS without bcrypt, without it by bcrypt once each', async () => {
    const first = await instance();
    const organization = await createOrganization(first.app);
    const keys: KeyFixture[] = [];
    for (let i = 0; i < 3; i++) keys.push(await issueKey(first.app, organization.id, { name: `rotated ${i}` }));
    const all = () => keys.map((key) => key.key);
    for (const key of all()) expect(await status(first, key)).toBe(200);
    await closeInstance(first);

    const second = generateSecret();
    const rotating = await instance({ config: { secret: second, secretPrevious: TEST_SECRET } });
    for (const key of all()) expect(await status(rotating, key)).toBe(200);
    expect(rotating.deps.hasher.verifications).toBe(0);
    for (const key of keys) expect((await digestRow(key.keyId)).digest_secret_id).toBe(rotating.deps.secrets.current.id);
    await closeInstance(rotating);

    const rotated = await instance({ config: { secret: second } });
    for (const key of all()) expect(await status(rotated, key)).toBe(200);
    expect(rotated.deps.hasher.verifications).toBe(0);
    await closeInstance(rotated);

    // A secret changed with no GATEHOUSE_SECRET_PREVIOUS: the digests are unreadable, bcrypt proves each key once.
    const replaced = await instance({ config: { secret: generateSecret() } });
    for (const key of all()) expect(await status(replaced, key)).toBe(200);
    for (const key of all()) expect(await status(replaced, key)).toBe(200);
    expect(replaced.deps.hasher.verifications).toBe(keys.length);
    // A wrong secret for a key digested under the old secret is refused (after bcrypt, which that case needs).
    expect(await status(replaced, formatKey('lp', 'live', keys[0]!.keyId, new Uint8Array(28).fill(1)))).toBe(401);
  });
});

describe('canary: nothing stored in the database authenticates', () => {
  it('every value of every row of every table, as a key, as a secret, and as the bytes of a checksum-valid secret: 401', async () => {
    // A store of its own, holding only what this test made, so every value in it can be tried.
    const t = await startTestApp();
    open.push(t);
    const store = t.deps.store;
    const { organization, key } = await partnerWithKey(t.app);
    const legacy = await legacyKey(t, organization.id);
    expect(await status(t, key.key)).toBe(200);
    expect(await status(t, legacy)).toBe(200);
    const created = await t.app.inject({ method: 'POST', url: '/v1/api-keys', headers: withKey(key.key, { 'idempotency-key': 'canary-0001' }), payload: { name: 'ci' } });
    expect(created.statusCode).toBe(201);
    expect(await status(t, created.json().key)).toBe(200);

    const tables = await sql<{ table_name: string }>`
      select table_name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE'
    `.execute(store.db);
    const values = new Set<string>();
    const collect = (value: unknown): void => {
      if (typeof value === 'string' || typeof value === 'number') values.add(String(value));
      else if (Array.isArray(value)) value.forEach(collect);
      else if (value && typeof value === 'object') Object.values(value).forEach(collect);
    };
    for (const { table_name } of tables.rows) {
      const rows = await sql<{ row: unknown }>`select to_jsonb(t) as row from ${sql.table(table_name)} t`.execute(store.db);
      for (const { row } of rows.rows) collect(row);
    }
    const keyRows = await store.db.selectFrom('api_keys').select(['key_id', 'env']).execute();
    expect(keyRows.length).toBeGreaterThanOrEqual(3);
    expect([...values].some((value) => value.startsWith('\\x'))).toBe(true);
    expect([...values].join('\n')).not.toContain(TEST_SECRET);

    // The bytes a stored value could be hiding a secret in: hex (bytea), base64url or base64 (bcrypt's digest part).
    const byteForms = (value: string): Buffer[] => {
      const forms: Buffer[] = [];
      if (/^\\x[0-9a-f]+$/.test(value)) forms.push(Buffer.from(value.slice(2), 'hex'));
      if (/^[A-Za-z0-9_-]+={0,2}$/.test(value)) forms.push(Buffer.from(value, 'base64url'));
      if (/^\$2[aby]\$/.test(value)) forms.push(Buffer.from(value.slice(29), 'base64'));
      return forms.filter((bytes) => bytes.length >= 28);
    };
    const candidates = new Set<string>();
    for (const value of values) {
      // What a header can carry; anything else never reaches the pipeline.
      if (value.length > 200 || !/^[\x20-\x7e]*$/.test(value)) continue;
      candidates.add(value);
      for (const { key_id, env } of keyRows) {
        candidates.add(`lp_${env}_${key_id}_${value}`);
        for (const bytes of byteForms(value)) candidates.add(formatKey('lp', env, key_id, bytes.subarray(0, 28)));
      }
    }
    expect(candidates.size).toBeGreaterThan(200);
    const accepted: string[] = [];
    for (const candidate of candidates) {
      const response = await t.app.inject({ url: '/v1/whoami', headers: withKey(candidate) });
      if (response.statusCode !== 401) accepted.push(`${response.statusCode} ${candidate}`);
    }
    expect(accepted).toEqual([]);
  });
});

/**
 * SPEC 2, floods: a key with no digest under the current secret is proven by bcrypt, and the throttle must neither
 * refuse its correct key because of other requests' failures nor let wrong secrets buy unbounded bcrypt.
 */
describe('the failure throttle and keys that bcrypt must prove', () => {
  /** hasher.verify held at a gate the test opens, counting calls and how many ran at once. */
  function gateVerifications(t: TestApp) {
    const hasher = t.deps.hasher;
    const real = hasher.verify.bind(hasher);
    const seen = { calls: 0, running: 0, peak: 0 };
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    hasher.verify = async (secret, secretHash) => {
      seen.calls++;
      seen.peak = Math.max(seen.peak, ++seen.running);
      try {
        await gate;
        return await real(secret, secretHash);
      } finally {
        seen.running--;
      }
    };
    return { seen, open: () => open() };
  }

  /** Sends them all at once; resolves once `settled` of them have been answered, with `all`: every answer once all are. */
  async function burst(t: TestApp, presented: Array<[key: string, address: string]>, settled: number) {
    let answered = 0;
    const all = Promise.all(presented.map(([key, address]) => Promise.resolve(whoami(t, key, address)).finally(() => answered++)));
    while (answered < settled) await new Promise((resolve) => setImmediate(resolve));
    return { all };
  }

  it('a key_id throttled by wrong secrets from other addresses: the correct key from a fresh address is answered 200; wrong ones stay 429, one bcrypt at a time', async () => {
    const first = await instance();
    const organization = await createOrganization(first.app);
    const key = await issueKey(first.app, organization.id);
    expect(await status(first, key.key)).toBe(200);
    await closeInstance(first);

    // GATEHOUSE_SECRET changed without GATEHOUSE_SECRET_PREVIOUS: the key's digest is unreadable, bcrypt must prove it.
    const t = await instance({ config: { secret: generateSecret(), authFailuresPerMinute: 3 } });
    const wrong = () => generateKey('lp', 'live', key.keyId).key;
    const answers: number[] = [];
    for (const address of ['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4']) answers.push((await whoami(t, wrong(), address)).statusCode);
    expect(answers).toEqual([401, 401, 401, 429]);

    // While the key_id is throttled, 20 wrong secrets at once from fresh addresses: one hash runs, a few wait behind it,
    // the rest are refused at once; every one is answered 429.
    const { seen, open } = gateVerifications(t);
    const flood = Array.from({ length: 20 }, (_, i): [string, string] => [wrong(), `203.0.113.${10 + i}`]);
    const refusedAtOnce = flood.length - 1 - BCRYPT_LANE_WAITING;
    // Answered while the one hash is held at the gate: refused because the lane was full, without bcrypt.
    const { all } = await burst(t, flood, refusedAtOnce);
    expect(seen).toEqual({ calls: 1, running: 1, peak: 1 });
    open();
    const flooded = await all;
    expect(flooded.map((response) => response.statusCode)).toEqual(Array(flood.length).fill(429));
    expect(flooded.every((response) => response.json().error.code === 'RATE_LIMITED')).toBe(true);
    expect(seen.calls).toBe(1 + BCRYPT_LANE_WAITING);
    expect(seen.peak).toBe(1);

    // The owner, from an address of its own: verified by bcrypt once, digested, and answered 200.
    const owner = await whoami(t, key.key, '198.51.100.7');
    expect(owner.statusCode).toBe(200);
    expect(seen.calls).toBe(2 + BCRYPT_LANE_WAITING);
    expect((await digestRow(key.keyId)).digest_secret_id).toBe(t.deps.secrets.current.id);

    // From then on the digest path: the correct key from anywhere without bcrypt, wrong secrets 429 for one HMAC each.
    expect((await whoami(t, key.key, '203.0.113.1')).statusCode).toBe(200);
    expect((await whoami(t, wrong(), '203.0.113.99')).statusCode).toBe(429);
    expect(seen.calls).toBe(2 + BCRYPT_LANE_WAITING);
  });

  it('an address over its own failures gets its correct key verified; throttled addresses together run one bcrypt at a time', async () => {
    const t = await instance({ config: { authFailuresPerMinute: 3 } });
    const organization = await createOrganization(t.app);
    const keys = [await legacyKey(t, organization.id), await legacyKey(t, organization.id)];
    const keyIds = keys.map((key) => parseKey(key)!.keyId);
    const addresses = ['192.0.2.1', '192.0.2.2', '192.0.2.3'];
    for (const address of addresses) {
      for (let i = 0; i < 3; i++) expect((await whoami(t, generateKey('lp', 'live').key, address)).statusCode).toBe(401);
      expect((await whoami(t, generateKey('lp', 'live').key, address)).statusCode).toBe(429);
    }

    // Wrong secrets for both keys from the three throttled addresses, all at once: they share one lane.
    const { seen, open } = gateVerifications(t);
    const flood = Array.from({ length: 18 }, (_, i): [string, string] => [generateKey('lp', 'live', keyIds[i % 2]).key, addresses[i % 3]!]);
    const { all } = await burst(t, flood, flood.length - 1 - BCRYPT_LANE_WAITING);
    expect(seen).toEqual({ calls: 1, running: 1, peak: 1 });
    open();
    expect((await all).map((response) => response.statusCode)).toEqual(Array(flood.length).fill(429));
    expect(seen.peak).toBe(1);

    // Its own failures do not refuse a throttled address's correct key: proven by bcrypt once, then digested.
    const calls = seen.calls;
    expect((await whoami(t, keys[0]!, '192.0.2.1')).statusCode).toBe(200);
    expect((await whoami(t, keys[0]!, '192.0.2.1')).statusCode).toBe(200);
    expect(seen.calls).toBe(calls + 1);
    expect((await whoami(t, generateKey('lp', 'live', keyIds[1]).key, '192.0.2.1')).statusCode).toBe(429);
    expect(seen.calls).toBe(calls + 2);
  });
});
