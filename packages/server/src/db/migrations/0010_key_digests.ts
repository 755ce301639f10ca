import { sql, type Kysely } from 'kysely';

// SPEC 2, hot path: beside the bcrypt hash (the record), the secret's HMAC under a pepper derived from the deployment
// secret, and the public id of that secret. Keys issued before this have none: each is verified by bcrypt once, at
// its first use, and gets one then.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE api_keys ADD COLUMN secret_digest bytea, ADD COLUMN digest_secret_id text;
  `.execute(db);
}
