import { sql, type Kysely } from 'kysely';

// One key's errors, newest first (the console's "429s of this key", GET /v1/requests?apiKeyId=&status=429): through
// request_log_organization_page alone that read walks the organization's whole week, a million rows in the console
// bench, for the two it answers (220-340 ms on the embedded store). Partial, so only answers of 400 and up pay for it
// when the log is written (a few in a hundred); a key's answers of every status are dense in its organization's
// index whenever the key is busy enough for its page to matter.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX request_log_key_errors ON request_log (api_key_id, occurred_at DESC, request_id DESC) WHERE status >= 400`.execute(db);
}
