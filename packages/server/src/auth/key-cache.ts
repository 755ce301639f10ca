import { LRUCache } from 'lru-cache';
import { compileRanges, type KeyRow, type KeyState, type KeyStateRow, type OrganizationRow } from './key-state.ts';
import type { Cidr } from '../net/cidr.ts';
import type { Invalidation } from './invalidation.ts';

/** SPEC 2: a key's state is re-read at least this often when no invalidation arrives (the backstop). */
export const STATE_BACKSTOP_MS = 60_000;

/**
 * The ranges spelled out, kept beside the parsed form only once something asks for them (whoami presents the key on
 * every call, and spelling an IPv6 range is not cheap); keys without ranges, and keys never presented, pay nothing.
 */
const spelled = new WeakMap<readonly Cidr[], string[]>();
function spelledRanges(ranges: readonly Cidr[]): string[] {
  let cidrs = spelled.get(ranges);
  if (cidrs === undefined) {
    cidrs = ranges.map(([address, bits]) => `${address.toString()}/${bits}`);
    spelled.set(ranges, cidrs);
  }
  return cidrs;
}

/** Most keys have no scopes: one frozen array stands for all of theirs. */
const NO_SCOPES = Object.freeze([]) as unknown as string[];

/**
 * One copy of values that many keys and organizations repeat (tiers, plan names, feature and scope lists): the store
 * hands each row its own. Bounded: past `max` distinct values, a value is simply kept as read.
 */
class Interned<T> {
  private readonly values = new Map<string, T>();
  constructor(private readonly max: number) {}

  of(key: string, value: T): T {
    const known = this.values.get(key);
    if (known !== undefined) return known;
    if (this.values.size < this.max) this.values.set(key, value);
    return value;
  }
}

const INTERNED_MAX = 1_024;
const strings = new Interned<string>(INTERNED_MAX);
const lists = new Interned<string[]>(INTERNED_MAX);
const internString = <T extends string | null>(value: T): T => (value === null ? value : (strings.of(value, value) as T));
const internList = (values: string[] | null): string[] => {
  if (!values || values.length === 0) return NO_SCOPES;
  const frozen = Object.freeze(values.map((value) => internString(value)));
  return lists.of(values.join('\u0000'), frozen as unknown as string[]);
};

/**
 * An organization and its plan as a key's read found them, shared by every cached key of the organization (one
 * object, not one copy per key). An invalidation of the organization marks it stale, which makes every key that
 * holds it stale at once, without looking for them.
 */
export class OrganizationState {
  stale = false;
  /** Cached keys holding this object: it leaves the index when the last one leaves the cache. */
  holders = 0;
  /** When these values were last read (or read again and found the same): the backstop applies to them too. */
  readAt = 0;
  /** The cache's plans epoch when read. */
  epoch = 0;

  constructor(
    readonly organizationId: string,
    readonly organizationName: string,
    readonly apiAccessRevoked: boolean,
    readonly rateLimitTier: string,
    readonly creditBalance: number,
    readonly planName: string | null,
    readonly planFeatures: string[],
  ) {}

  static of(row: OrganizationRow, readAt = 0, epoch = 0): OrganizationState {
    const organization = new OrganizationState(
      row.organization_id,
      row.organization_name,
      row.api_access_revoked,
      internString(row.rate_limit_tier),
      row.credit_balance,
      internString(row.plan_name),
      internList(row.plan_features),
    );
    organization.readAt = readAt;
    organization.epoch = epoch;
    return organization;
  }

  /** Whether `row` read the same organization and plan. */
  sameAs(row: OrganizationRow): boolean {
    const features = row.plan_features ?? NO_SCOPES;
    return (
      this.organizationName === row.organization_name &&
      this.apiAccessRevoked === row.api_access_revoked &&
      this.rateLimitTier === row.rate_limit_tier &&
      this.creditBalance === row.credit_balance &&
      this.planName === row.plan_name &&
      this.planFeatures.length === features.length &&
      this.planFeatures.every((feature, index) => feature === features[index])
    );
  }
}

const REVOKED = 1;
const KILLED = 2;
/** What `usedAfterOrigin` holds for an entry never presented since it was built. */
const NEVER_USED = -(2 ** 30);
/** Dropped by an invalidation of the key: the next request reads it again (the digest is kept meanwhile). */
const STALE = 8;
/** The flags' other bits hold the cache's plans epoch when the entry was read. */
const EPOCH_SHIFT = 4;

/**
 * What an instance keeps per key it has read (SPEC 2, memory: at most 512 bytes a key): the digest, the key's own
 * fields, flags packed in one small integer, and the shared organization. It is the KeyState handed to the
 * request, so a cache hit allocates nothing. Immutable but for its flags: a re-read makes a new one.
 */
export class CachedKey implements KeyState {
  readonly apiKeyId: string;
  readonly keyId: string;
  readonly name: string;
  readonly env: 'live' | 'test';
  readonly scopes: string[];
  /** Check 5a of SPEC 2, parsed when read (null for the usual key with none: one empty field, no parsing per request). */
  readonly allowedRanges: Cidr[] | null;
  readonly expiresAt: number | null;
  /**
   * The HMAC-SHA-256 digest the secret is checked against, as a 32-character latin1 string: a string costs a
   * third of the heap a Uint8Array view does. A secret cannot change, so neither does this.
   */
  readonly digest: string;
  /** When the state was read, in milliseconds after the cache's origin: a small integer, stored without a box. */
  readonly readAfterOrigin: number;
  /**
   * When the key was last presented, in milliseconds after the cache's origin (NEVER_USED if not since it was
   * built): keys in use are kept warm by the background re-read.
   */
  usedAfterOrigin = NEVER_USED;
  /** REVOKED, KILLED, STALE, and the plans epoch above EPOCH_SHIFT: one small integer, not four fields. */
  private flags: number;

  constructor(row: KeyRow, readonly organization: OrganizationState, digest: string, readAfterOrigin: number, epoch: number) {
    this.apiKeyId = row.id;
    this.keyId = row.key_id;
    this.name = row.name;
    this.env = row.env === 'test' ? 'test' : 'live';
    this.scopes = internList(row.scopes);
    this.allowedRanges = compileRanges(row.allowed_cidrs);
    this.expiresAt = row.expires_at ? row.expires_at.getTime() : null;
    this.digest = digest;
    this.readAfterOrigin = readAfterOrigin;
    this.flags = (epoch << EPOCH_SHIFT) | (row.status === 'revoked' ? REVOKED : 0) | (row.kill_switch ? KILLED : 0);
  }

  /** The cache's plans epoch when read: a plans invalidation moves it on and so makes every entry stale. */
  get epoch(): number {
    return this.flags >>> EPOCH_SHIFT;
  }

  /** Stored canonical, so the parsed ranges spell them back exactly. */
  get allowedCidrs(): string[] {
    return this.allowedRanges === null ? [] : spelledRanges(this.allowedRanges);
  }

  get status(): 'active' | 'revoked' {
    return this.flags & REVOKED ? 'revoked' : 'active';
  }
  get killSwitch(): boolean {
    return (this.flags & KILLED) !== 0;
  }
  get organizationId(): string {
    return this.organization.organizationId;
  }
  get organizationName(): string {
    return this.organization.organizationName;
  }
  get apiAccessRevoked(): boolean {
    return this.organization.apiAccessRevoked;
  }
  get rateLimitTier(): string {
    return this.organization.rateLimitTier;
  }
  get creditBalance(): number {
    return this.organization.creditBalance;
  }
  get planName(): string | null {
    return this.organization.planName;
  }
  get planFeatures(): string[] {
    return this.organization.planFeatures;
  }

  get used(): boolean {
    return this.usedAfterOrigin !== NEVER_USED;
  }
  get stale(): boolean {
    return (this.flags & STALE) !== 0 || this.organization.stale;
  }
  markStale(): void {
    this.flags |= STALE;
  }

  /** The ranges' parsed form stays out: allowedCidrs spells them. */
  toJSON(): Omit<KeyState, 'allowedRanges'> {
    const { apiKeyId, keyId, name, env, scopes, allowedCidrs, status, killSwitch, expiresAt, organizationId, organizationName } = this;
    const { apiAccessRevoked, rateLimitTier, creditBalance, planName, planFeatures } = this;
    return {
      apiKeyId,
      keyId,
      name,
      env,
      scopes,
      allowedCidrs,
      status,
      killSwitch,
      expiresAt,
      organizationId,
      organizationName,
      apiAccessRevoked,
      rateLimitTier,
      creditBalance,
      planName,
      planFeatures,
    };
  }
}

/**
 * The verifier's bounded memory of keys (SPEC 2), indexed so that no invalidation scans it: a key's by its id, an
 * organization's through the shared OrganizationState, plans and everything by an epoch every entry carries.
 */
export class KeyCache {
  private readonly byKeyId: LRUCache<string, CachedKey>;
  private readonly byApiKeyId = new Map<string, CachedKey>();
  private readonly organizations = new Map<string, OrganizationState>();
  private epoch = 0;

  /** `origin`: a time near the cache's creation, so that read times are small integers after it. */
  constructor(max: number, private readonly origin: number) {
    this.byKeyId = new LRUCache({
      max,
      dispose: (entry, _keyId, reason) => {
        entry.organization.holders--;
        if (entry.organization.holders === 0 && this.organizations.get(entry.organization.organizationId) === entry.organization) {
          this.organizations.delete(entry.organization.organizationId);
        }
        if (reason !== 'set' && this.byApiKeyId.get(entry.apiKeyId) === entry) this.byApiKeyId.delete(entry.apiKeyId);
      },
    });
  }

  get size(): number {
    return this.byKeyId.size;
  }

  /** The entry for a presented key_id, if cached (stale or not), marking it recently used. */
  get(keyId: string): CachedKey | undefined {
    return this.byKeyId.get(keyId);
  }

  markUsed(entry: CachedKey, now: number): void {
    entry.usedAfterOrigin = now - this.origin;
  }

  /** Whether `entry`'s state may answer a request at `now` without a read. */
  isFresh(entry: CachedKey, now: number): boolean {
    return entry.epoch === this.epoch && !entry.stale && now - this.origin - entry.readAfterOrigin < STATE_BACKSTOP_MS && this.organizationFresh(entry.organization, now);
  }

  private organizationFresh(organization: OrganizationState, now: number): boolean {
    return !organization.stale && organization.epoch === this.epoch && now - organization.readAt < STATE_BACKSTOP_MS;
  }

  /** The organization's shared state, if it is cached and fresh: a key of it read now needs no read of it. */
  freshOrganization(organizationId: string, now: number): OrganizationState | undefined {
    const organization = this.organizations.get(organizationId);
    return organization && this.organizationFresh(organization, now) ? organization : undefined;
  }

  /**
   * A key's entry built from what was read (its organization as read with it, or the fresh shared state): cached
   * (`remember`), or only handed to the request that read it.
   */
  build(row: KeyRow, organization: OrganizationRow | OrganizationState, digest: string, readAt: number, remember: boolean): CachedKey {
    if (!remember) {
      const own = organization instanceof OrganizationState ? organization : OrganizationState.of(organization, readAt, this.epoch);
      return new CachedKey(row, own, digest, readAt - this.origin, this.epoch);
    }
    const shared = organization instanceof OrganizationState ? organization : this.organizationOf(organization, readAt);
    const entry = new CachedKey(row, shared, digest, readAt - this.origin, this.epoch);
    entry.organization.holders++;
    // The key_id read from the store, never the presented one: that is a slice of the header and would keep the
    // whole presented key, secret included, in memory for as long as the entry lives.
    this.byKeyId.set(entry.keyId, entry);
    this.byApiKeyId.set(entry.apiKeyId, entry);
    return entry;
  }

  /** The entry for a key_id without marking it used (the background refresh). */
  peek(keyId: string): CachedKey | undefined {
    return this.byKeyId.peek(keyId);
  }

  delete(keyId: string): void {
    this.byKeyId.delete(keyId);
  }

  /**
   * Entries presented at or after `usedSince` whose state was read at or before `readBefore` (and is not stale):
   * what the background re-read keeps warm, so that a key in use never waits for the backstop's read.
   */
  dueForRefresh(readBefore: number, usedSince: number): CachedKey[] {
    const due: CachedKey[] = [];
    const read = readBefore - this.origin;
    const used = usedSince - this.origin;
    for (const entry of this.byKeyId.values()) {
      if (entry.usedAfterOrigin >= used && entry.readAfterOrigin <= read && entry.epoch === this.epoch && !entry.stale) due.push(entry);
    }
    return due;
  }

  /** An entry re-read by the background refresh: the new one keeps the old one's last use. */
  replace(previous: CachedKey, row: KeyStateRow, readAt: number): void {
    const entry = this.build(row, row, previous.digest, readAt, true);
    entry.usedAfterOrigin = previous.usedAfterOrigin;
  }

  invalidate(event: Invalidation): void {
    switch (event.kind) {
      case 'key':
        this.byApiKeyId.get(event.apiKeyId)?.markStale();
        break;
      case 'organization': {
        const organization = this.organizations.get(event.organizationId);
        if (organization) organization.stale = true;
        break;
      }
      case 'plans':
      case 'all':
        // Wraps long before the flags' bits run out; an entry of an epoch that came round again is at most 60 s old.
        this.epoch = (this.epoch + 1) & 0xffffff;
        break;
      case 'global':
        break;
    }
  }

  /** Organizations held by cached keys (for tests: the index is bounded by the cache). */
  get organizationCount(): number {
    return this.organizations.size;
  }

  /**
   * The shared organization for a row. One whose values differ from the row's is outdated (the row was read later,
   * or an invalidation is on its way): it is marked stale, so its keys read theirs again, and the row's takes its place.
   */
  private organizationOf(row: OrganizationRow, readAt: number): OrganizationState {
    const known = this.organizations.get(row.organization_id);
    if (known && !known.stale && known.epoch === this.epoch && known.sameAs(row)) {
      known.readAt = Math.max(known.readAt, readAt);
      return known;
    }
    if (known) known.stale = true;
    const fresh = OrganizationState.of(row, readAt, this.epoch);
    this.organizations.set(row.organization_id, fresh);
    return fresh;
  }
}
