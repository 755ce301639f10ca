import { sql, type Kysely } from 'kysely';

// Issue 20, "who is calling": every schema change of it, in one migration.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- SPEC 13.4 / 10.3: the client address (behind trusted proxies, the real client) of each audited request.
    ALTER TABLE audit_entries ADD COLUMN client_address text;

    -- SPEC 1.2, check 5a of SPEC 2: where a key may be used from (canonical CIDR text; empty = anywhere).
    -- expiring_notice: the shortest key.expiring notice sent for the current expires_at, in hours (24 or 1; 0 none).
    ALTER TABLE api_keys
      ADD COLUMN allowed_cidrs text[] NOT NULL DEFAULT '{}',
      ADD COLUMN expiring_notice smallint NOT NULL DEFAULT 0;
    CREATE INDEX api_keys_expiring ON api_keys (expires_at) WHERE status = 'active' AND expires_at IS NOT NULL;

    -- SPEC 7: credits.low when the balance falls below this (null: never).
    ALTER TABLE organizations ADD COLUMN low_credit_threshold integer CHECK (low_credit_threshold >= 0);

    -- SPEC 8.6: signing secrets sealed (AES-256-GCM) under a key of the deployment secret, which never enters the
    -- store; secret_key_id names the deployment secret they were sealed under. The plain column is emptied by the
    -- server at its next start (webhooks/sealed-secrets.ts): the migration cannot seal, it does not hold the secret.
    ALTER TABLE webhook_endpoints
      ADD COLUMN secret_sealed bytea,
      ADD COLUMN secret_key_id text,
      ALTER COLUMN secret DROP NOT NULL;
    ALTER TABLE webhook_endpoints ADD CONSTRAINT webhook_endpoints_secret_kept CHECK (secret IS NOT NULL OR secret_sealed IS NOT NULL);

    -- SPEC 7 credits.low, once per crossing: enqueued by the transaction that takes the balance below the threshold,
    -- whichever code path (a job's charge, an operator's change) wrote it. Rising above and falling again is a new crossing.
    CREATE FUNCTION webhook_enqueue_credits_low() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      message_id text := 'msg_' || replace(gen_random_uuid()::text, '-', '');
      occurred timestamptz := clock_timestamp();
    BEGIN
      INSERT INTO webhook_deliveries (organization_id, endpoint_id, webhook_id, event_type, occurred_at, body, next_attempt_at)
      SELECT e.organization_id, e.id, message_id, 'credits.low', occurred,
        json_build_object(
          'type', 'credits.low',
          'timestamp', to_char(occurred AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
          'data', json_build_object('organizationId', NEW.id, 'creditBalance', NEW.credit_balance, 'lowCreditThreshold', NEW.low_credit_threshold)
        )::text,
        now()
      FROM webhook_endpoints e
      WHERE e.organization_id = NEW.id AND e.enabled AND 'credits.low' = ANY (e.events);
      RETURN NULL;
    END $$;
    CREATE TRIGGER organizations_credits_low AFTER UPDATE OF credit_balance ON organizations
      FOR EACH ROW
      WHEN (NEW.low_credit_threshold IS NOT NULL AND OLD.credit_balance >= NEW.low_credit_threshold AND NEW.credit_balance < NEW.low_credit_threshold)
      EXECUTE FUNCTION webhook_enqueue_credits_low();
  `.execute(db);
}
