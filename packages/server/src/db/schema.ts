import type { EndpointClass } from '../config.ts';
import type { PeopleTables } from '../people/schema.ts';
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/** Timestamps are read as Date and may be written as Date or ISO text. */
export type Timestamp = ColumnType<Date, Date | string, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;

export interface PlansTable {
  id: Generated<string>;
  name: string;
  rank: number;
  features: string[];
  created_at: CreatedAt;
}

export interface OrganizationsTable {
  id: Generated<string>;
  name: string;
  plan_id: string | null;
  rate_limit_tier: Generated<string>;
  credit_balance: Generated<number>;
  api_access_revoked: Generated<boolean>;
  /** SPEC 7: credits.low is sent when the balance falls below this; null = never. */
  low_credit_threshold: ColumnType<number | null, number | null | undefined, number | null>;
  /** SPEC 13.3: every partner user of the organization must have a second factor. */
  require_second_factor: Generated<boolean>;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface ApiKeysTable {
  id: Generated<string>;
  key_id: string;
  organization_id: string;
  name: string;
  env: 'live' | 'test';
  scopes: string[];
  secret_hash: string;
  /** HMAC-SHA-256 of the secret under the pepper of the deployment secret `digest_secret_id` (SPEC 2, hot path). */
  secret_digest: Uint8Array | null;
  digest_secret_id: string | null;
  status: Generated<'active' | 'revoked'>;
  kill_switch: Generated<boolean>;
  expires_at: Timestamp | null;
  created_at: CreatedAt;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
  /** Check 5a of SPEC 2: canonical CIDRs the key may be used from; empty = anywhere. */
  allowed_cidrs: ColumnType<string[], string[] | undefined, string[]>;
  /** The shortest key.expiring notice (hours) sent for the current expires_at; 0 = none. */
  expiring_notice: Generated<number>;
  /** SPEC 15: when the key was first reported leaked (GitHub's secret scanning, `gatehouse scan --kill`); null = never. */
  leaked_at: Timestamp | null;
}

/** SPEC 12: the world a key and everything it makes belong to. */
export type Env = 'live' | 'test';
/** Who a partner's resources belong to: an organization's live world or its test world (a key's principal is one). */
export interface Tenant {
  organizationId: string;
  env: Env;
}
/** Rows that carry an env: written explicitly by every insert that knows its key, `live` by default (migration 0020). */
type EnvColumn = ColumnType<Env, Env | undefined, never>;

export interface AuditEntriesTable {
  id: Generated<string>;
  occurred_at: CreatedAt;
  organization_id: string | null;
  api_key_id: string | null;
  /** `key:<apiKeyId>` for partner calls, `admin` for operator calls, `system` for the platform itself. */
  actor: string;
  action: string;
  target_type: string | null;
  target_id: string | null;
  request_id: string | null;
  status: number | null;
  details: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  /** SPEC 13.4: the client address of the request (behind trusted proxies, the real client). */
  client_address: ColumnType<string | null, string | null | undefined, never>;
  /** The env of the key that acted; null for what concerns no env (an operator's change to an organization). */
  env: ColumnType<Env | null, Env | null | undefined, never>;
}

export interface SettingsTable {
  name: string;
  value: ColumnType<unknown, string, string>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface CoreTables {
  plans: PlansTable;
  organizations: OrganizationsTable;
  api_keys: ApiKeysTable;
  audit_entries: AuditEntriesTable;
  settings: SettingsTable;
}

export interface ProjectsTable {
  id: Generated<string>;
  organization_id: string;
  name: string;
  customer_external_id: string | null;
  timezone: Generated<string>;
  primary_language: Generated<string>;
  status: Generated<'active' | 'archived'>;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
  env: EnvColumn;
}

export interface InfluencersTable {
  id: Generated<string>;
  organization_id: string;
  project_id: string;
  name: string;
  persona: string | null;
  created_at: CreatedAt;
  env: EnvColumn;
}

export interface ProjectTables {
  projects: ProjectsTable;
  influencers: InfluencersTable;
}

type Json = ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';

export interface JobsTable {
  id: Generated<string>;
  organization_id: string;
  project_id: string;
  kind: string;
  input: ColumnType<Record<string, unknown>, string, string>;
  status: Generated<JobStatus>;
  cancel_requested: Generated<boolean>;
  credits_charged: Generated<number>;
  /** The key that queued the job: its credits are counted against it (SPEC 8.7). */
  api_key_id: ColumnType<string | null, string | null | undefined, never>;
  attempts: Generated<number>;
  lease_token: string | null;
  leased_by: string | null;
  lease_expires_at: Timestamp | null;
  result: Json;
  error: ColumnType<{ code: string; message: string } | null, string | null | undefined, string | null>;
  created_at: CreatedAt;
  run_after: ColumnType<Date, Date | string | undefined, Date | string>;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
  env: EnvColumn;
}

export interface ProjectSourcesTable {
  id: Generated<string>;
  organization_id: string;
  project_id: string;
  job_id: string;
  kind: string;
  url: string;
  title: string | null;
  data: ColumnType<Record<string, unknown>, string, string>;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
  env: EnvColumn;
}

export interface JobTables {
  jobs: JobsTable;
  project_sources: ProjectSourcesTable;
}

export type WebhookDeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookEndpointsTable {
  id: Generated<string>;
  organization_id: string;
  url: string;
  events: string[];
  /** Plain text only on rows made before sealing, until the next start seals them (SPEC 8.6). */
  secret: string | null;
  /** AES-256-GCM: iv, ciphertext, tag (see webhooks/sealed-secrets.ts). */
  secret_sealed: Uint8Array | null;
  /** The id of the deployment secret it was sealed under (secrets/derive.ts secretIdOf). */
  secret_key_id: string | null;
  enabled: Generated<boolean>;
  failing_since: Timestamp | null;
  disabled_at: Timestamp | null;
  disabled_reason: string | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
  env: EnvColumn;
}

export interface WebhookDeliveriesTable {
  id: Generated<string>;
  organization_id: string;
  endpoint_id: string;
  webhook_id: string;
  event_type: string;
  job_id: string | null;
  occurred_at: Timestamp;
  body: string | null;
  status: Generated<WebhookDeliveryStatus>;
  attempts: Generated<number>;
  next_attempt_at: Timestamp | null;
  lease_token: string | null;
  lease_expires_at: Timestamp | null;
  last_status_code: number | null;
  last_error: ColumnType<{ code: string; message: string } | null, string | null | undefined, string | null>;
  last_attempt_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
  completed_at: Timestamp | null;
  env: EnvColumn;
}

export interface WebhookTables {
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
}

export interface IdempotencyKeysTable {
  api_key_id: string;
  method: string;
  path: string;
  idempotency_key: string;
  /** SHA-256 of the canonical request body. */
  fingerprint: string;
  state: 'running' | 'done';
  owner: string | null;
  locked_until: Timestamp | null;
  /** The request that ran (its answer's X-Request-Id). */
  request_id: string;
  response_status: number | null;
  response_content_type: string | null;
  response_body: ColumnType<Uint8Array | null, Uint8Array | null, Uint8Array | null>;
  audit_target: ColumnType<{ type: string; id: string; organizationId?: string } | null, string | null, string | null>;
  created_at: Timestamp;
  expires_at: Timestamp;
  env: EnvColumn;
}

export interface IdempotencyTables {
  idempotency_keys: IdempotencyKeysTable;
}

export type UsageGranularity = 'minute' | 'hour' | 'day';

export interface UsageCountsTable {
  organization_id: string;
  granularity: UsageGranularity;
  bucket: Timestamp;
  api_key_id: string;
  endpoint_class: EndpointClass;
  /** bigint: read as text by pg, so the repository casts the sums it reads. */
  requests: ColumnType<string | number, number, never>;
  status_2xx: ColumnType<string | number, number, never>;
  status_4xx: ColumnType<string | number, number, never>;
  status_5xx: ColumnType<string | number, number, never>;
  rate_limited: ColumnType<string | number, number, never>;
  credits_charged: ColumnType<string | number, number, never>;
  env: EnvColumn;
}

export interface RequestLogTable {
  request_id: string;
  occurred_at: Timestamp;
  organization_id: string | null;
  api_key_id: string | null;
  method: string;
  route: string | null;
  status: number;
  error_code: string | null;
  endpoint_class: EndpointClass | null;
  duration_ms: number;
  client_address: string | null;
  env: EnvColumn;
}

export interface UsageTables {
  usage_counts: UsageCountsTable;
  request_log: RequestLogTable;
}

/** Every feature adds its tables here as one more interface in the `extends` list. */
export interface Database extends CoreTables, ProjectTables, IdempotencyTables, JobTables, WebhookTables, UsageTables, PeopleTables {}

export type Plan = Selectable<PlansTable>;
export type Organization = Selectable<OrganizationsTable>;
export type NewOrganization = Insertable<OrganizationsTable>;
export type OrganizationUpdate = Updateable<OrganizationsTable>;
export type ApiKeyRow = Selectable<ApiKeysTable>;
export type AuditEntry = Selectable<AuditEntriesTable>;
export type Project = Selectable<ProjectsTable>;
export type Influencer = Selectable<InfluencersTable>;
export type JobRow = Selectable<JobsTable>;
export type ProjectSource = Selectable<ProjectSourcesTable>;
export type WebhookEndpoint = Selectable<WebhookEndpointsTable>;
export type WebhookDelivery = Selectable<WebhookDeliveriesTable>;
export type IdempotencyEntry = Selectable<IdempotencyKeysTable>;
export type RequestLogRow = Selectable<RequestLogTable>;
