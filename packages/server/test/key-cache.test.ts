import { randomBytes, randomUUID } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { KeyCache, STATE_BACKSTOP_MS } from '../src/auth/key-cache.ts';
import type { KeyStateRow } from '../src/auth/key-state.ts';
import { generateKeyId } from '../src/keys/format.ts';

/** SPEC 2, memory: the verifier's cache, its invalidations (none of which scans it) and its size per key. */

const T0 = 1_900_000_000_000;

/** A row as the store hands it over: every string its own copy (flattened, as the driver's are). */
function row(organizationId: string, overrides: Partial<KeyStateRow> = {}): KeyStateRow {
  const copy = (value: string) => Buffer.from(value).toString();
  return {
    id: copy(randomUUID()),
    key_id: copy(generateKeyId()),
    name: copy(`partner ${randomBytes(3).toString('hex')}`),
    env: copy('live') as 'live',
    scopes: [],
    allowed_cidrs: [],
    status: 'active',
    kill_switch: false,
    expires_at: null,
    organization_id: copy(organizationId),
    organization_name: copy('Acme Growth'),
    api_access_revoked: false,
    rate_limit_tier: copy('standard'),
    credit_balance: 6000,
    plan_name: copy('growth'),
    plan_features: [copy('api_access'), copy('webhooks')],
    ...overrides,
  };
}

const digest = () => randomBytes(32).toString('latin1');

/** A key and its organization read together, cached. */
const put = (cache: KeyCache, read: KeyStateRow, keyDigest: string, readAt: number) => cache.build(read, read, keyDigest, readAt, true);

describe('invalidations reach what they concern without scanning the cache', () => {
  it('a key invalidation makes that key stale and no other, and keeps its digest', () => {
    const cache = new KeyCache(100, T0);
    const organizationId = randomUUID();
    const [a, b] = [row(organizationId), row(organizationId)];
    const entryA = put(cache, a, digest(), T0);
    put(cache, b, digest(), T0);
    cache.invalidate({ kind: 'key', apiKeyId: a.id });
    expect(cache.isFresh(cache.get(a.key_id)!, T0)).toBe(false);
    expect(cache.get(a.key_id)!.digest).toBe(entryA.digest);
    expect(cache.isFresh(cache.get(b.key_id)!, T0)).toBe(true);
    // A key the cache does not hold: nothing happens.
    cache.invalidate({ kind: 'key', apiKeyId: randomUUID() });
    expect(cache.isFresh(cache.get(b.key_id)!, T0)).toBe(true);
  });

  it("an organization invalidation makes every key of that organization stale through their shared state, and no other organization's", () => {
    const cache = new KeyCache(100, T0);
    const [mine, theirs] = [randomUUID(), randomUUID()];
    const rows = [row(mine), row(mine), row(mine), row(theirs)];
    const entries = rows.map((r) => put(cache, r, digest(), T0));
    expect(entries[0]!.organization).toBe(entries[2]!.organization);
    expect(cache.organizationCount).toBe(2);
    cache.invalidate({ kind: 'organization', organizationId: mine });
    expect(entries.map((entry) => cache.isFresh(entry, T0))).toEqual([false, false, false, true]);
    // Read again: a new shared state for the organization, fresh.
    const again = put(cache, rows[0]!, entries[0]!.digest, T0 + 1);
    expect(cache.isFresh(again, T0 + 1)).toBe(true);
    expect(again.organization).not.toBe(entries[0]!.organization);
  });

  it('a key read with different organization values makes the other keys of the organization read theirs again', () => {
    const cache = new KeyCache(100, T0);
    const organizationId = randomUUID();
    const first = put(cache, row(organizationId), digest(), T0);
    const second = put(cache, row(organizationId, { credit_balance: 5000 }), digest(), T0);
    expect(cache.isFresh(first, T0)).toBe(false);
    expect(cache.isFresh(second, T0)).toBe(true);
    expect(second.creditBalance).toBe(5000);
  });

  it('plans and all invalidations make every entry stale', () => {
    for (const kind of ['plans', 'all'] as const) {
      const cache = new KeyCache(100, T0);
      const entries = [row(randomUUID()), row(randomUUID())].map((r) => put(cache, r, digest(), T0));
      cache.invalidate({ kind: 'global' });
      expect(entries.every((entry) => cache.isFresh(entry, T0))).toBe(true);
      cache.invalidate({ kind });
      expect(entries.some((entry) => cache.isFresh(entry, T0))).toBe(false);
    }
  });

  it('state expires after the 60-second backstop, and only keys in use are due for the background re-read', () => {
    const cache = new KeyCache(100, T0);
    const [used, idle] = [row(randomUUID()), row(randomUUID())].map((r) => put(cache, r, digest(), T0));
    cache.markUsed(used!, T0 + 1_000);
    expect(cache.isFresh(used!, T0 + STATE_BACKSTOP_MS - 1)).toBe(true);
    expect(cache.isFresh(used!, T0 + STATE_BACKSTOP_MS)).toBe(false);
    expect(cache.dueForRefresh(T0 + 45_000, T0)).toEqual([used]);
    expect(cache.dueForRefresh(T0 - 1, T0)).toEqual([]);
    expect(idle!.used).toBe(false);
    // Used longer ago than the window asked for: left to be read on its next request.
    expect(cache.dueForRefresh(T0 + 45_000, T0 + 2_000)).toEqual([]);
  });

  it('a key presented less often than once a minute stays warm: the re-read keeps its last use', () => {
    const cache = new KeyCache(100, T0);
    const read = row(randomUUID());
    const first = put(cache, read, digest(), T0);
    cache.markUsed(first, T0);
    // Re-read in the background at 45 s and again at 90 s, though not presented again: still due, still fresh.
    cache.replace(first, read, T0 + 45_000);
    const second = cache.get(read.key_id)!;
    expect(cache.dueForRefresh(T0 + 90_000, T0 + 90_000 - 600_000)).toEqual([second]);
    cache.replace(second, read, T0 + 90_000);
    expect(cache.isFresh(cache.get(read.key_id)!, T0 + 140_000)).toBe(true);
    expect(cache.get(read.key_id)!.digest).toBe(first.digest);
  });

  it("a key of an organization held fresh is built on it with no read of it, and the organization's age counts too", () => {
    const cache = new KeyCache(100, T0);
    const organizationId = randomUUID();
    const first = row(organizationId);
    put(cache, first, digest(), T0);
    expect(cache.freshOrganization(organizationId, T0 + 50_000)).toBe(cache.get(first.key_id)!.organization);
    expect(cache.freshOrganization(randomUUID(), T0)).toBeUndefined();
    const second = row(organizationId);
    const entry = cache.build(second, cache.freshOrganization(organizationId, T0 + 50_000)!, digest(), T0 + 50_000, true);
    expect(cache.isFresh(entry, T0 + 59_999)).toBe(true);
    // The key was read 11 s ago, but its organization's values 61 s ago: re-read.
    expect(cache.isFresh(entry, T0 + 61_000)).toBe(false);
    expect(cache.freshOrganization(organizationId, T0 + 61_000)).toBeUndefined();
    // Read again unchanged, the shared state is fresh again for every key that holds it.
    put(cache, first, digest(), T0 + 61_000);
    expect(cache.isFresh(entry, T0 + 61_000)).toBe(true);
    expect(cache.freshOrganization(organizationId, T0 + 61_000)).toBe(entry.organization);
  });

  it('the indexes hold no more than the cache: evicted keys leave them, and their organization with the last of them', () => {
    const cache = new KeyCache(10, T0);
    const evicted = row(randomUUID());
    put(cache, evicted, digest(), T0);
    const organizationId = randomUUID();
    for (let i = 0; i < 10; i++) put(cache, row(organizationId), digest(), T0);
    expect(cache.size).toBe(10);
    expect(cache.get(evicted.key_id)).toBeUndefined();
    expect(cache.organizationCount).toBe(1);
    // An invalidation of the evicted key or organization finds nothing, and costs nothing.
    cache.invalidate({ kind: 'key', apiKeyId: evicted.id });
    cache.invalidate({ kind: 'organization', organizationId: evicted.organization_id });
    expect(cache.organizationCount).toBe(1);
  });

  it('a key state handed to a request reads as a plain KeyState (JSON included)', () => {
    const cache = new KeyCache(10, T0);
    const r = row(randomUUID(), { scopes: ['projects:read'], kill_switch: true, status: 'revoked', expires_at: new Date(T0 + 1000) });
    const entry = put(cache, r, digest(), T0);
    expect(JSON.parse(JSON.stringify(entry))).toEqual({
      apiKeyId: r.id,
      keyId: r.key_id,
      name: r.name,
      env: 'live',
      scopes: ['projects:read'],
      allowedCidrs: [],
      status: 'revoked',
      killSwitch: true,
      expiresAt: T0 + 1000,
      organizationId: r.organization_id,
      organizationName: 'Acme Growth',
      apiAccessRevoked: false,
      rateLimitTier: 'standard',
      creditBalance: 6000,
      planName: 'growth',
      planFeatures: ['api_access', 'webhooks'],
    });
  });
});

describe('memory', () => {
  it('a cached key costs at most 512 bytes of heap (SPEC 2), its organization shared with the other keys', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const count = 50_000;
    const organizationIds = Array.from({ length: 10 }, () => randomUUID());
    const cache = new KeyCache(count, T0);
    gc();
    const before = process.memoryUsage().heapUsed;
    // Rows built here, as the store's are per read: what they leave behind is what the cache keeps.
    for (let i = 0; i < count; i++) put(cache, row(organizationIds[i % organizationIds.length]!), digest(), T0);
    gc();
    const perKey = (process.memoryUsage().heapUsed - before) / count;
    expect(cache.size).toBe(count);
    expect(perKey).toBeLessThanOrEqual(512);
  });
});
