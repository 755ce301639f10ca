import type { Deps } from '../deps.ts';
import { insertApiKey, revokeApiKey, setApiKeyExpiry, setApiKeyKillSwitch } from '../db/repositories/api-keys.ts';
import type { ApiKeyRow } from '../db/schema.ts';
import { generateKey, type KeyEnv } from './format.ts';
import { presentApiKey, type ApiKeyView } from './present.ts';

export interface NewKeyInput {
  organizationId: string;
  name: string;
  env?: KeyEnv | undefined;
  scopes?: string[] | undefined;
  expiresAt?: Date | null | undefined;
}

/** Creates a key. The plain key exists only in the returned value: the store keeps its bcrypt hash. */
export async function issueApiKey(deps: Pick<Deps, 'config' | 'hasher' | 'store'>, input: NewKeyInput): Promise<ApiKeyView & { key: string }> {
  const env = input.env ?? 'live';
  const { key, parsed } = generateKey(deps.config.keyPrefix, env);
  const secretHash = await deps.hasher.hash(parsed.secret);
  const row = await insertApiKey(deps.store.db, {
    key_id: parsed.keyId,
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

/** Applies a lifecycle change and tells every instance to forget what it cached about the key (SPEC 7). */
export async function changeApiKey(deps: Pick<Deps, 'store' | 'bus' | 'now'>, id: string, change: KeyChange): Promise<ApiKeyRow | undefined> {
  const db = deps.store.db;
  const row =
    change.kind === 'kill'
      ? await setApiKeyKillSwitch(db, id, change.on)
      : change.kind === 'revoke'
        ? await revokeApiKey(db, id, new Date(deps.now()))
        : await setApiKeyExpiry(db, id, change.at);
  if (row) await deps.bus.publish({ kind: 'key', apiKeyId: id });
  return row;
}
