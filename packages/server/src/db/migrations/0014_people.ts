import { sql, type Kysely } from 'kysely';

// SPEC 13: people (partner users and operators), their sessions, one-time links, second factors. No secret is kept
// as it was given: passwords as argon2id hashes, session, link and recovery-code tokens as SHA-256 digests (they are
// 256-bit random, so a fast digest is enough), TOTP secrets sealed (AES-256-GCM) under a key derived outside the store.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE people (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      -- Kept lower-cased: one account per address, whatever case it is typed in.
      email text NOT NULL UNIQUE CHECK (email = lower(email)),
      kind text NOT NULL CHECK (kind IN ('partner', 'operator')),
      organization_id uuid REFERENCES organizations (id),
      role text NOT NULL,
      password_hash text NOT NULL,
      totp_secret_sealed text,
      totp_enabled boolean NOT NULL DEFAULT false,
      -- The last TOTP time step accepted: a code of that step or an earlier one is a replay.
      totp_last_step bigint,
      created_at timestamptz(3) NOT NULL DEFAULT now(),
      updated_at timestamptz(3) NOT NULL DEFAULT now(),
      CHECK ((kind = 'partner' AND organization_id IS NOT NULL AND role IN ('owner', 'developer', 'viewer'))
          OR (kind = 'operator' AND organization_id IS NULL AND role IN ('operator', 'support')))
    );
    CREATE INDEX people_organization ON people (organization_id, created_at);

    CREATE TABLE person_sessions (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      token_digest text NOT NULL UNIQUE,
      person_id uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
      created_at timestamptz(3) NOT NULL,
      last_seen_at timestamptz(3) NOT NULL,
      -- The absolute end (created_at + 7 days); the idle end is last_seen_at + 12 hours.
      expires_at timestamptz(3) NOT NULL,
      client_address text,
      user_agent text
    );
    CREATE INDEX person_sessions_person ON person_sessions (person_id, created_at DESC);

    CREATE TABLE person_recovery_codes (
      person_id uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
      code_digest text NOT NULL,
      PRIMARY KEY (person_id, code_digest)
    );

    -- Invitations (a new person) and password resets (an existing one): one-time links, valid 72 hours.
    CREATE TABLE person_links (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      purpose text NOT NULL CHECK (purpose IN ('invitation', 'reset')),
      token_digest text NOT NULL UNIQUE,
      email text NOT NULL,
      kind text NOT NULL CHECK (kind IN ('partner', 'operator')),
      organization_id uuid REFERENCES organizations (id),
      role text NOT NULL,
      person_id uuid REFERENCES people (id) ON DELETE CASCADE,
      created_by text NOT NULL,
      created_at timestamptz(3) NOT NULL,
      expires_at timestamptz(3) NOT NULL,
      used_at timestamptz(3)
    );
    CREATE INDEX person_links_organization ON person_links (organization_id, created_at DESC);

    -- SPEC 13.3: an owner can require a second factor for the whole team.
    ALTER TABLE organizations ADD COLUMN require_second_factor boolean NOT NULL DEFAULT false;
  `.execute(db);
}
