import type { ApiKeyRow } from '../db/schema.ts';

/** SPEC 1.2: the key record as shown to partners and operators; never the hash, never the secret. */
export function presentApiKey(row: ApiKeyRow, keyPrefix: string) {
  return {
    id: row.id,
    keyId: row.key_id,
    displayPrefix: `${keyPrefix}_${row.env}_${row.key_id}`,
    organizationId: row.organization_id,
    name: row.name,
    env: row.env,
    scopes: row.scopes,
    allowedCidrs: row.allowed_cidrs,
    status: row.status,
    killSwitch: row.kill_switch,
    expiresAt: row.expires_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
    revokedAt: row.revoked_at?.toISOString() ?? null,
  };
}

export type ApiKeyView = ReturnType<typeof presentApiKey>;
