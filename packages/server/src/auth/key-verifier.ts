import type { Kysely } from 'kysely';
import { LRUCache } from 'lru-cache';
import type { Database } from '../db/schema.ts';
import { findApiKeyByKeyId } from '../db/repositories/api-keys.ts';
import { MAX_KEY_LENGTH, parseKey } from '../keys/format.ts';
import { fingerprint, HashQueueFullError, type SecretHasher } from '../keys/hashing.ts';
import { FailureThrottle } from './failure-throttle.ts';
import type { Invalidation, InvalidationBus } from './invalidation.ts';
import { loadKeyState, type KeyState } from './key-state.ts';

/** SPEC 2: a verified key is served from memory for at most this long; so is everything read about it. */
export const CACHE_TTL_MS = 60_000;

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
  bus: InvalidationBus;
  keyPrefix: string;
  authFailuresPerMinute: number;
  metrics?: VerifierMetrics;
  now?: () => number;
  maxCachedKeys?: number;
  /** The backstop when a notification is lost; CACHE_TTL_MS unless a test needs it shorter. */
  cacheTtlMs?: number;
}

interface VerifiedEntry {
  apiKeyId: string;
  verifiedAt: number;
}

/**
 * Turns a presented key into the key's current state. Three bounded caches keep bcrypt and the database off the
 * hot path: fingerprints of verified keys, fingerprints of failed ones, and key states (invalidated by the bus).
 */
export class KeyVerifier {
  private readonly verified: LRUCache<string, VerifiedEntry>;
  /** Fingerprints that passed bcrypt here before: a hint for scheduling only, never a reason to skip bcrypt. */
  private readonly previouslyVerified: LRUCache<string, true>;
  private readonly rejected: LRUCache<string, true>;
  private readonly states: LRUCache<string, KeyState>;
  /**
   * The last key each open connection presented, with its fingerprint: a client on a kept-alive connection sends
   * the same key every time, and comparing strings costs less than hashing one. Held only while the connection is.
   */
  private readonly connectionPrints = new WeakMap<object, { key: string; print: string }>();
  private readonly pendingVerifications = new Map<string, Promise<string | null>>();
  private readonly pendingStates = new Map<string, Promise<KeyState | undefined>>();
  /** Bumped by every invalidation so a load that raced with one is not cached. */
  private generation = 0;
  private readonly throttle: FailureThrottle;
  private readonly unsubscribe: () => void;
  private readonly now: () => number;
  /**
   * A key in use is verified again in the background once its entry is this old, while it is still served from
   * memory: its entry is renewed before it runs out, so its requests never wait for bcrypt and a deployment's
   * active keys do not all come due at once. A key not presented in the last quarter of its minute expires as usual.
   */
  private readonly refreshAfterMs: number;
  /**
   * Background renewals waiting or running. Bounded to a few per hashing slot, so renewals never fill the hash
   * queue and turn away new keys; a key whose renewal found no room is renewed by a later request, or verified again
   * in the foreground when its entry runs out.
   */
  private refreshing = 0;
  private readonly maxRefreshing: number;

  constructor(private readonly options: KeyVerifierOptions) {
    const max = options.maxCachedKeys ?? 50_000;
    const now = options.now ?? Date.now;
    this.now = now;
    const perf = { now };
    const ttl = Math.min(options.cacheTtlMs ?? CACHE_TTL_MS, CACHE_TTL_MS);
    this.verified = new LRUCache({ max, ttl, ttlAutopurge: false, perf });
    this.refreshAfterMs = Math.floor(ttl * 0.75);
    this.maxRefreshing = 2 * options.hasher.concurrency;
    this.previouslyVerified = new LRUCache({ max, ttl: 24 * 60 * 60_000, ttlAutopurge: false, perf });
    this.rejected = new LRUCache({ max, ttl, ttlAutopurge: false, perf });
    this.states = new LRUCache({ max, ttl, ttlAutopurge: false, perf });
    this.throttle = new FailureThrottle(options.authFailuresPerMinute, now);
    this.unsubscribe = options.bus.subscribe((event) => this.invalidate(event));
  }

  /**
   * Synchronous when the key's fingerprint and its state are both cached (the hot path), so a cached key costs no
   * promise; otherwise a promise that may hash, query and load.
   */
  verify(presentedKey: string | undefined, clientAddress: string, connection?: object): Verification | Promise<Verification> {
    if (!presentedKey || presentedKey.length > MAX_KEY_LENGTH) return this.fail(clientAddress, undefined);
    const print = connection ? this.connectionFingerprint(connection, presentedKey) : fingerprint(presentedKey);
    const entry = this.verified.get(print);
    if (entry === undefined) {
      this.options.metrics?.cacheMiss();
      return this.verifyUncached(presentedKey, print, clientAddress);
    }
    this.options.metrics?.cacheHit();
    if (this.now() - entry.verifiedAt >= this.refreshAfterMs) this.refreshInBackground(presentedKey, print);
    const apiKeyId = entry.apiKeyId;
    const state = this.states.get(apiKeyId);
    if (state) return { ok: true, state };
    return this.withState(apiKeyId, print, clientAddress);
  }

  private connectionFingerprint(connection: object, presentedKey: string): string {
    const last = this.connectionPrints.get(connection);
    if (last?.key === presentedKey) return last.print;
    const print = fingerprint(presentedKey);
    this.connectionPrints.set(connection, { key: presentedKey, print });
    return print;
  }

  /** Verifies a cached key again (once, however many requests see it due) and renews or drops its entry. */
  private refreshInBackground(presentedKey: string, print: string): void {
    if (this.refreshing >= this.maxRefreshing || this.pendingVerifications.has(print)) return;
    const parsed = parseKey(presentedKey, this.options.keyPrefix);
    if (!parsed) return;
    this.refreshing++;
    this.coalesce(this.pendingVerifications, print, () => this.checkSecret(parsed.keyId, parsed.secret, true))
      .then(
        (found) => {
          if (found) this.verified.set(print, { apiKeyId: found, verifiedAt: this.now() });
          else this.verified.delete(print);
        },
        // The entry runs out at its time and the next request verifies in the foreground, as without a refresh.
        () => undefined,
      )
      .finally(() => this.refreshing--);
  }

  private async verifyUncached(presentedKey: string, print: string, clientAddress: string): Promise<Verification> {
    if (this.rejected.has(print)) return this.fail(clientAddress, undefined);
    const parsed = parseKey(presentedKey, this.options.keyPrefix);
    if (!parsed) return this.fail(clientAddress, undefined);
    // key_ids are public, so anyone can make a key_id's failures pile up. A key this instance verified before is
    // exempt from that count and goes first in the hash queue: a flood of wrong secrets for its key_id cannot
    // lock it out when its 60-second trust runs out and it has to be verified again.
    const knownGood = this.previouslyVerified.has(print);
    const blockedMs = Math.max(this.throttle.blockedFor(`ip:${clientAddress}`), knownGood ? 0 : this.throttle.blockedFor(`kid:${parsed.keyId}`));
    if (blockedMs > 0) return { ok: false, reason: 'throttled', retryAfterMs: blockedMs };
    let found: string | null;
    try {
      found = await this.coalesce(this.pendingVerifications, print, () => this.checkSecret(parsed.keyId, parsed.secret, knownGood));
    } catch (error) {
      if (error instanceof HashQueueFullError) return { ok: false, reason: 'throttled', retryAfterMs: 1000 };
      throw error;
    }
    if (!found) {
      this.rejected.set(print, true);
      return this.fail(clientAddress, parsed.keyId);
    }
    this.verified.set(print, { apiKeyId: found, verifiedAt: this.now() });
    this.previouslyVerified.set(print, true);
    return this.withState(found, print, clientAddress);
  }

  private async withState(apiKeyId: string, print: string, clientAddress: string): Promise<Verification> {
    const state = await this.stateOf(apiKeyId);
    if (!state) {
      this.verified.delete(print);
      return this.fail(clientAddress, undefined);
    }
    return { ok: true, state };
  }

  /** The cached state of a key, loading it (once, however many requests ask at the same moment) when absent. */
  async stateOf(apiKeyId: string): Promise<KeyState | undefined> {
    const cached = this.states.get(apiKeyId);
    if (cached) return cached;
    return this.coalesce(this.pendingStates, apiKeyId, async () => {
      const generation = this.generation;
      const state = await loadKeyState(this.options.db, apiKeyId, this.options.keyPrefix);
      if (state && generation === this.generation) this.states.set(apiKeyId, state);
      return state;
    });
  }

  invalidate(event: Invalidation): void {
    this.generation++;
    switch (event.kind) {
      case 'key':
        this.states.delete(event.apiKeyId);
        break;
      case 'organization':
        for (const [id, state] of this.states.entries()) if (state.organizationId === event.organizationId) this.states.delete(id);
        break;
      case 'plans':
      case 'all':
        this.states.clear();
        break;
      case 'global':
        break;
    }
  }

  close(): void {
    this.unsubscribe();
  }

  /** Entries held by each bounded cache, for /metrics. */
  cacheEntries(): Record<string, number> {
    return {
      verified: this.verified.size,
      previously_verified: this.previouslyVerified.size,
      rejected: this.rejected.size,
      states: this.states.size,
      failure_windows: this.throttle.size,
    };
  }

  private async checkSecret(keyId: string, secret: string, priority: boolean): Promise<string | null> {
    const row = await findApiKeyByKeyId(this.options.db, keyId);
    if (!row) return null;
    const match = await this.options.hasher.verify(secret, row.secret_hash, priority);
    this.options.metrics?.hashVerification(match ? 'match' : 'mismatch');
    return match ? row.id : null;
  }

  private fail(clientAddress: string, keyId: string | undefined): Verification {
    this.throttle.recordFailure(`ip:${clientAddress}`);
    if (keyId) this.throttle.recordFailure(`kid:${keyId}`);
    return { ok: false, reason: 'invalid' };
  }

  private async coalesce<T>(pending: Map<string, Promise<T>>, id: string, work: () => Promise<T>): Promise<T> {
    const running = pending.get(id);
    if (running) return running;
    const promise = work().finally(() => pending.delete(id));
    pending.set(id, promise);
    return promise;
  }
}
