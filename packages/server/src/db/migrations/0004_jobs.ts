import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE jobs (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid NOT NULL REFERENCES organizations (id),
      project_id uuid NOT NULL REFERENCES projects (id),
      kind text NOT NULL,
      input jsonb NOT NULL,
      status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
      -- Set by a cancel of a running job; the instance running it sees it at its next lease renewal.
      cancel_requested boolean NOT NULL DEFAULT false,
      -- Charged once, when the job first starts; a job picked up again after a crash is not charged twice.
      credits_charged integer NOT NULL DEFAULT 0 CHECK (credits_charged >= 0),
      attempts integer NOT NULL DEFAULT 0,
      -- A new token per claim: only the holder of the current token may renew, finish or hand back the job.
      lease_token uuid,
      leased_by text,
      lease_expires_at timestamptz(3),
      result jsonb,
      error jsonb,
      created_at timestamptz(3) NOT NULL DEFAULT clock_timestamp(),
      -- Not claimed before this: a cancel sent right after the 202 finds the job still queued (free, no outbound call).
      run_after timestamptz(3) NOT NULL DEFAULT clock_timestamp(),
      started_at timestamptz(3),
      finished_at timestamptz(3)
    );
    -- The runner's two ways in: the oldest queued job, or a running job whose instance stopped renewing its lease.
    CREATE INDEX jobs_queued ON jobs (run_after) WHERE status = 'queued';
    CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE status = 'running';
    CREATE INDEX jobs_organization ON jobs (organization_id, created_at DESC);

    CREATE TABLE project_sources (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid NOT NULL REFERENCES organizations (id),
      project_id uuid NOT NULL REFERENCES projects (id),
      job_id uuid NOT NULL REFERENCES jobs (id),
      kind text NOT NULL,
      url text NOT NULL,
      title text,
      data jsonb NOT NULL,
      created_at timestamptz(3) NOT NULL DEFAULT clock_timestamp(),
      updated_at timestamptz(3) NOT NULL DEFAULT clock_timestamp()
    );
    -- Ingesting the same listing, page or repository again refreshes its source instead of adding a copy.
    CREATE UNIQUE INDEX project_sources_identity ON project_sources (project_id, kind, url);
    CREATE INDEX project_sources_page ON project_sources (project_id, created_at DESC, id DESC);
  `.execute(db);
}
