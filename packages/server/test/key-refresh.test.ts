import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, partnerWithKey, withKey } from './factories.ts';
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
});
