import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { StoredDigest } from '../keys/digest.ts';
import { parseCidr, type Cidr } from '../net/cidr.ts';

/** Everything the pipeline needs about a key, its organization and its plan, read in one query. */
export interface KeyState {
  apiKeyId: string;
  keyId: string;
  name: string;
  env: 'live' | 'test';
  scopes: string[];
  /** Check 5a of SPEC 2, as stored (canonical CIDRs); empty = any address. */
  allowedCidrs: string[];
  /** The same, parsed once when the state is read, so the check on each request parses only the client address; null = any. */
  allowedRanges: Cidr[] | null;
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

/** A key as the verifier reads it by key_id: its state, and what its secret is checked against. */
export interface KeyRecord {
  /** The key's own columns: its organization's come from the verifier's cache, or from loadOrganizationRow. */
  key: KeyRow;
  /** bcrypt, the record (SPEC 1.1): needed only when the key has no digest under a secret this instance knows. */
  secretHash: string;
  digest: StoredDigest | null;
}

/** What a key's state takes from its organization and plan (`o`, `p`), read with the key or on its own. */
const ORGANIZATION_COLUMNS = [
  'o.id as organization_id',
  'o.name as organization_name',
  'o.api_access_revoked',
  'o.rate_limit_tier',
  'o.credit_balance',
  'p.name as plan_name',
  'p.features as plan_features',
] as const;

const selectKeys = (db: Kysely<Database>) =>
  db
    .selectFrom('api_keys as k')
    .innerJoin('organizations as o', 'o.id', 'k.organization_id')
    .leftJoin('plans as p', 'p.id', 'o.plan_id')
    .select([
      'k.id',
      'k.key_id',
      'k.name',
      'k.env',
      'k.scopes',
      'k.allowed_cidrs',
      'k.status',
      'k.kill_switch',
      'k.expires_at',
      ...ORGANIZATION_COLUMNS,
    ]);

/** A key's state as read, before the verifier's cache packs it (auth/key-cache.ts). */
export type KeyStateRow = Awaited<ReturnType<ReturnType<typeof selectKeys>['executeTakeFirstOrThrow']>>;

/** Stored CIDRs are canonical (checked when written), so none fails to parse; one that did would match nothing. */
export function compileRanges(cidrs: string[]): Cidr[] | null {
  if (cidrs.length === 0) return null;
  return cidrs.map(parseCidr).filter((cidr): cidr is Cidr => cidr !== undefined);
}

function toState(row: KeyStateRow): KeyState {
  return {
    apiKeyId: row.id,
    keyId: row.key_id,
    name: row.name,
    env: row.env,
    scopes: row.scopes,
    allowedCidrs: row.allowed_cidrs,
    allowedRanges: compileRanges(row.allowed_cidrs),
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

const KEY_COLUMNS = ['id', 'key_id', 'name', 'env', 'scopes', 'allowed_cidrs', 'status', 'kill_switch', 'expires_at', 'organization_id'] as const;

/** A key's own columns, as the verifier reads them by key_id. */
export type KeyRow = Pick<KeyStateRow, (typeof KEY_COLUMNS)[number]>;

/** An organization and its plan, as the verifier reads them when it has no fresh copy. */
export type OrganizationRow = Omit<KeyStateRow, (typeof KEY_COLUMNS)[number]> & { organization_id: string };

/**
 * The verifier's one indexed read (key_id is unique): the key's own columns, bcrypt hash and digest, from api_keys
 * alone. A wrong secret or an unknown key_id costs this read and nothing more (a join with the organization and its
 * plan cost it three times as much on the embedded store); the organization comes from the cache when it is fresh.
 */
export async function loadKeyRecord(db: Kysely<Database>, keyId: string): Promise<KeyRecord | undefined> {
  const row = await db
    .selectFrom('api_keys')
    .select([...KEY_COLUMNS, 'secret_hash', 'secret_digest', 'digest_secret_id'])
    .where('key_id', '=', keyId)
    .executeTakeFirst();
  if (!row) return undefined;
  const digest = row.secret_digest && row.digest_secret_id ? { digest: row.secret_digest, secretId: row.digest_secret_id } : null;
  return { key: row, secretHash: row.secret_hash, digest };
}

/** An organization and its plan, for a verified key whose organization the verifier holds no fresh copy of. */
export async function loadOrganizationRow(db: Kysely<Database>, organizationId: string): Promise<OrganizationRow | undefined> {
  return db
    .selectFrom('organizations as o')
    .leftJoin('plans as p', 'p.id', 'o.plan_id')
    .select(ORGANIZATION_COLUMNS)
    .where('o.id', '=', organizationId)
    .executeTakeFirst();
}

/** States of several keys in one query (the backstop re-read of keys in use); a key that is gone is absent. */
export async function loadKeyStateRows(db: Kysely<Database>, apiKeyIds: readonly string[]): Promise<Map<string, KeyStateRow>> {
  if (apiKeyIds.length === 0) return new Map();
  const rows = await selectKeys(db).where('k.id', 'in', apiKeyIds).execute();
  return new Map(rows.map((row) => [row.id, row]));
}

/** One key's state by its id (operators' tools; the pipeline reads by key_id through loadKeyRecord). */
export async function loadKeyState(db: Kysely<Database>, apiKeyId: string): Promise<KeyState | undefined> {
  const row = (await loadKeyStateRows(db, [apiKeyId])).get(apiKeyId);
  return row ? toState(row) : undefined;
}
