import type { Kysely } from 'kysely';
import type { Deps } from '../deps.ts';
import {
  expireApiKeyForRoll,
  findOrganizationApiKey,
  findTargetApiKey,
  insertApiKey,
  revokeApiKey,
  setApiKeyExpiry,
  setApiKeyKillSwitch,
  updateApiKey,
  type ApiKeyTarget,
} from './repository.ts';
import type { ApiKeyRow, ApiKeysTable, Database, Env } from '../db/schema.ts';
import { inTransaction, type Tx } from '../db/transaction.ts';
import { ApiError, conflict, notFound } from '../http/errors.ts';
import { generateKey, type KeyEnv } from './format.ts';
import { presentApiKey, type ApiKeyView } from './present.ts';
import { assertMayActOn, assertMayGrant } from './scope-grant.ts';
import { canonicalCidr } from '../net/cidr.ts';
import { emitKeyEvent, keyEventSubject } from '../webhooks/lifecycle-events.ts';

type Db = Kysely<Database>;

export interface NewKeyInput {
  organizationId: string;
  name: string;
  env?: KeyEnv | undefined;
  scopes?: string[] | undefined;
  /** ISO 8601; must lie in the future. */
  expiresAt?: string | Date | null | undefined;
  /** Check 5a of SPEC 2: where the key may be used from. */
  allowedCidrs?: string[] | undefined;
  /** The scopes of the key asking (SPEC 9); absent for operators, who may grant any. */
  holderScopes?: readonly string[] | undefined;
}

type KeyDeps = Pick<Deps, 'config' | 'hasher' | 'digester' | 'now'>;

/** What the store keeps of a secret: its bcrypt hash (the record) and its keyed digest (what verification checks). */
type StoredSecret = Pick<ApiKeysTable, 'secret_hash' | 'secret_digest' | 'digest_secret_id'>;

/** The slow part (bcrypt), done before any transaction opens; the digest is one HMAC (SPEC 1.1, 2). */
async function storedSecret(deps: KeyDeps, secret: string): Promise<StoredSecret> {
  const { digest, secretId } = deps.digester.digest(secret);
  return { secret_hash: await deps.hasher.hash(secret), secret_digest: digest, digest_secret_id: secretId };
}

/** A new key that passed the rules, with its bcrypt hash and digest: made before the unit's transaction opens. */
export interface PreparedKey {
  input: NewKeyInput & { env: KeyEnv; scopes: string[]; expiresAt: Date | null; allowedCidrs: string[] };
  key: string;
  keyId: string;
  stored: StoredSecret;
}

/** A roll's successor, prepared before the transaction like a new key. */
export interface PreparedSuccessor {
  keyId: string;
  key: string;
  stored: StoredSecret;
}

const invalid = (path: string, message: string) => new ApiError('VALIDATION_FAILED', 'The request is not valid.', { issues: [{ path, message }] });

/**
 * allowedCidrs as stored: each entry an IPv4 or IPv6 address or CIDR, kept in canonical form (the network address,
 * IPv4-mapped IPv6 as IPv4), without repeats. 422 naming the first entry that is not one.
 */
export function canonicalAllowedCidrs(cidrs: readonly string[], path: string): string[] {
  const canonical: string[] = [];
  cidrs.forEach((text, index) => {
    const cidr = canonicalCidr(text);
    if (cidr === undefined) throw invalid(`${path}.${index}`, 'must be an IPv4 or IPv6 address or CIDR, such as 203.0.113.0/24 or 2001:db8::/32');
    if (!canonical.includes(cidr)) canonical.push(cidr);
  });
  return canonical;
}

const LAST_EXPIRY = Date.UTC(10000, 0, 1);

/**
 * The rules of a new key, for every way one is issued (the partner API, the admin API and so the CLI): a restricted
 * key grants only scopes it holds (SPEC 9), and an expiry lies in the future. Then the slow part, the hash.
 */
export async function prepareNewKey(deps: KeyDeps, input: NewKeyInput): Promise<PreparedKey> {
  const scopes = [...new Set(input.scopes ?? [])];
  if (input.holderScopes) assertMayGrant(input.holderScopes, scopes);
  const expiresAt = input.expiresAt ? new Date(input.expiresAt) : null;
  if (expiresAt && expiresAt.getTime() <= deps.now()) throw invalid('body.expiresAt', 'must be in the future');
  // A date-time with an offset can name year 10000 in UTC, which no answer's date-time can show (it was a 500).
  if (expiresAt && expiresAt.getTime() >= LAST_EXPIRY) throw invalid('body.expiresAt', 'must be before 10000-01-01T00:00:00Z');
  const allowedCidrs = canonicalAllowedCidrs(input.allowedCidrs ?? [], 'body.allowedCidrs');
  const env = input.env ?? 'live';
  const { key, parsed } = generateKey(deps.config.keyPrefix, env);
  return { input: { ...input, env, scopes, expiresAt, allowedCidrs }, key, keyId: parsed.keyId, stored: await storedSecret(deps, parsed.secret) };
}

/** Stores a prepared key. The plain key exists only in the returned value: the store keeps its bcrypt hash and digest. */
export async function createApiKey(db: Db, keyPrefix: string, prepared: PreparedKey): Promise<ApiKeyView & { key: string }> {
  const { input } = prepared;
  const row = await insertApiKey(db, {
    key_id: prepared.keyId,
    organization_id: input.organizationId,
    name: input.name,
    env: input.env,
    scopes: input.scopes,
    allowed_cidrs: input.allowedCidrs,
    ...prepared.stored,
    expires_at: input.expiresAt,
  });
  const view = presentApiKey(row, keyPrefix);
  // Every way a key is issued (partner API, admin API and so the CLI, console) comes through here.
  await emitKeyEvent({ db }, 'key.created', view, {}, row.created_at);
  return { ...view, key: prepared.key };
}

/** Prepares and stores a key in one go, for callers outside a request (first start, benchmarks). */
export async function issueApiKey(deps: KeyDeps & Pick<Deps, 'store'>, input: NewKeyInput): Promise<ApiKeyView & { key: string }> {
  const prepared = await prepareNewKey(deps, input);
  return inTransaction(deps.store.db, (tx) => createApiKey(tx.db, deps.config.keyPrefix, prepared));
}

type KeyChange =
  | { kind: 'kill'; on: boolean }
  | { kind: 'revoke' }
  | { kind: 'expire'; at: Date | null }
  /** PATCH: a new name and/or allowed addresses (canonical, see canonicalAllowedCidrs). */
  | { kind: 'update'; name?: string | undefined; allowedCidrs?: string[] | undefined };

type ChangeDeps = Pick<Deps, 'bus' | 'now' | 'config'>;

/**
 * A switch flipped by this change (kill, unkill, revoke) and the lifecycle event it emits (SPEC 7), or `undefined`
 * when the key is missing or already so: a second kill of a killed key changes nothing and tells nobody again.
 */
async function flipSwitch(tx: Tx, deps: ChangeDeps, key: ApiKeyTarget, change: Extract<KeyChange, { kind: 'kill' | 'revoke' }>): Promise<ApiKeyRow | undefined> {
  const at = new Date(deps.now());
  const flipped = change.kind === 'kill' ? await setApiKeyKillSwitch(tx.db, key, change.on) : await revokeApiKey(tx.db, key, at);
  if (!flipped) return undefined;
  const type = change.kind === 'revoke' ? 'key.revoked' : change.on ? 'key.killed' : 'key.unkilled';
  await emitKeyEvent(tx, type, presentApiKey(flipped, deps.config.keyPrefix), {}, at);
  return flipped;
}

/**
 * Applies a lifecycle change in the caller's transaction, with its lifecycle event, and, once it is committed, tells
 * every instance to forget what it cached about the key (SPEC 7). A bare id reaches any key (operators); a target
 * with `organizationId` only that organization's. 404 when there is no such key.
 */
export async function changeApiKey(tx: Tx, deps: ChangeDeps, target: string | ApiKeyTarget, change: KeyChange): Promise<ApiKeyRow> {
  const key = typeof target === 'string' ? { id: target } : target;
  const row =
    change.kind === 'kill' || change.kind === 'revoke'
      ? ((await flipSwitch(tx, deps, key, change)) ?? (await findTargetApiKey(tx.db, key)))
      : change.kind === 'expire'
        ? await setApiKeyExpiry(tx.db, key, change.at)
        : await updateApiKey(tx.db, key, { name: change.name, allowed_cidrs: change.allowedCidrs });
  if (!row) throw notFound('API key');
  tx.afterCommit(() => deps.bus.publish({ kind: 'key', apiKeyId: row.id }));
  return row;
}

/** Which key a partner acts on, and with which key's scopes (SPEC 9). */
export interface PartnerKeyTarget {
  organizationId: string;
  id: string;
  holderScopes: readonly string[];
  /** The asking key's env: a key acts only on keys of its own env (SPEC 12), 404 for the other's. */
  env?: Env | undefined;
}

/**
 * A lifecycle change asked for by a partner key: only on a key of its own organization (404 for any other) whose
 * scopes are within the asking key's own (403 FORBIDDEN_SCOPE otherwise), so a restricted key holding `keys:write`
 * cannot switch off the organization's full-access keys. Scopes never change after creation: the check and the
 * write cannot disagree.
 */
export async function changePartnerApiKey(tx: Tx, deps: ChangeDeps, target: PartnerKeyTarget, change: KeyChange): Promise<ApiKeyRow> {
  const existing = await findOrganizationApiKey(tx.db, target.organizationId, target.id);
  if (!existing || (target.env !== undefined && existing.env !== target.env)) throw notFound('API key');
  assertMayActOn(target.holderScopes, existing.scopes);
  return changeApiKey(tx, deps, { id: target.id, organizationId: target.organizationId }, change);
}

export const DEFAULT_ROLL_OVERLAP_SECONDS = 86_400;
export const MAX_ROLL_OVERLAP_SECONDS = 7 * 86_400;

export interface RollInput {
  organizationId: string;
  id: string;
  overlapSeconds: number;
  /** The scopes of the key asking for the roll: the new key gets the old one's, which must not exceed these. */
  holderScopes: readonly string[];
  /** The asking key's env: only a key of its own env is rolled (SPEC 12). */
  env?: Env | undefined;
}

/** A roll's successor before it is stored: its secret, and the expiry the key being rolled had until now. */
export interface RollSuccessor extends PreparedSuccessor {
  expiresAt: Date | null;
}

/** The key being rolled, checked against the holder's scopes, and its successor's secret hashed: before the transaction. */
export async function prepareRoll(db: Db, deps: KeyDeps, input: RollInput): Promise<RollSuccessor> {
  const existing = await findOrganizationApiKey(db, input.organizationId, input.id);
  if (!existing || (input.env !== undefined && existing.env !== input.env)) throw notFound('API key');
  // A key's scopes never change after creation, so this check cannot go stale before the roll's write.
  assertMayActOn(input.holderScopes, existing.scopes);
  const { key, parsed } = generateKey(deps.config.keyPrefix, existing.env);
  return { key, keyId: parsed.keyId, stored: await storedSecret(deps, parsed.secret), expiresAt: existing.expires_at };
}

/**
 * SPEC 7 rotation: a new key with the old one's name, env and scopes, and the old one expiring after the overlap,
 * in the caller's transaction, so a failed insert never leaves the old key shortened with no successor. A roll is no
 * way out of a restriction (SPEC 8.5): the successor is killed if the old key is (as the guarded update, which locks
 * the row, reads it) and expires no later than the old key would have without the roll.
 */
export async function rollApiKey(
  tx: Tx,
  deps: Pick<Deps, 'config' | 'bus' | 'now'>,
  input: RollInput,
  successor: RollSuccessor,
): Promise<{ created: ApiKeyView & { key: string }; previous: ApiKeyView }> {
  const now = deps.now();
  const previous = await expireApiKeyForRoll(tx.db, input.organizationId, input.id, new Date(now + input.overlapSeconds * 1000), new Date(now));
  if (!previous) {
    const current = await findOrganizationApiKey(tx.db, input.organizationId, input.id);
    if (!current) throw notFound('API key');
    if (current.status === 'revoked') throw conflict('key_revoked', 'A revoked key cannot be rolled.');
    throw conflict('key_expired', 'An expired key cannot be rolled.');
  }
  const created = await insertApiKey(tx.db, {
    key_id: successor.keyId,
    organization_id: previous.organization_id,
    name: previous.name,
    env: previous.env,
    scopes: previous.scopes,
    allowed_cidrs: previous.allowed_cidrs,
    ...successor.stored,
    kill_switch: previous.kill_switch,
    expires_at: successor.expiresAt,
  });
  tx.afterCommit(() => deps.bus.publish({ kind: 'key', apiKeyId: previous.id }));
  const prefix = deps.config.keyPrefix;
  const [createdView, previousView] = [presentApiKey(created, prefix), presentApiKey(previous, prefix)];
  // One event for the roll, shaped like its answer: the new key, and the old one with its new expiry.
  await emitKeyEvent(tx, 'key.rolled', createdView, { previousKey: keyEventSubject(previousView) }, new Date(now));
  return { created: { ...createdView, key: successor.key }, previous: previousView };
}
