import { sql, type Kysely } from 'kysely';

// usage_counts_expiry (granularity, bucket) looked cheaper to the planner than the primary key for one organization's
// range, so a 31-day answer was read through it, filtered by organization and sorted (on disk, for 1,000 keys). An
// index on bucket alone still serves retention and the operators' query across organizations, and leaves the
// partner query to the primary key, which hands rows over already in the answer's order.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP INDEX usage_counts_expiry;
    CREATE INDEX usage_counts_bucket ON usage_counts (bucket);
  `.execute(db);
}
