import { sql, type Kysely } from 'kysely';

// SPEC 12: every resource carries the env of the key that made it, and a key sees only its own env's rows.
// Rows made before this migration take the env of the key that made them when it is known (the key on the row, or
// the key of the audit entry that created it), `live` otherwise.
const ENV_TABLES = [
  'projects',
  'influencers',
  'jobs',
  'project_sources',
  'webhook_endpoints',
  'webhook_deliveries',
  'idempotency_keys',
  'usage_counts',
  'request_log',
] as const;

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const table of ENV_TABLES) {
    await sql`ALTER TABLE ${sql.table(table)} ADD COLUMN env text NOT NULL DEFAULT 'live' CHECK (env IN ('live', 'test'))`.execute(db);
  }
  // Null for what concerns no env (an operator's change to an organization, a sign-in).
  await sql`ALTER TABLE audit_entries ADD COLUMN env text CHECK (env IN ('live', 'test'))`.execute(db);

  await sql`
    -- Rows that name their key.
    UPDATE jobs j SET env = k.env FROM api_keys k WHERE k.id = j.api_key_id AND k.env <> j.env;
    UPDATE idempotency_keys i SET env = k.env FROM api_keys k WHERE k.id = i.api_key_id AND k.env <> i.env;
    UPDATE usage_counts u SET env = k.env FROM api_keys k WHERE k.id = u.api_key_id AND k.env <> u.env;
    UPDATE request_log r SET env = k.env FROM api_keys k WHERE k.id = r.api_key_id AND k.env <> r.env;
    UPDATE audit_entries a SET env = k.env FROM api_keys k WHERE k.id = a.api_key_id;

    -- Rows whose creating key only their audit entry names (the first successful create of that target).
    UPDATE projects p SET env = made.env FROM (
      SELECT DISTINCT ON (a.target_id) a.target_id, k.env FROM audit_entries a JOIN api_keys k ON k.id = a.api_key_id
      WHERE a.action = 'project.create' AND a.target_type = 'project' AND a.status BETWEEN 200 AND 299
      ORDER BY a.target_id, a.occurred_at
    ) made WHERE made.target_id = p.id::text AND made.env <> p.env;
    UPDATE influencers i SET env = made.env FROM (
      SELECT DISTINCT ON (a.target_id) a.target_id, k.env FROM audit_entries a JOIN api_keys k ON k.id = a.api_key_id
      WHERE a.action = 'influencer.create' AND a.target_type = 'influencer' AND a.status BETWEEN 200 AND 299
      ORDER BY a.target_id, a.occurred_at
    ) made WHERE made.target_id = i.id::text AND made.env <> i.env;
    UPDATE webhook_endpoints e SET env = made.env FROM (
      SELECT DISTINCT ON (a.target_id) a.target_id, k.env FROM audit_entries a JOIN api_keys k ON k.id = a.api_key_id
      WHERE a.action = 'webhook_endpoint.create' AND a.target_type = 'webhook_endpoint' AND a.status BETWEEN 200 AND 299
      ORDER BY a.target_id, a.occurred_at
    ) made WHERE made.target_id = e.id::text AND made.env <> e.env;
    UPDATE jobs j SET env = made.env FROM (
      SELECT DISTINCT ON (a.target_id) a.target_id, k.env FROM audit_entries a JOIN api_keys k ON k.id = a.api_key_id
      WHERE a.action LIKE 'ingest.%' AND a.target_type = 'job' AND a.status BETWEEN 200 AND 299
      ORDER BY a.target_id, a.occurred_at
    ) made WHERE j.api_key_id IS NULL AND made.target_id = j.id::text AND made.env <> j.env;

    -- Rows made by a job or for an endpoint belong to its env.
    UPDATE project_sources s SET env = j.env FROM jobs j WHERE j.id = s.job_id AND j.env <> s.env;
    UPDATE webhook_deliveries d SET env = e.env FROM webhook_endpoints e WHERE e.id = d.endpoint_id AND e.env <> d.env;

    -- One project per end-customer in each env: a test key's project never answers a live key's create.
    DROP INDEX projects_customer;
    CREATE UNIQUE INDEX projects_customer ON projects (organization_id, env, customer_external_id) WHERE customer_external_id IS NOT NULL;
    DROP INDEX projects_organization_page;
    CREATE INDEX projects_organization_page ON projects (organization_id, env, created_at DESC, id DESC);
    DROP INDEX webhook_endpoints_page;
    CREATE INDEX webhook_endpoints_page ON webhook_endpoints (organization_id, env, created_at DESC, id DESC);
    DROP INDEX request_log_organization_page;
    CREATE INDEX request_log_organization_page ON request_log (organization_id, env, occurred_at DESC, request_id DESC);

    -- A delivery takes its endpoint's env, and a job's event reaches only endpoints of the job's env: test events
    -- never go to a live receiver. A BEFORE INSERT trigger rather than a change to webhook_enqueue_job_event, so any
    -- code path that enqueues a delivery (that function included, whatever later migrations make of it) obeys it.
    CREATE FUNCTION webhook_delivery_env() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      endpoint_env text;
      job_env text;
    BEGIN
      SELECT env INTO endpoint_env FROM webhook_endpoints WHERE id = NEW.endpoint_id;
      IF endpoint_env IS NOT NULL THEN NEW.env := endpoint_env; END IF;
      IF NEW.job_id IS NOT NULL THEN
        SELECT env INTO job_env FROM jobs WHERE id = NEW.job_id;
        IF job_env IS DISTINCT FROM NEW.env THEN RETURN NULL; END IF;
      END IF;
      -- The wallet is the live world's (test-mode jobs never touch it): its events go to live endpoints only.
      IF NEW.event_type = 'credits.low' AND NEW.env <> 'live' THEN RETURN NULL; END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER webhook_deliveries_env BEFORE INSERT ON webhook_deliveries
      FOR EACH ROW EXECUTE FUNCTION webhook_delivery_env();
  `.execute(db);
}
