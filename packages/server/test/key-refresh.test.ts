import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyVerifier } from '../src/auth/key-verifier.ts';
import type { SecretHasher } from '../src/keys/hashing.ts';
import { admin, issueKey, partnerWithKey, withKey } from './factories.ts';
import { startTestApp, type TestApp } from './harness.ts';

/** A key in use is verified again before its 60 s in memory run out, so its requests never wait for bcrypt. */
describe('verified keys renewed in the background', () => {
  let clock = 1_950_000_000_000;
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ deps: { now: () => clock } });
  });
  afterAll(async () => t.close());

  const whoami = async (key: string) => (await t.app.inject({ url: '/v1/whoami', headers: withKey(key) })).statusCode;
  const hashes = () => t.deps.hasher.verifications;
  const until = async (condition: () => boolean) => {
    const deadline = Date.now() + 5_000;
    while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(condition()).toBe(true);
  };

  it('re-verifies a key used in the last quarter of its minute, and serves it past the minute without a wait', async () => {
    const { key } = await partnerWithKey(t.app);
    const first = hashes();
    expect(await whoami(key.key)).toBe(200);
    expect(hashes()).toBe(first + 1);

    clock += 30_000;
    expect(await whoami(key.key)).toBe(200);
    expect(hashes()).toBe(first + 1);

    clock += 20_000;
    expect(await whoami(key.key)).toBe(200);
    await until(() => hashes() === first + 2);

    // 70 s after the first verification: the entry renewed at 50 s still holds.
    clock += 20_000;
    expect(await whoami(key.key)).toBe(200);
    expect(hashes()).toBe(first + 2);
  });

  it('lets a key not used in that quarter expire, and verifies it again on its next request', async () => {
    const { key } = await partnerWithKey(t.app);
    expect(await whoami(key.key)).toBe(200);
    const before = hashes();
    clock += 61_000;
    expect(await whoami(key.key)).toBe(200);
    expect(hashes()).toBe(before + 1);
  });

  it('stops serving a key revoked while its renewal is due', async () => {
    const { key } = await partnerWithKey(t.app);
    expect(await whoami(key.key)).toBe(200);
    clock += 50_000;
    const revoked = await admin(t.app, 'POST', `/admin/v1/keys/${key.id}/revoke`);
    expect(revoked.statusCode).toBeLessThan(300);
    expect(await whoami(key.key)).toBe(401);
  });

  it('renews at most two keys per hashing slot at a time, so renewals cannot fill the hash queue', async () => {
    const { organization } = await partnerWithKey(t.app);
    const keys = await Promise.all(Array.from({ length: 10 }, (_, i) => issueKey(t.app, organization.id, { name: `due ${i}` })));
    // A hasher that answers at once until held, then keeps every verification waiting: renewals pile up.
    let held = false;
    const waiting: Array<() => void> = [];
    const hasher = {
      concurrency: 1,
      verify: () => (held ? new Promise<boolean>((resolve) => waiting.push(() => resolve(true))) : Promise.resolve(true)),
    } as unknown as SecretHasher;
    const verifier = new KeyVerifier({ db: t.deps.store.db, hasher, bus: t.deps.bus, keyPrefix: 'lp', authFailuresPerMinute: 1_000, now: () => clock });
    try {
      for (const key of keys) expect((await verifier.verify(key.key, '10.2.0.1')).ok).toBe(true);
      held = true;
      clock += 50_000;
      for (const key of keys) expect((await verifier.verify(key.key, '10.2.0.1')).ok).toBe(true);
      await until(() => waiting.length === 2);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(waiting.length).toBe(2);
      for (const release of waiting.splice(0)) release();
    } finally {
      verifier.close();
    }
  });
});
