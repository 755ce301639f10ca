import { sql, type Kysely } from 'kysely';

// Timestamps are timestamptz(3): JavaScript dates hold milliseconds, and a cursor built from a Date must compare
// equal to the row it came from.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE plans (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL UNIQUE,
      rank integer NOT NULL,
      features text[] NOT NULL DEFAULT '{}',
      created_at timestamptz(3) NOT NULL DEFAULT now()
    );
    -- SPEC 10.1: the default plans of a new store.
    INSERT INTO plans (name, rank, features) VALUES
      ('free', 0, '{}'), ('starter', 1, '{}'), ('pro', 2, '{api_access}'), ('partner', 3, '{api_access}');

    CREATE TABLE organizations (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL,
      plan_id uuid REFERENCES plans (id),
      rate_limit_tier text NOT NULL DEFAULT 'standard',
      credit_balance integer NOT NULL DEFAULT 0 CHECK (credit_balance >= 0),
      api_access_revoked boolean NOT NULL DEFAULT false,
      created_at timestamptz(3) NOT NULL DEFAULT now(),
      updated_at timestamptz(3) NOT NULL DEFAULT now()
    );

    CREATE TABLE api_keys (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      key_id text NOT NULL UNIQUE,
      organization_id uuid NOT NULL REFERENCES organizations (id),
      name text NOT NULL,
      env text NOT NULL CHECK (env IN ('live', 'test')),
      scopes text[] NOT NULL DEFAULT '{}',
      secret_hash text NOT NULL,
      status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
      kill_switch boolean NOT NULL DEFAULT false,
      expires_at timestamptz(3),
      created_at timestamptz(3) NOT NULL DEFAULT now(),
      last_used_at timestamptz(3),
      revoked_at timestamptz(3)
    );
    CREATE INDEX api_keys_organization ON api_keys (organization_id, created_at);

    CREATE TABLE audit_entries (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      occurred_at timestamptz(3) NOT NULL DEFAULT clock_timestamp(),
      organization_id uuid,
      api_key_id uuid,
      actor text NOT NULL,
      action text NOT NULL,
      target_type text,
      target_id text,
      request_id text,
      status integer,
      details jsonb
    );
    CREATE INDEX audit_entries_time ON audit_entries (occurred_at DESC, id DESC);
    CREATE INDEX audit_entries_organization ON audit_entries (organization_id, occurred_at DESC);
    CREATE INDEX audit_entries_api_key ON audit_entries (api_key_id, occurred_at DESC);

    CREATE TABLE settings (
      name text PRIMARY KEY,
      value jsonb NOT NULL,
      updated_at timestamptz(3) NOT NULL DEFAULT now()
    );
  `.execute(db);
}
