import { sql, type Kysely } from 'kysely';

// SPEC 8.7: usage counters and the request log. Both are written behind in batches (src/usage), never on the
// request path.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- One row per (organization, granularity, bucket, key, class). Every flush adds the same increments to the minute,
    -- hour and day rows in one statement, so the three granularities always agree and several instances add up
    -- exactly (ON CONFLICT ... SET requests = requests + excluded.requests). The primary key serves the partner
    -- query (organization, granularity, time range); usage_counts_expiry serves retention and the admin query
    -- across organizations.
    CREATE TABLE usage_counts (
      organization_id uuid NOT NULL,
      granularity text NOT NULL CHECK (granularity IN ('minute', 'hour', 'day')),
      bucket timestamptz(0) NOT NULL,
      api_key_id uuid NOT NULL,
      endpoint_class text NOT NULL,
      requests bigint NOT NULL DEFAULT 0,
      status_2xx bigint NOT NULL DEFAULT 0,
      status_4xx bigint NOT NULL DEFAULT 0,
      status_5xx bigint NOT NULL DEFAULT 0,
      rate_limited bigint NOT NULL DEFAULT 0,
      credits_charged bigint NOT NULL DEFAULT 0,
      PRIMARY KEY (organization_id, granularity, bucket, api_key_id, endpoint_class)
    );
    CREATE INDEX usage_counts_expiry ON usage_counts (granularity, bucket);

    -- One row per /v1 answer. No query string, body or header is ever stored: route is the pattern.
    -- organization_id and api_key_id are null for an answer to no key (a 401 for an unknown key, an unknown route).
    CREATE TABLE request_log (
      request_id text PRIMARY KEY,
      occurred_at timestamptz(3) NOT NULL,
      organization_id uuid,
      api_key_id uuid,
      method text NOT NULL,
      route text,
      status smallint NOT NULL,
      error_code text,
      endpoint_class text,
      duration_ms real NOT NULL,
      client_address text
    );
    CREATE INDEX request_log_organization_page ON request_log (organization_id, occurred_at DESC, request_id DESC);
    CREATE INDEX request_log_expiry ON request_log (occurred_at);
  `.execute(db);
}
