import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE webhook_endpoints (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid NOT NULL REFERENCES organizations (id),
      url text NOT NULL,
      events text[] NOT NULL,
      -- The signing secret (whsec_...). Kept in plain text because the server must sign with it, unlike an API key
      -- it cannot be hashed; there is no deployment key to encrypt it with. Never logged, never returned after creation.
      secret text NOT NULL,
      enabled boolean NOT NULL DEFAULT true,
      -- Start of the current unbroken run of failed attempts; null once anything is delivered.
      failing_since timestamptz(3),
      disabled_at timestamptz(3),
      disabled_reason text,
      created_at timestamptz(3) NOT NULL DEFAULT clock_timestamp(),
      updated_at timestamptz(3) NOT NULL DEFAULT clock_timestamp()
    );
    CREATE INDEX webhook_endpoints_page ON webhook_endpoints (organization_id, created_at DESC, id DESC);

    CREATE TABLE webhook_deliveries (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid NOT NULL REFERENCES organizations (id),
      endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
      -- The Standard Webhooks message id: the same on every attempt, so a receiver can drop repeats.
      webhook_id text NOT NULL,
      event_type text NOT NULL,
      job_id uuid REFERENCES jobs (id) ON DELETE CASCADE,
      occurred_at timestamptz(3) NOT NULL,
      -- The exact bytes sent, fixed at the first attempt so every retry carries the same body. A job event is
      -- enqueued by the trigger below without one; the worker renders it from the (final, unchanging) job row.
      body text,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
      -- Attempts started, the one in flight included.
      attempts integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz(3),
      -- A new token per claim: only its holder may record the attempt's outcome.
      lease_token uuid,
      lease_expires_at timestamptz(3),
      last_status_code integer,
      last_error jsonb,
      last_attempt_at timestamptz(3),
      created_at timestamptz(3) NOT NULL DEFAULT clock_timestamp(),
      updated_at timestamptz(3) NOT NULL DEFAULT clock_timestamp(),
      completed_at timestamptz(3)
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
    CREATE INDEX webhook_deliveries_page ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
    -- A job reaches one final status once; this makes sure no endpoint ever gets its event twice from the queue.
    CREATE UNIQUE INDEX webhook_deliveries_job_event ON webhook_deliveries (endpoint_id, job_id, event_type) WHERE job_id IS NOT NULL;

    -- The job event is enqueued by the same transaction that gives the job its final status, whichever code path
    -- (runner, cancel, hand-back) wrote it: the event can neither be lost to a crash after the commit nor exist for a
    -- status change that rolled back. One webhook-id per event, shared by every endpoint that receives it.
    CREATE FUNCTION webhook_enqueue_job_event() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      event_type text := 'job.' || NEW.status;
      message_id text := 'msg_' || replace(gen_random_uuid()::text, '-', '');
    BEGIN
      INSERT INTO webhook_deliveries (organization_id, endpoint_id, webhook_id, event_type, job_id, occurred_at, next_attempt_at)
      SELECT e.organization_id, e.id, message_id, event_type, NEW.id, coalesce(NEW.finished_at, now()), now()
      FROM webhook_endpoints e
      WHERE e.organization_id = NEW.organization_id AND e.enabled AND event_type = ANY (e.events)
      ON CONFLICT DO NOTHING;
      RETURN NULL;
    END $$;
    CREATE TRIGGER jobs_webhook_events AFTER UPDATE OF status ON jobs
      FOR EACH ROW
      WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.status IN ('succeeded', 'failed', 'canceled'))
      EXECUTE FUNCTION webhook_enqueue_job_event();
  `.execute(db);
}
