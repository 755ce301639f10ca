import { sql, type Kysely } from 'kysely';

// The request log's retention sweep walks request_log_organization_page, an organization and env at a time
// (usage/repository.ts sweepExpiredRequestLog), so request_log_expiry goes. Keeping it cost PostgreSQL some 2.5 µs
// of CPU for every row written (COPY of 400,000 rows: 10.5 µs a row without it, 12-14 with it), a tenth of a
// core at 40,000 requests a second; and once an organization held most of the log, the planner served that
// organization's first page from it, backwards through every newer row of the others, filtering.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX request_log_expiry`.execute(db);
}
