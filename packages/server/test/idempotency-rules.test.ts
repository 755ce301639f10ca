import fc from 'fast-check';
import { hkdfSync, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalLanguageTag, canonicalTimeZone } from '../src/http/locale-formats.ts';
import { claimInTransaction, keepAnswer, type KeptAnswer } from '../src/idempotency/repository.ts';
import { canonicalJson, isWellFormedIdempotencyKey, outcomeFor, requestFingerprint } from '../src/idempotency/rules.ts';
import { replayKey } from '../src/idempotency/sealed-replay.ts';
import { createOrganization, issueKey } from './factories.ts';
import { startTestApp, usingPostgres, type TestApp } from './harness.ts';

describe('idempotency rules', () => {
  it('accepts 1 to 255 printable ASCII characters as a key, and nothing else', () => {
    expect(['a', ' ', '~', 'x'.repeat(255), 'order-42/retry:1'].map(isWellFormedIdempotencyKey)).not.toContain(false);
    expect(['', 'x'.repeat(256), 'é', '\t', '\x7f', '\x00', undefined, ['a']].map(isWellFormedIdempotencyKey)).not.toContain(true);
  });

  it('derives the replay key as HKDF-SHA-256 does, so answers sealed before it was written out as two HMACs still open', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 255 }), fc.uuid(), fc.constantFrom('POST', 'PUT'), fc.string({ maxLength: 80 }), (key, apiKeyId, method, path) => {
        const expected = Buffer.from(hkdfSync('sha256', key, `${apiKeyId} ${method} ${path}`, 'gatehouse idempotent replay v1', 32));
        expect(replayKey(key, { apiKeyId, method, path })).toEqual(expected);
      }),
    );
  });

  it('fingerprints bodies by content, not by field order or spacing', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 3 }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"e":3,"f":2}]},"b":1}');
    expect(requestFingerprint({ a: 1, b: 2 })).toBe(requestFingerprint({ b: 2, a: 1 }));
    expect(requestFingerprint({ a: 1 })).not.toBe(requestFingerprint({ a: '1' }));
    expect(requestFingerprint({ a: [1, 2] })).not.toBe(requestFingerprint({ a: [2, 1] }));
    expect(requestFingerprint(undefined)).not.toBe(requestFingerprint({}));
  });

  it('decides from the entry: claim, replay, reused or in progress', () => {
    const now = new Date('2030-01-01T00:00:00Z');
    const later = new Date(now.getTime() + 1000);
    const earlier = new Date(now.getTime() - 1000);
    const entry = (fields: Partial<Parameters<typeof outcomeFor>[0] & object>) => ({
      fingerprint: 'f',
      state: 'done' as const,
      locked_until: null,
      expires_at: later,
      ...fields,
    });
    expect(outcomeFor(undefined, 'f', now)).toBe('claim');
    expect(outcomeFor(entry({}), 'f', now)).toBe('replay');
    expect(outcomeFor(entry({}), 'g', now)).toBe('reused');
    expect(outcomeFor(entry({ expires_at: now }), 'g', now)).toBe('claim');
    expect(outcomeFor(entry({ state: 'running', locked_until: later }), 'f', now)).toBe('in_progress');
    expect(outcomeFor(entry({ state: 'running', locked_until: later }), 'g', now)).toBe('reused');
    expect(outcomeFor(entry({ state: 'running', locked_until: earlier }), 'f', now)).toBe('claim');
    expect(outcomeFor(entry({ state: 'running', locked_until: earlier }), 'g', now)).toBe('reused');
  });
});

describe('time zones and language tags', () => {
  it('knows IANA zones (in canonical case) and refuses offsets and inventions', () => {
    expect(['UTC', 'utc', 'europe/paris', 'Etc/GMT-14', 'America/Indiana/Knox', 'US/Eastern'].map(canonicalTimeZone)).toEqual([
      'UTC',
      'UTC',
      'Europe/Paris',
      'Etc/GMT-14',
      'America/Indiana/Knox',
      'US/Eastern',
    ]);
    expect(['+01:00', '-0500', 'Mars/Olympus', '', 'Europe/', '/Paris', 'Europe//Paris', "UTC' --"].map(canonicalTimeZone)).toEqual(Array(8).fill(null));
  });

  it('knows BCP-47 tags (in canonical form) and refuses the rest', () => {
    expect(['en', 'EN-us', 'sr-latn-rs', 'es-419', 'und'].map(canonicalLanguageTag)).toEqual(['en', 'en-US', 'sr-Latn-RS', 'es-419', 'und']);
    expect(['en_US', 'e', 'english language', '', 'en-', '123'].map(canonicalLanguageTag)).toEqual(Array(6).fill(null));
  });
});

describe('the claim, inside the unit of work\'s transaction', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t?.close());

  const scopeOf = (apiKeyId: string) => ({ apiKeyId, method: 'POST', path: '/v1/projects', key: randomUUID() });

  it('goes with its transaction: after a rollback the key is free at once', async () => {
    const organization = await createOrganization(t.app);
    const key = await issueKey(t.app, organization.id);
    const scope = scopeOf(key.id);
    const rolledBack = t.deps.store.db.transaction().execute(async (trx) => {
      expect((await claimInTransaction(trx, scope)).locked).toBe(true);
      throw new Error('the process dies here');
    });
    await expect(rolledBack).rejects.toThrow('the process dies here');
    const again = await t.deps.store.db.transaction().execute((trx) => claimInTransaction(trx, scope));
    expect(again).toEqual({ locked: true, entry: undefined });
  });

  it.runIf(usingPostgres)('refuses a second transaction while the first holds the key, and not another key', async () => {
    const organization = await createOrganization(t.app);
    const key = await issueKey(t.app, organization.id);
    const scope = scopeOf(key.id);
    await t.deps.store.db.transaction().execute(async (first) => {
      expect((await claimInTransaction(first, scope)).locked).toBe(true);
      const [same, other] = await Promise.all([
        t.deps.store.db.transaction().execute((second) => claimInTransaction(second, scope)),
        t.deps.store.db.transaction().execute((second) => claimInTransaction(second, scopeOf(key.id))),
      ]);
      expect(same.locked).toBe(false);
      expect(other.locked).toBe(true);
    });
  });

  it('tells an answer kept meanwhile from its own: false, and the transaction rolls back with nothing of it kept', async () => {
    const organization = await createOrganization(t.app);
    const key = await issueKey(t.app, organization.id);
    const scope = scopeOf(key.id);
    const answer = (requestId: string): KeptAnswer => ({
      scope,
      fingerprint: 'f',
      requestId,
      status: 201,
      contentType: 'application/json',
      body: Buffer.from('sealed'),
      auditTarget: null,
      now: new Date(),
      expiresAt: new Date(Date.now() + 60_000),
    });
    const db = t.deps.store.db;
    // The other request's answer, committed after this one's claim found none.
    await db.transaction().execute((trx) => keepAnswer(trx, answer('req_first'), null, false));
    const kept = await db
      .transaction()
      .execute(async (trx) => {
        if (await keepAnswer(trx, answer('req_second'), null, false)) return 'kept';
        throw new Error('answered meanwhile');
      })
      .catch((error: Error) => error.message);
    expect(kept).toBe('answered meanwhile');
    const entries = await db.selectFrom('idempotency_keys').select('request_id').where('idempotency_key', '=', scope.key).execute();
    expect(entries).toEqual([{ request_id: 'req_first' }]);
  });
});
