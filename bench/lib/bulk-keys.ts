import { sql, type Kysely } from 'kysely';
import type { Database } from '../../packages/server/src/db/schema.ts';

/** A real cost-4 bcrypt hash shared by every background row: nobody presents those keys, so nobody verifies them. */
const BACKGROUND_HASH = '$2b$04$UOto7mF5ttisf2.nKCMCC.3ocoB2opqCz6mReQilX13zxsD/rObxC';

/**
 * Rows `from`..`to` of never-presented keys, in one statement (generate_series keeps a million rows quick). Their
 * key_ids are `Z` and 15 hex digits, all inside the Crockford alphabet, and cannot collide with one another.
 */
export async function insertBackgroundKeys(db: Kysely<Database>, organizationId: string, from: number, to: number): Promise<void> {
  await sql`
    INSERT INTO api_keys (key_id, organization_id, name, env, scopes, secret_hash)
    SELECT 'Z' || lpad(upper(to_hex(i)), 15, '0'), ${organizationId}::uuid, 'background', 'live', '{}', ${BACKGROUND_HASH}
    FROM generate_series(${from}::int, ${to}::int) AS i
  `.execute(db);
  await sql`ANALYZE api_keys`.execute(db);
}

/** The key_id of background row `i`, for lookups of a row that exists. */
export const backgroundKeyId = (i: number): string => `Z${i.toString(16).toUpperCase().padStart(15, '0')}`;
