/**
 * Request and response shapes of the Gatehouse API (SPEC 1.2, 3, 8, 10.1). Timestamps are ISO 8601 strings, ids
 * are UUIDs. A test compares these with the server's OpenAPI document, operation by operation, so they cannot
 * drift apart unnoticed.
 */

export type KeyEnv = 'live' | 'test';

/** SPEC 9. */
export type Scope =
  | 'projects:read'
  | 'projects:write'
  | 'ingest:write'
  | 'jobs:read'
  | 'jobs:cancel'
  | 'keys:read'
  | 'keys:write'
  | 'webhooks:read'
  | 'webhooks:write'
  | 'influencers:write'
  | 'audit:read'
  | 'usage:read';

/** SPEC 8: every list answers one page and an opaque cursor to the next, or null on the last page. */
export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

export interface PageParams {
  /** 1–100, server default 20. */
  limit?: number;
  cursor?: string;
}

/** SPEC 3. */
export interface Whoami {
  organizationId: string;
  workspaceId: string;
  organizationName: string;
  scopes: string[];
  rateLimitTier: string;
  killSwitch: boolean;
  apiAccessRevoked: boolean;
  apiKeyId: string;
  creditBalance: number;
  env: KeyEnv;
}

/** SPEC 8.1. */
export interface Project {
  id: string;
  organizationId: string;
  /** SPEC 12: the env of the key that made it; a key sees only its own env's. */
  env: KeyEnv;
  name: string;
  customerExternalId: string | null;
  timezone: string;
  primaryLanguage: string;
  status: 'active' | 'archived';
  createdAt: string;
  updatedAt: string;
}

export interface CreateProjectParams {
  name: string;
  customerExternalId?: string | null;
  /** IANA zone, default `UTC`. */
  timezone?: string;
  /** BCP-47 tag, default `en`. */
  primaryLanguage?: string;
}

export interface UpdateProjectParams {
  name?: string;
  customerExternalId?: string | null;
  timezone?: string;
  primaryLanguage?: string;
}

export type SourceKind = 'appstore_ios' | 'appstore_android' | 'website_page' | 'github_repo';

/** SPEC 8.3: one thing an ingest job found (a store listing, a page, a repository); `data` depends on `kind`. */
export interface ProjectSource {
  id: string;
  /** SPEC 12: the env of the key that made it; a key sees only its own env's. */
  env: KeyEnv;
  projectId: string;
  jobId: string;
  kind: SourceKind;
  url: string;
  title: string | null;
  data: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

/** SPEC 8.4. */
export interface Influencer {
  id: string;
  organizationId: string;
  /** SPEC 12: the env of the key that made it; a key sees only its own env's. */
  env: KeyEnv;
  projectId: string;
  name: string;
  persona: string | null;
  createdAt: string;
}

export interface CreateInfluencerParams {
  name: string;
  persona?: string | null;
}

export type JobKind = 'ingest_appstore' | 'ingest_website' | 'ingest_github';
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';
export const TERMINAL_JOB_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'canceled'];

/** SPEC 8.2. */
export interface Job {
  id: string;
  /** SPEC 12: the env of the key that made it; a key sees only its own env's. */
  env: KeyEnv;
  projectId: string;
  kind: JobKind;
  status: JobStatus;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  creditsCharged: number;
  /** A summary of what a succeeded job found; the findings themselves are the project's sources. */
  result?: Record<string, unknown>;
  /** Why a failed job failed. */
  error?: { code: string; message: string };
}

/** SPEC 8.3: the answer of every ingest call (202). */
export interface IngestAccepted {
  jobId: string;
  status: 'queued';
  kind: JobKind;
  projectId: string;
}

export interface IngestAppstoreParams {
  iosBundleId?: string;
  androidPackageName?: string;
}

export interface IngestWebsiteParams {
  url: string;
  /** Same-origin pages to read, default 5. */
  maxPages?: number;
}

export interface IngestGithubParams {
  /** `owner/name`. */
  repo: string;
}

/** SPEC 1.2: a key as listed; never its secret. */
export interface ApiKey {
  id: string;
  keyId: string;
  /** `<prefix>_<env>_<key_id>`: safe to log and show. */
  displayPrefix: string;
  organizationId: string;
  name: string;
  env: KeyEnv;
  scopes: string[];
  /** IPv4/IPv6 CIDRs the key may be used from (canonical form); empty = any address. Elsewhere: 403 FORBIDDEN_IP. */
  allowedCidrs: string[];
  status: 'active' | 'revoked';
  killSwitch: boolean;
  expiresAt: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** The response that creates a key is the only one that carries the full key. */
export interface CreatedApiKey extends ApiKey {
  key: string;
}

/** The new key (its full key, this once) and the old one as the roll left it, `expiresAt` set to the overlap's end. */
export interface RolledApiKey extends CreatedApiKey {
  previousKey: ApiKey;
}

export interface CreateApiKeyParams {
  name: string;
  env?: KeyEnv;
  /** Empty or absent: full organization access. */
  scopes?: Scope[];
  expiresAt?: string | null;
  /** IPv4 or IPv6 addresses or CIDRs (at most 32) the key may be used from; absent or empty: any address. */
  allowedCidrs?: string[];
}

/** PATCH a key: at least one of these. `allowedCidrs` replaces the list; `[]` lets the key be used from anywhere. */
export interface UpdateApiKeyParams {
  name?: string;
  allowedCidrs?: string[];
}

export interface RollApiKeyParams {
  /** How long the old key keeps working; default 86400, at most 7 days. */
  overlapSeconds?: number;
}

/** A job's end (SPEC 8.6): the event's `data` is the job as `jobs.get` shows it. */
export type JobEventType = 'job.succeeded' | 'job.failed' | 'job.canceled';
/** A key's lifecycle (SPEC 7): the event's `data` is a KeyEventData. */
export type KeyEventType = 'key.created' | 'key.revoked' | 'key.rolled' | 'key.killed' | 'key.unkilled' | 'key.expiring' | 'key.leaked';
/** The organization's (SPEC 7): `credits.low` (live endpoints only) and `organization.access_changed`. */
export type OrganizationEventType = 'credits.low' | 'organization.access_changed';
/** What an endpoint can subscribe to (SPEC 8.6). */
export type SubscribableEventType = JobEventType | KeyEventType | OrganizationEventType;
/** What a delivery carries: a subscribable event, or the ping of `webhookEndpoints.test`. */
export type WebhookEventType = SubscribableEventType | 'test.ping';

/** A key as lifecycle events show it: ids and the display prefix, never a secret (the listed key without its scopes, addresses and last use). */
export type KeyEventKey = Pick<ApiKey, 'id' | 'keyId' | 'displayPrefix' | 'organizationId' | 'name' | 'env' | 'status' | 'killSwitch' | 'expiresAt' | 'createdAt' | 'revokedAt'>;

/** `data` of a `key.*` event: `verifyWebhook<KeyEventData>(...)`. */
export interface KeyEventData {
  /** The key's env: test-mode events go to test-mode endpoints only (SPEC 12). */
  env: KeyEnv;
  organizationId: string;
  /** The key the event is about; for `key.rolled`, the new key. */
  apiKey: KeyEventKey;
  /** `key.rolled`: the key that was rolled, with the expiry the roll gave it. */
  previousKey?: KeyEventKey;
  /** `key.expiring`: 24 or 1, the notice this is. */
  hoursBefore?: 24 | 1;
  /** `key.leaked`: where the key was found, as the report said. */
  url?: string;
  source?: string;
}

/** `data` of a `credits.low` event (live endpoints only: test mode never touches the wallet). */
export interface CreditsLowEventData {
  env: 'live';
  organizationId: string;
  creditBalance: number;
  lowCreditThreshold: number;
}

/** `data` of an `organization.access_changed` event, sent to the endpoints of both envs, each copy with its own `env`. */
export interface AccessChangedEventData {
  env: KeyEnv;
  organizationId: string;
  apiAccessRevoked: boolean;
}

export interface DeliveryError {
  code: string;
  message: string;
}

/** SPEC 8.6. Never the signing secret. */
export interface WebhookEndpoint {
  id: string;
  /** SPEC 12: the env of the key that made it; a key sees only its own env's. */
  env: KeyEnv;
  url: string;
  events: SubscribableEventType[];
  /** False once the server has given up on the endpoint after failing deliveries; a successful test re-enables it. */
  enabled: boolean;
  /** Start of the current run of failed attempts; null when the last attempt succeeded. */
  failingSince: string | null;
  disabledAt: string | null;
  disabledReason: string | null;
  createdAt: string;
  updatedAt: string;
}

/** Shown once, in the response that creates the endpoint: `whsec_...`, for `verifyWebhook`. */
export interface CreatedWebhookEndpoint extends WebhookEndpoint {
  secret: string;
}

export interface CreateWebhookEndpointParams {
  url: string;
  events: SubscribableEventType[];
}

/** One event's delivery to an endpoint, across its attempts. */
export interface WebhookDelivery {
  id: string;
  /** SPEC 12: the env of the key that made it; a key sees only its own env's. */
  env: KeyEnv;
  endpointId: string;
  /** The `webhook-id` header: the same on every attempt of this delivery. */
  webhookId: string;
  eventType: WebhookEventType;
  /** The job a job event is about; null for a test ping. */
  jobId: string | null;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  /** HTTP status of the last attempt's answer; null when none came. */
  lastStatusCode: number | null;
  lastError: DeliveryError | null;
  /** When a pending delivery is tried next. */
  nextAttemptAt: string | null;
  lastAttemptAt: string | null;
  /** When the event happened (the payload's `timestamp`). */
  occurredAt: string;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
}

/** The outcome of `POST /v1/webhook-endpoints/:id/test`: one signed `test.ping`, sent at once, not retried. */
export interface WebhookTestResult {
  delivered: boolean;
  statusCode: number | null;
  latencyMs: number;
  error: DeliveryError | null;
  /** Find it in `deliveries()`, and in the receiver's `webhook-id` header. */
  webhookId: string;
}

// ── Admin API (SPEC 10.1) ──

export interface Plan {
  id: string;
  name: string;
  rank: number;
  features: string[];
}

export interface CreatePlanParams {
  name: string;
  rank: number;
  /** `api_access` lets the plan's organizations use /v1. */
  features: string[];
}

export interface Organization {
  id: string;
  name: string;
  plan: string | null;
  rateLimitTier: string;
  creditBalance: number;
  apiAccessRevoked: boolean;
  /** credits.low is sent once each time the balance falls below this; null: never. */
  lowCreditThreshold: number | null;
  createdAt: string;
  updatedAt: string;
}

export interface CreateOrganizationParams {
  name: string;
  /** A plan name; null or absent: no plan (every /v1 call answers 402). */
  plan?: string | null;
  rateLimitTier?: string;
  creditBalance?: number;
}

export interface UpdateOrganizationParams {
  name?: string;
  plan?: string | null;
  rateLimitTier?: string;
  creditBalance?: number;
  apiAccessRevoked?: boolean;
  /** null turns credits.low off. */
  lowCreditThreshold?: number | null;
}

export interface KillSwitchState {
  enabled: boolean;
}

export type PartnerRole = 'owner' | 'developer' | 'viewer';
export type OperatorRole = 'operator' | 'support';

/** An invitation or reset link (SPEC 13.3): `link` is the one-time URL, in this answer only, when no mail was sent. */
export interface IssuedLink {
  id: string;
  email: string;
  role: PartnerRole | OperatorRole;
  expiresAt: string;
  link: string | null;
  mailed: boolean;
}

export interface Person {
  id: string;
  email: string;
  kind: 'partner' | 'operator';
  role: PartnerRole | OperatorRole;
  organizationId: string | null;
  secondFactor: boolean;
  createdAt: string;
}

export interface Team {
  members: Person[];
  invitations: { id: string; email: string; role: PartnerRole | OperatorRole; createdAt: string; expiresAt: string }[];
}

export interface AuditEntry {
  id: string;
  occurredAt: string;
  organizationId: string | null;
  apiKeyId: string | null;
  /** The env of the key that acted (SPEC 12); null for what concerns no env. */
  env: KeyEnv | null;
  /** `key:<apiKeyId>` for partner calls, `admin` for operator calls. */
  actor: string;
  action: string;
  targetType: string | null;
  targetId: string | null;
  requestId: string | null;
  status: number | null;
  /** For a change: `changes` (the fields it asked for), and `before` / `after` where the server records them. */
  details: Record<string, unknown> | null;
  /** The address the request came from (behind the deployment's trusted proxies, the real client); null when not from a request. */
  clientAddress: string | null;
}

export interface AuditListParams extends PageParams {
  organizationId?: string;
  apiKeyId?: string;
  action?: string;
  /** Leave out reads (actions ending in `.read` or `.list`). */
  changesOnly?: boolean;
}

/** The answer to a credit top-up: the balance before and after, as the one statement that added them saw it. */
export interface CreditTopUp {
  organizationId: string;
  added: number;
  creditBalanceBefore: number;
  creditBalance: number;
}

export type EndpointClass = 'read-light' | 'write-light' | 'long-running';
export type UsageGranularity = 'minute' | 'hour' | 'day';

/** SPEC 8.7: `from` after `to`, or more than 31 days between them, answers 422 naming the field. */
export interface UsageParams {
  /** ISO 8601; default 24 hours before `to`; rounded down to the granularity. */
  from?: string;
  /** ISO 8601, exclusive; default now. */
  to?: string;
  /** Default `hour`. */
  granularity?: UsageGranularity;
  apiKeyId?: string;
  endpointClass?: EndpointClass;
}

/** What one key answered in one class and one minute, hour or day. */
export interface UsageRow {
  time: string;
  /** SPEC 12: the key's env; a key's usage answers its own env only. */
  env: KeyEnv;
  apiKeyId: string;
  endpointClass: EndpointClass;
  requests: number;
  status2xx: number;
  status4xx: number;
  status5xx: number;
  rateLimited: number;
  creditsCharged: number;
}

export interface AdminUsageParams extends UsageParams {
  organizationId?: string;
}

/** Operators' rows: per key with `organizationId` or `apiKeyId`; otherwise per organization (key and class null). */
export interface AdminUsageRow extends Omit<UsageRow, 'apiKeyId' | 'endpointClass'> {
  organizationId: string;
  apiKeyId: string | null;
  endpointClass: EndpointClass | null;
}

/** One row of the request log: never a query string or a body. */
export interface RequestLogEntry {
  /** The X-Request-Id the request was answered with. */
  requestId: string;
  time: string;
  /** SPEC 12: the key's env (`live` for an answer to no key); a key's log holds its own env only. */
  env: KeyEnv;
  /** Null for an answer to no key (a 401 for an unknown key, a path no route matched). */
  apiKeyId: string | null;
  method: string;
  /** The route pattern (`/v1/projects/:id`), null when no route matched. */
  route: string | null;
  status: number;
  errorCode: string | null;
  endpointClass: EndpointClass | null;
  durationMs: number;
  clientAddress: string | null;
}

export interface AdminRequestLogEntry extends RequestLogEntry {
  organizationId: string | null;
}

export interface RequestListParams extends PageParams {
  apiKeyId?: string;
  status?: number;
  errorCode?: string;
}

export interface PartnerAuditListParams extends PageParams {
  apiKeyId?: string;
  action?: string;
}

export type ExplainMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS';

export interface ExplainParams {
  method: ExplainMethod;
  /** As a request would carry it; a query string is ignored. */
  path: string;
}

export interface AdminExplainParams extends ExplainParams {
  apiKeyId: string;
}

export type ExplainOutcome = 'pass' | 'fail' | 'skipped';

/** SPEC 8.9: the checks of SPEC 2 for a key against a route, and the answer they would give. */
export interface Explanation {
  /** The route pattern the path matched, or null (then `wouldAnswer.status` is 404). */
  route: string | null;
  endpointClass: string | null;
  requiredScope: string | null;
  checks: { check: string; outcome: ExplainOutcome; detail: string }[];
  wouldAnswer: { status: number; code: string | null };
}
