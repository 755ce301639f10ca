import { sql, type Kysely } from 'kysely';

// SPEC 6: Idempotency-Key entries. The primary key is the scope, so the database (not process memory) decides
// which of several concurrent requests, on any instance, runs first.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE idempotency_keys (
      api_key_id uuid NOT NULL,
      method text NOT NULL,
      path text NOT NULL,
      idempotency_key text NOT NULL,
      fingerprint text NOT NULL,
      state text NOT NULL CHECK (state IN ('running', 'done')),
      -- The running request's claim: only the owner stores its answer; a lease not renewed (its instance died) can be taken over.
      owner text,
      locked_until timestamptz(3),
      request_id text NOT NULL,
      response_status integer,
      response_content_type text,
      response_body bytea,
      audit_target jsonb,
      created_at timestamptz(3) NOT NULL,
      expires_at timestamptz(3) NOT NULL,
      PRIMARY KEY (api_key_id, method, path, idempotency_key)
    );
    CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
  `.execute(db);
}
