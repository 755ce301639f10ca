import { sql, type Kysely } from 'kysely';

// A new row's updated_at and created_at each defaulted to their own clock_timestamp(): microseconds apart, and once
// in a while on either side of a millisecond once rounded to timestamptz(3), so a project could be answered as updated
// a millisecond after it was created. A new row has not been updated: it takes its created_at. clock_timestamp()
// stays the default of created_at, so rows made in one transaction keep the order they were made in.
const tablesWithBothTimes = ['projects', 'project_sources', 'webhook_endpoints', 'webhook_deliveries'];

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE FUNCTION updated_at_starts_at_created_at() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      NEW.updated_at := NEW.created_at;
      RETURN NEW;
    END
    $$
  `.execute(db);
  for (const table of tablesWithBothTimes) {
    await sql`
      CREATE TRIGGER updated_at_starts_at_created_at BEFORE INSERT ON ${sql.table(table)}
      FOR EACH ROW EXECUTE FUNCTION updated_at_starts_at_created_at()
    `.execute(db);
  }
}
