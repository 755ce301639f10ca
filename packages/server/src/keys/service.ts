import type { Deps } from '../deps.ts';
import {
  expireApiKeyForRoll,
  findOrganizationApiKey,
  insertApiKey,
  revokeApiKey,
  setApiKeyExpiry,
  setApiKeyKillSwitch,
  type ApiKeyTarget,
} from '../db/repositories/api-keys.ts';
import type { ApiKeyRow } from '../db/schema.ts';
import { conflict, notFound } from '../http/errors.ts';
import { generateKey, type KeyEnv } from './format.ts';
import { presentApiKey, type ApiKeyView } from './present.ts';
import { assertMayGrant } from './scope-grant.ts';

export interface NewKeyInput {
  organizationId: string;
  name: string;
  env?: KeyEnv | undefined;
  scopes?: string[] | undefined;
  expiresAt?: Date | null | undefined;
}

type KeyDeps = Pick<Deps, 'config' | 'hasher' | 'store'>;

/** A fresh key and its bcrypt hash: the slow part, done before any transaction opens. */
async function prepareKey(deps: KeyDeps, env: KeyEnv) {
  const { key, parsed } = generateKey(deps.config.keyPrefix, env);
  return { key, keyId: parsed.keyId, secretHash: await deps.hasher.hash(parsed.secret) };
}

/** Creates a key. The plain key exists only in the returned value: the store keeps its bcrypt hash. */
export async function issueApiKey(deps: KeyDeps, input: NewKeyInput): Promise<ApiKeyView & { key: string }> {
  const env = input.env ?? 'live';
  const { key, keyId, secretHash } = await prepareKey(deps, env);
  const row = await insertApiKey(deps.store.db, {
    key_id: keyId,
    organization_id: input.organizationId,
    name: input.name,
    env,
    scopes: [...new Set(input.scopes ?? [])],
    secret_hash: secretHash,
    expires_at: input.expiresAt ?? null,
  });
  return { ...presentApiKey(row, deps.config.keyPrefix), key };
}

type KeyChange = { kind: 'kill'; on: boolean } | { kind: 'revoke' } | { kind: 'expire'; at: Date | null };

/**
 * Applies a lifecycle change and, once it is committed, tells every instance to forget what it cached about the
 * key (SPEC 7). A bare id reaches any key (operators); a target with `organizationId` only that organization's.
 */
export async function changeApiKey(
  deps: Pick<Deps, 'store' | 'bus' | 'now'>,
  target: string | ApiKeyTarget,
  change: KeyChange,
): Promise<ApiKeyRow | undefined> {
  const db = deps.store.db;
  const key = typeof target === 'string' ? { id: target } : target;
  const row =
    change.kind === 'kill'
      ? await setApiKeyKillSwitch(db, key, change.on)
      : change.kind === 'revoke'
        ? await revokeApiKey(db, key, new Date(deps.now()))
        : await setApiKeyExpiry(db, key, change.at);
  if (row) await deps.bus.publish({ kind: 'key', apiKeyId: row.id });
  return row;
}

export const DEFAULT_ROLL_OVERLAP_SECONDS = 86_400;
export const MAX_ROLL_OVERLAP_SECONDS = 7 * 86_400;

export interface RollInput {
  organizationId: string;
  id: string;
  overlapSeconds: number;
  /** The scopes of the key asking for the roll: the new key gets the old one's, which must not exceed these. */
  holderScopes: readonly string[];
}

/**
 * SPEC 7 rotation: a new key with the old one's name, env and scopes, and the old one expiring after the overlap.
 * Both writes share one transaction, so a failed insert never leaves the old key shortened with no successor.
 */
export async function rollApiKey(
  deps: Pick<Deps, 'config' | 'hasher' | 'store' | 'bus' | 'now'>,
  input: RollInput,
): Promise<{ created: ApiKeyView & { key: string }; previous: ApiKeyView }> {
  const db = deps.store.db;
  const existing = await findOrganizationApiKey(db, input.organizationId, input.id);
  if (!existing) throw notFound('API key');
  // A key's scopes never change after creation, so this check cannot go stale before the write below.
  assertMayGrant(input.holderScopes, existing.scopes);
  const { key, keyId, secretHash } = await prepareKey(deps, existing.env);
  const now = deps.now();
  const rolled = await db.transaction().execute(async (trx) => {
    const previous = await expireApiKeyForRoll(trx, input.organizationId, input.id, new Date(now + input.overlapSeconds * 1000), new Date(now));
    if (!previous) return undefined;
    const created = await insertApiKey(trx, {
      key_id: keyId,
      organization_id: previous.organization_id,
      name: previous.name,
      env: previous.env,
      scopes: previous.scopes,
      secret_hash: secretHash,
      expires_at: null,
    });
    return { previous, created };
  });
  if (!rolled) {
    const current = await findOrganizationApiKey(db, input.organizationId, input.id);
    if (!current) throw notFound('API key');
    if (current.status === 'revoked') throw conflict('key_revoked', 'A revoked key cannot be rolled.');
    throw conflict('key_expired', 'An expired key cannot be rolled.');
  }
  await deps.bus.publish({ kind: 'key', apiKeyId: rolled.previous.id });
  const prefix = deps.config.keyPrefix;
  return { created: { ...presentApiKey(rolled.created, prefix), key }, previous: presentApiKey(rolled.previous, prefix) };
}
