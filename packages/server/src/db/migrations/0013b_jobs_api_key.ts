import { sql, type Kysely } from 'kysely';

// SPEC 8.7 counts credits per key: a job remembers the key that queued it, so the credits its start charges are
// counted against that key (null for jobs queued before this column, or by no key).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE jobs ADD COLUMN api_key_id uuid`.execute(db);
}
