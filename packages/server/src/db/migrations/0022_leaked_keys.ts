import { sql, type Kysely } from 'kysely';

// SPEC 15: when a key was first reported leaked. Its key.leaked event goes out once, with the report that set this;
// later reports of the same key find it set and add an audit entry only.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE api_keys ADD COLUMN leaked_at timestamptz`.execute(db);
}
