import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE projects (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid NOT NULL REFERENCES organizations (id),
      name text NOT NULL,
      customer_external_id text,
      timezone text NOT NULL DEFAULT 'UTC',
      primary_language text NOT NULL DEFAULT 'en',
      status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
      created_at timestamptz(3) NOT NULL DEFAULT clock_timestamp(),
      updated_at timestamptz(3) NOT NULL DEFAULT clock_timestamp()
    );
    -- SPEC 8.1: one project per end-customer; the database arbitrates concurrent creates.
    CREATE UNIQUE INDEX projects_customer ON projects (organization_id, customer_external_id) WHERE customer_external_id IS NOT NULL;
    CREATE INDEX projects_organization_page ON projects (organization_id, created_at DESC, id DESC);

    CREATE TABLE influencers (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid NOT NULL REFERENCES organizations (id),
      project_id uuid NOT NULL REFERENCES projects (id),
      name text NOT NULL,
      persona text,
      created_at timestamptz(3) NOT NULL DEFAULT clock_timestamp()
    );
    CREATE INDEX influencers_project ON influencers (project_id, created_at DESC);
  `.execute(db);
}
