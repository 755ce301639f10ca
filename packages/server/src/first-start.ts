import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_TOKEN_FILE } from './admin-token-file.ts';
import { hashAdminToken } from './admin/admin-auth.ts';
import type { Deps } from './deps.ts';
import { findPlanByName } from './plans/repository.ts';
import { insertOrganization } from './organizations/repository.ts';
import { readSetting, SETTING_ADMIN_TOKEN_HASH, writeSetting } from './db/settings.ts';
import { issueApiKey } from './keys/service.ts';

export { ADMIN_TOKEN_FILE };

/**
 * SPEC 11: with no GATEHOUSE_ADMIN_TOKEN, a token is generated on first start, kept hashed in the store and in an
 * owner-only file for the local CLI. Returns the token when it was generated now (to print once), else null.
 */
export async function ensureAdminToken(deps: Deps): Promise<string | null> {
  if (deps.config.adminToken) return null;
  if (await readSetting<string>(deps.store.db, SETTING_ADMIN_TOKEN_HASH)) return null;
  const token = `gha_${randomBytes(32).toString('base64url')}`;
  await writeSetting(deps.store.db, SETTING_ADMIN_TOKEN_HASH, hashAdminToken(token));
  mkdirSync(deps.config.dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(join(deps.config.dataDir, ADMIN_TOKEN_FILE), `${token}\n`, { mode: 0o600 });
  return token;
}

/** On an empty embedded store: a development organization on `partner` with 6000 credits and one test key. */
export async function seedDevelopmentOrganization(deps: Deps): Promise<{ key: string; organizationId: string } | null> {
  const existing = await deps.store.db.selectFrom('organizations').select('id').limit(1).executeTakeFirst();
  if (existing) return null;
  const plan = await findPlanByName(deps.store.db, 'partner');
  const organization = await insertOrganization(deps.store.db, {
    name: 'Development',
    plan_id: plan?.id ?? null,
    rate_limit_tier: 'standard',
    credit_balance: 6000,
  });
  const created = await issueApiKey(deps, { organizationId: organization.id, name: 'development', env: 'test' });
  return { key: created.key, organizationId: organization.id };
}

/** The web console's address (SPEC 14), printed on first start beside the development key and the admin token. */
export function consoleLines(publicUrl: string): string[] {
  return ['Console (the first operator account is created there with the admin token; partners sign in there too):', `${publicUrl}/console/`];
}
