import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { setApiKeyDigest } from '../keys/repository.ts';
import { type KeyDigester, type StoredDigest } from '../keys/digest.ts';
import { MAX_KEY_LENGTH, parseKey, type ParsedKey } from '../keys/format.ts';
import { HashQueueFullError, type SecretHasher } from '../keys/hashing.ts';
import { FailureThrottle } from './failure-throttle.ts';
import { LaneFullError, SerialLanes } from './serial-lane.ts';
import type { Invalidation, InvalidationBus } from './invalidation.ts';
import { KeyCache, STATE_BACKSTOP_MS } from './key-cache.ts';
import { loadKeyRecord, loadKeyStateRows, loadOrganizationRow, type KeyRecord, type KeyState, type OrganizationRow } from './key-state.ts';
import type { OrganizationState } from './key-cache.ts';
import { inSpan } from '../observability/tracing.ts';

export { STATE_BACKSTOP_MS };
/** A key in use has its state re-read in the background from this age on, in batches, so requests never wait. */
const STATE_REFRESH_AFTER_MS = 45_000;
/**
 * In use: presented in the last ten minutes. A key presented less often than once a minute (100,000 partners calling
 * in turn) would otherwise find its state past the backstop at every request, and read it on the request's path.
 */
const KEEP_WARM_MS = 600_000;
const REFRESH_SWEEP_MS = 5_000;
const REFRESH_BATCH = 500;
/** Enough for 100,000 active keys and more; each entry stays well under SPEC 2's 512 bytes. */
export const DEFAULT_MAX_CACHED_KEYS = 200_000;

/** What an unknown key_id's HMAC is compared with: a miss does the work a wrong secret does (no timing oracle). */
const ABSENT_DIGEST = '\0'.repeat(32);

/** bcrypt attempts that may wait in a throttled lane behind the one running (proveByBcrypt); the rest get a 429. */
export const BCRYPT_LANE_WAITING = 8;
/** The one lane every throttled address's bcrypt attempts share (a key_id's lane is named `kid:<key_id>`). */
const THROTTLED_ADDRESSES_LANE = 'throttled-addresses';

/** Constant-time equality of a computed digest and a cached one (latin1, one character a byte). */
function sameAsCached(presented: Buffer, cached: string): boolean {
  if (presented.length !== cached.length) return false;
  let difference = 0;
  for (let index = 0; index < presented.length; index++) difference |= presented[index]! ^ cached.charCodeAt(index);
  return difference === 0;
}

export type Verification =
  | { ok: true; state: KeyState }
  | { ok: false; reason: 'invalid' }
  | { ok: false; reason: 'throttled'; retryAfterMs: number };

export interface VerifierMetrics {
  cacheHit(): void;
  cacheMiss(): void;
  hashVerification(outcome: 'match' | 'mismatch'): void;
}

export interface KeyVerifierOptions {
  db: Kysely<Database>;
  hasher: SecretHasher;
  digester: KeyDigester;
  bus: InvalidationBus;
  keyPrefix: string;
  authFailuresPerMinute: number;
  metrics?: VerifierMetrics;
  now?: () => number;
  maxCachedKeys?: number;
  /** A background re-read the store failed: those keys are read again on their next request. */
  onRefreshError?: (error: unknown) => void;
}

/**
 * Turns a presented key into the key's current state (SPEC 2, hot path). A key is checked by one HMAC of its secret
 * against the digest stored beside its bcrypt hash: from memory when cached, else after one indexed read by key_id.
 * bcrypt runs only for a key with no digest under a secret this instance knows, once per deployment, and writes one.
 */
export class KeyVerifier {
  private readonly keys: KeyCache;
  private readonly pendingReads = new Map<string, Promise<KeyRecord | undefined>>();
  private readonly pendingOrganizationReads = new Map<string, Promise<OrganizationRow | undefined>>();
  private readonly pendingHashes = new Map<string, Promise<boolean>>();
  /** Bumped by every invalidation so a read that raced with one does not cache what it read. */
  private generation = 0;
  private readonly throttle: FailureThrottle;
  private readonly lanes = new SerialLanes(BCRYPT_LANE_WAITING);
  private readonly unsubscribe: () => void;
  private readonly now: () => number;
  private readonly sweeper: NodeJS.Timeout;
  private sweeping = false;
  /** Reads of the store by key_id, and digests computed: every failed verification costs exactly one of each. */
  storeReads = 0;
  digestsComputed = 0;
  /** Reads of an organization for a verified key whose organization was not cached fresh. */
  organizationReads = 0;

  constructor(private readonly options: KeyVerifierOptions) {
    this.now = options.now ?? Date.now;
    this.keys = new KeyCache(options.maxCachedKeys ?? DEFAULT_MAX_CACHED_KEYS, this.now());
    this.throttle = new FailureThrottle(options.authFailuresPerMinute, this.now);
    this.unsubscribe = options.bus.subscribe((event) => this.invalidate(event));
    this.sweeper = setInterval(() => void this.refreshStates().catch((error: unknown) => options.onRefreshError?.(error)), REFRESH_SWEEP_MS);
    this.sweeper.unref();
  }

  /**
   * Synchronous when the key is cached with a fresh state (the hot path: no promise, no I/O); otherwise a promise
   * that reads the key by key_id. Anything that fails costs one read and one HMAC, whatever the key_id.
   */
  verify(presentedKey: string | undefined, clientAddress: string): Verification | Promise<Verification> {
    if (!presentedKey || presentedKey.length > MAX_KEY_LENGTH) return this.fail(clientAddress, undefined);
    const parsed = parseKey(presentedKey, this.options.keyPrefix);
    if (!parsed) return this.fail(clientAddress, undefined);
    this.digestsComputed++;
    const presented = this.options.digester.currentDigest(parsed.secret);
    const cached = this.keys.get(parsed.keyId);
    const now = this.now();
    if (cached && this.keys.isFresh(cached, now) && sameAsCached(presented, cached.digest)) {
      this.options.metrics?.cacheHit();
      this.keys.markUsed(cached, now);
      return { ok: true, state: cached };
    }
    this.options.metrics?.cacheMiss();
    // Only the path that reads the store is a span: a cached key is answered in memory, too briefly to be worth one.
    return inSpan('key verification', () => this.verifyFromStore(parsed, presented, clientAddress));
  }

  private async verifyFromStore(parsed: ParsedKey, presented: Buffer, clientAddress: string): Promise<Verification> {
    const generation = this.generation;
    const record = await this.read(parsed.keyId);
    const { digester } = this.options;
    if (!record) {
      sameAsCached(presented, ABSENT_DIGEST);
      return this.fail(clientAddress, parsed.keyId);
    }
    let digest = record.digest;
    if (!digest || !digester.canCheck(digest.secretId)) {
      const proven = await this.proveByBcrypt(parsed, presented, record, clientAddress);
      if (proven !== true) return proven;
      digest = await this.storeDigest(record.key.id, parsed.secret);
    } else if (!digester.matches(parsed.secret, presented, digest)) {
      return this.fail(clientAddress, parsed.keyId);
    } else if (digest.secretId !== digester.currentId) {
      // Digested under the secret being rotated out: digested again under the current one, no bcrypt needed.
      digest = await this.storeDigest(record.key.id, parsed.secret);
    }
    const readAt = this.now();
    const organization: OrganizationState | OrganizationRow | undefined =
      this.keys.freshOrganization(record.key.organization_id, readAt) ?? (await this.readOrganization(record.key.organization_id));
    // A key cannot outlive its organization (ON DELETE CASCADE): gone in between, it is as unknown.
    if (!organization) return this.fail(clientAddress, parsed.keyId);
    const entry = this.keys.build(record.key, organization, Buffer.from(digest.digest).toString('latin1'), readAt, generation === this.generation);
    this.keys.markUsed(entry, readAt);
    return { ok: true, state: entry };
  }

  /**
   * The key `token` is, when it is a key of this deployment with its secret right (prefix, checksum, then the digest,
   * or bcrypt once for a key with no digest this instance can check): for a report about a token that someone else
   * found (SPEC 15), not for a request made with it. Nothing is cached and no failure is counted against anyone: the
   * report is signed, and a false token in it is an ordinary answer, not a guess.
   */
  async identify(token: string): Promise<KeyRecord | undefined> {
    const parsed = parseKey(token, this.options.keyPrefix);
    if (!parsed) return undefined;
    const record = await this.read(parsed.keyId);
    if (!record) return undefined;
    const { digester } = this.options;
    const digest = record.digest;
    if (digest && digester.canCheck(digest.secretId)) return digester.matches(parsed.secret, digester.currentDigest(parsed.secret), digest) ? record : undefined;
    return (await this.options.hasher.verify(parsed.secret, record.secretHash)) ? record : undefined;
  }

  /**
   * bcrypt, for a key with no digest this instance can check: once per key per deployment; concurrent requests with
   * the same secret share one hash.
   *
   * SPEC 2 (floods): the throttle refuses failing attempts only, and a correct key is never refused because of other
   * requests' failures. Here, unlike on the digest path, whether an attempt fails is known only after bcrypt, so a
   * throttled attempt cannot be refused up front: refusing it let anyone who knows a key's public key_id lock its owner
   * out with a few wrong secrets, and the owner's key was never proven, so never digested, and stayed locked out. What
   * the throttle is for here is bounding the bcrypt an attacker can cause, so a throttled attempt is not refused but
   * serialised: while a key_id is over its failures, its bcrypt runs one at a time (each attempt from an address that
   * is not throttled still counts against that address, as before); while an address is over its failures, its bcrypt
   * waits in one lane shared by every throttled address, so throttled addresses together keep at most one hash running
   * however many of them there are. A lane admits a few waiters and refuses the rest with a short retry: that is
   * shedding load, not a verdict on the attempt. A wrong secret that gets through is still answered 429 and counted;
   * a right one is digested, and from then on the key takes the digest path, where nothing refuses it.
   */
  private async proveByBcrypt(parsed: ParsedKey, presented: Buffer, record: KeyRecord, clientAddress: string): Promise<true | Verification> {
    const lane = this.bcryptLane(parsed.keyId, clientAddress);
    let match: boolean;
    try {
      match = await this.coalesce(this.pendingHashes, `${parsed.keyId}:${presented.toString('base64url')}:${lane ?? ''}`, async () => {
        const verify = () => this.options.hasher.verify(parsed.secret, record.secretHash);
        const verified = await (lane ? this.lanes.run(lane, verify) : verify());
        this.options.metrics?.hashVerification(verified ? 'match' : 'mismatch');
        return verified;
      });
    } catch (error) {
      if (error instanceof HashQueueFullError || error instanceof LaneFullError) return { ok: false, reason: 'throttled', retryAfterMs: 1000 };
      throw error;
    }
    return match ? true : this.fail(clientAddress, parsed.keyId);
  }

  /** The lane a bcrypt attempt must take (see proveByBcrypt), or none when neither its address nor its key_id is throttled. */
  private bcryptLane(keyId: string, clientAddress: string): string | undefined {
    if (this.throttle.blockedFor(`ip:${clientAddress}`) > 0) return THROTTLED_ADDRESSES_LANE;
    if (this.throttle.blockedFor(`kid:${keyId}`) > 0) return `kid:${keyId}`;
    return undefined;
  }

  private async storeDigest(apiKeyId: string, secret: string): Promise<StoredDigest> {
    const digest = this.options.digester.digest(secret);
    await setApiKeyDigest(this.options.db, apiKeyId, digest);
    return digest;
  }

  /** One indexed read by key_id, shared by the requests that ask for the same key_id at the same moment. */
  private read(keyId: string): Promise<KeyRecord | undefined> {
    return this.coalesce(this.pendingReads, keyId, () => {
      this.storeReads++;
      return loadKeyRecord(this.options.db, keyId);
    });
  }

  /** An organization and its plan, shared by the requests that ask for it at the same moment. */
  private readOrganization(organizationId: string): Promise<OrganizationRow | undefined> {
    return this.coalesce(this.pendingOrganizationReads, organizationId, () => {
      this.organizationReads++;
      return loadOrganizationRow(this.options.db, organizationId);
    });
  }

  /**
   * The backstop, without making requests wait for it: the states of keys in use are re-read in batches before they
   * reach STATE_BACKSTOP_MS (KEEP_WARM_MS: presented in the last ten minutes). A key not presented for longer is left
   * to be read again on its next request.
   */
  async refreshStates(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const now = this.now();
      const due = this.keys.dueForRefresh(now - STATE_REFRESH_AFTER_MS, now - KEEP_WARM_MS);
      for (let start = 0; start < due.length; start += REFRESH_BATCH) {
        const batch = due.slice(start, start + REFRESH_BATCH);
        const generation = this.generation;
        const readAt = this.now();
        let rows: Awaited<ReturnType<typeof loadKeyStateRows>>;
        try {
          rows = await loadKeyStateRows(
            this.options.db,
            batch.map((entry) => entry.apiKeyId),
          );
        } catch (error) {
          // A slow or unreachable store: the next batches are tried, and what failed ages to the backstop.
          this.options.onRefreshError?.(error);
          continue;
        }
        // An invalidation during the read has dropped what it concerns; the next request reads those itself.
        if (generation !== this.generation) continue;
        for (const entry of batch) {
          const row = rows.get(entry.apiKeyId);
          // Replaced by a newer entry (or evicted) meanwhile: that one is newer than this read.
          if (this.keys.peek(entry.keyId) !== entry) continue;
          if (row) this.keys.replace(entry, row, readAt);
          else this.keys.delete(entry.keyId);
        }
      }
    } finally {
      this.sweeping = false;
    }
  }

  invalidate(event: Invalidation): void {
    this.generation++;
    this.keys.invalidate(event);
  }

  close(): void {
    clearInterval(this.sweeper);
    this.unsubscribe();
  }

  /** Entries held by each bounded cache, for /metrics. */
  cacheEntries(): Record<string, number> {
    return { keys: this.keys.size, failure_windows: this.throttle.size };
  }

  /** Organizations the cache holds for its keys (bounded by them). */
  get cachedOrganizations(): number {
    return this.keys.organizationCount;
  }

  private fail(clientAddress: string, keyId: string | undefined): Verification {
    const blockedMs = keyId ? this.throttle.refuseFailure(`ip:${clientAddress}`, `kid:${keyId}`) : this.throttle.refuseFailure(`ip:${clientAddress}`);
    if (blockedMs > 0) return { ok: false, reason: 'throttled', retryAfterMs: blockedMs };
    return { ok: false, reason: 'invalid' };
  }

  private coalesce<T>(pending: Map<string, Promise<T>>, id: string, work: () => Promise<T>): Promise<T> {
    const running = pending.get(id);
    if (running) return running;
    const promise = work().finally(() => pending.delete(id));
    pending.set(id, promise);
    return promise;
  }
}
