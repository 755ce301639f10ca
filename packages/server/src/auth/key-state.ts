import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';

/** Everything the pipeline needs about a key, its organization and its plan, read in one query. */
export interface KeyState {
  apiKeyId: string;
  keyId: string;
  displayPrefix: string;
  name: string;
  env: 'live' | 'test';
  scopes: string[];
  status: 'active' | 'revoked';
  killSwitch: boolean;
  expiresAt: number | null;
  organizationId: string;
  organizationName: string;
  apiAccessRevoked: boolean;
  rateLimitTier: string;
  creditBalance: number;
  planName: string | null;
  planFeatures: string[];
}

export async function loadKeyState(db: Kysely<Database>, apiKeyId: string, keyPrefix: string): Promise<KeyState | undefined> {
  const row = await db
    .selectFrom('api_keys as k')
    .innerJoin('organizations as o', 'o.id', 'k.organization_id')
    .leftJoin('plans as p', 'p.id', 'o.plan_id')
    .select([
      'k.id',
      'k.key_id',
      'k.name',
      'k.env',
      'k.scopes',
      'k.status',
      'k.kill_switch',
      'k.expires_at',
      'o.id as organization_id',
      'o.name as organization_name',
      'o.api_access_revoked',
      'o.rate_limit_tier',
      'o.credit_balance',
      'p.name as plan_name',
      'p.features as plan_features',
    ])
    .where('k.id', '=', apiKeyId)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    apiKeyId: row.id,
    keyId: row.key_id,
    displayPrefix: `${keyPrefix}_${row.env}_${row.key_id}`,
    name: row.name,
    env: row.env,
    scopes: row.scopes,
    status: row.status,
    killSwitch: row.kill_switch,
    expiresAt: row.expires_at ? row.expires_at.getTime() : null,
    organizationId: row.organization_id,
    organizationName: row.organization_name,
    apiAccessRevoked: row.api_access_revoked,
    rateLimitTier: row.rate_limit_tier,
    creditBalance: row.credit_balance,
    planName: row.plan_name,
    planFeatures: row.plan_features ?? [],
  };
}
