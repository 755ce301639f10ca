import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partnerWithKey, withKey } from './factories.ts';
import { startTestApp, type TestApp } from './harness.ts';
import { UsageRecorder } from '../src/auth/usage-recorder.ts';

/** SPEC 2: lastUsedAt is written behind, at most about once a minute per key. */
describe('lastUsedAt write-behind', () => {
  let clock = 1_900_000_000_000;
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ deps: { now: () => clock } });
  });
  afterAll(async () => t.close());

  const lastUsedAt = async (id: string) => {
    const row = await t.deps.store.db.selectFrom('api_keys').select('last_used_at').where('id', '=', id).executeTakeFirstOrThrow();
    return row.last_used_at === null ? null : new Date(row.last_used_at).getTime();
  };
  const use = async (key: string) => expect((await t.app.inject({ url: '/v1/whoami', headers: withKey(key) })).statusCode).toBe(200);

  it('records the first use, skips uses within the minute, and records again after it', async () => {
    const { key } = await partnerWithKey(t.app);
    expect(await lastUsedAt(key.id)).toBeNull();

    const first = clock;
    await use(key.key);
    clock += 1_000;
    await use(key.key);
    await t.deps.usage.flush();
    expect(await lastUsedAt(key.id)).toBe(first);

    clock += 30_000;
    await use(key.key);
    await t.deps.usage.flush();
    expect(await lastUsedAt(key.id)).toBe(first);

    clock += 30_000;
    const later = clock;
    await use(key.key);
    await t.deps.usage.flush();
    expect(await lastUsedAt(key.id)).toBe(later);
  });

  it('keeps each key to its own minute', async () => {
    const a = await partnerWithKey(t.app);
    const b = await partnerWithKey(t.app);
    clock += 120_000;
    const aAt = clock;
    await use(a.key.key);
    clock += 5_000;
    const bAt = clock;
    await use(b.key.key);
    await use(a.key.key);
    await t.deps.usage.flush();
    expect(await lastUsedAt(a.key.id)).toBe(aAt);
    expect(await lastUsedAt(b.key.id)).toBe(bAt);
  });
});

describe('lastUsedAt with as many keys in use as the recorder tracks', () => {
  it('queues each key once a minute, not once a pass, when the keys in use fill its bound exactly', async () => {
    let clock = 1_900_000_000_000;
    const t = await startTestApp({ deps: { now: () => clock } });
    try {
      const recorder = new UsageRecorder(t.deps.store.db, (error) => {
        throw error;
      }, { maxTracked: 3, now: () => clock });
      const keys = ['a', 'b', 'c'];
      for (let pass = 0; pass < 10; pass++) {
        for (const key of keys) recorder.record(key);
        clock += 1_000;
      }
      expect(recorder.queuedUses).toBe(3);
      // A fourth key ends the window early (the bound holds); a minute on, every key is queued again.
      recorder.record('d');
      expect(recorder.queuedUses).toBe(4);
      expect(recorder.trackedKeys).toBe(1);
      clock += 60_000;
      for (const key of keys) recorder.record(key);
      expect(recorder.queuedUses).toBe(7);
    } finally {
      await t.close();
    }
  });
});
