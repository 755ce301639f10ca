import { sql, type Kysely } from 'kysely';

// SPEC 7 lifecycle events: what the schema of 0019 left for them to finish.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- credits.low carries its env like every event (SPEC 12). The wallet is the live world's (test-mode jobs never
    -- touch it), so the event is a live one and goes to live endpoints only (0020's delivery trigger agrees).
    CREATE OR REPLACE FUNCTION webhook_enqueue_credits_low() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      message_id text := 'msg_' || replace(gen_random_uuid()::text, '-', '');
      occurred timestamptz := clock_timestamp();
    BEGIN
      INSERT INTO webhook_deliveries (organization_id, endpoint_id, env, webhook_id, event_type, occurred_at, body, next_attempt_at)
      SELECT e.organization_id, e.id, e.env, message_id, 'credits.low', occurred,
        json_build_object(
          'type', 'credits.low',
          'timestamp', to_char(occurred AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
          'data', json_build_object(
            'env', 'live',
            'organizationId', NEW.id,
            'creditBalance', NEW.credit_balance,
            'lowCreditThreshold', NEW.low_credit_threshold
          )
        )::text,
        now()
      FROM webhook_endpoints e
      WHERE e.organization_id = NEW.id AND e.env = 'live' AND e.enabled AND 'credits.low' = ANY (e.events);
      RETURN NULL;
    END $$;

    -- key.expiring is sent once per notice per expires_at (webhooks/expiring-scan.ts records the notice sent in
    -- expiring_notice): a new expiry, whichever code path sets it (a roll, an operator), starts its notices again.
    CREATE FUNCTION api_keys_expiry_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      NEW.expiring_notice := 0;
      RETURN NEW;
    END $$;
    CREATE TRIGGER api_keys_expiring_notice_reset BEFORE UPDATE OF expires_at ON api_keys
      FOR EACH ROW
      WHEN (OLD.expires_at IS DISTINCT FROM NEW.expires_at)
      EXECUTE FUNCTION api_keys_expiry_changed();
  `.execute(db);
}
