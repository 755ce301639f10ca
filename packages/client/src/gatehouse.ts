import { GatehouseError } from './errors.ts';
import { ClientBase, type Caller } from './caller.ts';
import type { Paginated } from './pagination.ts';
import { path, sleep, type ClientOptions, type RequestOptions } from './transport.ts';
import {
  TERMINAL_JOB_STATUSES,
  type ApiKey,
  type CreateApiKeyParams,
  type UpdateApiKeyParams,
  type CreatedApiKey,
  type CreatedWebhookEndpoint,
  type CreateInfluencerParams,
  type CreateProjectParams,
  type CreateWebhookEndpointParams,
  type AuditEntry,
  type ExplainParams,
  type Explanation,
  type PartnerAuditListParams,
  type RequestListParams,
  type RequestLogEntry,
  type UsageParams,
  type UsageRow,
  type IngestAccepted,
  type IngestAppstoreParams,
  type IngestGithubParams,
  type IngestWebsiteParams,
  type Influencer,
  type Job,
  type Page,
  type PageParams,
  type Project,
  type ProjectSource,
  type RollApiKeyParams,
  type RolledApiKey,
  type UpdateProjectParams,
  type WebhookDelivery,
  type WebhookEndpoint,
  type WebhookTestResult,
  type Whoami,
} from './types.ts';

export interface GatehouseOptions extends ClientOptions {
  /** The partner key, `<prefix>_<env>_<key_id>_<secret>`; sent as X-Api-Key. */
  apiKey: string | undefined;
}

export interface WaitOptions {
  /** Give up (GatehouseError WAIT_TIMEOUT) after this long; default 5 minutes. */
  timeoutMs?: number;
  /** Time between polls; default 1 s. */
  pollIntervalMs?: number;
  signal?: AbortSignal;
}

class ProjectInfluencers {
  constructor(private readonly c: Caller) {}

  /** `POST /v1/projects/:id/influencers` (SPEC 8.4). */
  create(projectId: string, params: CreateInfluencerParams, options?: RequestOptions): Promise<Influencer> {
    return this.c.call('POST', path`/v1/projects/${projectId}/influencers`, { body: params }, options);
  }
}

/** SPEC 8.3: each call starts a long-running job and answers at once with its id. */
class ProjectIngest {
  constructor(private readonly c: Caller) {}

  appstore(projectId: string, params: IngestAppstoreParams, options?: RequestOptions): Promise<IngestAccepted> {
    return this.c.call('POST', path`/v1/projects/${projectId}/ingest/appstore`, { body: params }, options);
  }

  website(projectId: string, params: IngestWebsiteParams, options?: RequestOptions): Promise<IngestAccepted> {
    return this.c.call('POST', path`/v1/projects/${projectId}/ingest/website`, { body: params }, options);
  }

  github(projectId: string, params: IngestGithubParams, options?: RequestOptions): Promise<IngestAccepted> {
    return this.c.call('POST', path`/v1/projects/${projectId}/ingest/github`, { body: params }, options);
  }
}

/** SPEC 8.1. */
class Projects {
  readonly influencers: ProjectInfluencers;
  readonly ingest: ProjectIngest;

  constructor(private readonly c: Caller) {
    this.influencers = new ProjectInfluencers(c);
    this.ingest = new ProjectIngest(c);
  }

  /** 201 with a new project, or 200 with the organization's project that already has this customerExternalId. */
  create(params: CreateProjectParams, options?: RequestOptions): Promise<Project> {
    return this.c.call('POST', '/v1/projects', { body: params }, options);
  }

  get(projectId: string, options?: RequestOptions): Promise<Project> {
    return this.c.call('GET', path`/v1/projects/${projectId}`, {}, options);
  }

  /** Every project, page after page: `for await (const project of gh.projects.list({ limit: 50 }))`. */
  list(params: PageParams = {}, options?: RequestOptions): Paginated<Project> {
    return this.c.list('/v1/projects', { ...params }, options);
  }

  /** One page of projects. */
  page(params: PageParams = {}, options?: RequestOptions): Promise<Page<Project>> {
    return this.c.call('GET', '/v1/projects', { query: { ...params } }, options);
  }

  update(projectId: string, params: UpdateProjectParams, options?: RequestOptions): Promise<Project> {
    return this.c.call('PATCH', path`/v1/projects/${projectId}`, { body: params }, options);
  }

  /** Idempotent; an archived project accepts no new jobs (409 CONFLICT, reason project_archived). */
  archive(projectId: string, options?: RequestOptions): Promise<Project> {
    return this.c.call('POST', path`/v1/projects/${projectId}/archive`, {}, options);
  }

  /** What the project's ingest jobs found, newest first. */
  sources(projectId: string, params: PageParams = {}, options?: RequestOptions): Paginated<ProjectSource> {
    return this.c.list(path`/v1/projects/${projectId}/sources`, { ...params }, options);
  }
}

/** SPEC 8.2. */
class Jobs {
  constructor(private readonly c: Caller) {}

  get(jobId: string, options?: RequestOptions): Promise<Job> {
    return this.c.call('GET', path`/v1/jobs/${jobId}`, {}, options);
  }

  /**
   * A queued job ends `canceled` at once (200); a running one stops at its next safe point (202, then
   * `canceled`); a finished one answers 409 CONFLICT with `details.reason: "already_terminal"`.
   */
  cancel(jobId: string, options?: RequestOptions): Promise<Job> {
    return this.c.call('POST', path`/v1/jobs/${jobId}/cancel`, {}, options);
  }

  /** Polls until the job is succeeded, failed or canceled, and returns it as it ended. */
  async wait(jobId: string, options: WaitOptions = {}): Promise<Job> {
    const timeoutMs = options.timeoutMs ?? 5 * 60_000;
    const interval = options.pollIntervalMs ?? 1000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await this.get(jobId, options.signal ? { signal: options.signal } : undefined);
      if (TERMINAL_JOB_STATUSES.includes(job.status)) return job;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new GatehouseError({
          status: 0,
          code: 'WAIT_TIMEOUT',
          message: `Job ${jobId} was still ${job.status} after ${timeoutMs} ms`,
          details: { jobId, status: job.status },
        });
      }
      await sleep(Math.min(interval, left), options.signal);
    }
  }
}

/** SPEC 8.5: the organization's own keys. */
class ApiKeys {
  constructor(private readonly c: Caller) {}

  /** The answer carries the full key in `key`, this once. */
  create(params: CreateApiKeyParams, options?: RequestOptions): Promise<CreatedApiKey> {
    return this.c.call('POST', '/v1/api-keys', { body: params }, options);
  }

  list(params: PageParams = {}, options?: RequestOptions): Paginated<ApiKey> {
    return this.c.list('/v1/api-keys', { ...params }, options);
  }

  page(params: PageParams = {}, options?: RequestOptions): Promise<Page<ApiKey>> {
    return this.c.call('GET', '/v1/api-keys', { query: { ...params } }, options);
  }

  /** Rename the key, or change the addresses it may be used from (in force on every instance within a second). */
  update(apiKeyId: string, params: UpdateApiKeyParams, options?: RequestOptions): Promise<ApiKey> {
    return this.c.call('PATCH', path`/v1/api-keys/${apiKeyId}`, { body: params }, options);
  }

  /** Immediate and permanent. */
  revoke(apiKeyId: string, options?: RequestOptions): Promise<ApiKey> {
    return this.c.call('DELETE', path`/v1/api-keys/${apiKeyId}`, {}, options);
  }

  /**
   * A new key with the same name, env and scopes (its full key in `key`, this once); the old one, in
   * `previousKey`, expires after the overlap.
   */
  roll(apiKeyId: string, params: RollApiKeyParams = {}, options?: RequestOptions): Promise<RolledApiKey> {
    return this.c.call('POST', path`/v1/api-keys/${apiKeyId}/roll`, { body: params }, options);
  }

  /** The key's kill switch, on: the emergency stop for a leaked key. Only an operator turns it off. */
  kill(apiKeyId: string, options?: RequestOptions): Promise<ApiKey> {
    return this.c.call('POST', path`/v1/api-keys/${apiKeyId}/kill`, {}, options);
  }
}

/** SPEC 8.6. */
class WebhookEndpoints {
  constructor(private readonly c: Caller) {}

  /** The answer carries the signing secret in `secret`, this once. */
  create(params: CreateWebhookEndpointParams, options?: RequestOptions): Promise<CreatedWebhookEndpoint> {
    return this.c.call('POST', '/v1/webhook-endpoints', { body: params }, options);
  }

  list(params: PageParams = {}, options?: RequestOptions): Paginated<WebhookEndpoint> {
    return this.c.list('/v1/webhook-endpoints', { ...params }, options);
  }

  page(params: PageParams = {}, options?: RequestOptions): Promise<Page<WebhookEndpoint>> {
    return this.c.call('GET', '/v1/webhook-endpoints', { query: { ...params } }, options);
  }

  get(endpointId: string, options?: RequestOptions): Promise<WebhookEndpoint> {
    return this.c.call('GET', path`/v1/webhook-endpoints/${endpointId}`, {}, options);
  }

  async delete(endpointId: string, options?: RequestOptions): Promise<void> {
    await this.c.call('DELETE', path`/v1/webhook-endpoints/${endpointId}`, {}, options);
  }

  /** Sends a signed `test.ping` to the endpoint's URL now and reports the outcome; a success re-enables a disabled endpoint. */
  test(endpointId: string, options?: RequestOptions): Promise<WebhookTestResult> {
    return this.c.call('POST', path`/v1/webhook-endpoints/${endpointId}/test`, {}, options);
  }

  /** The endpoint's delivery log, newest first: attempts, status, last answer and next attempt. */
  deliveries(endpointId: string, params: PageParams = {}, options?: RequestOptions): Paginated<WebhookDelivery> {
    return this.c.list(path`/v1/webhook-endpoints/${endpointId}/deliveries`, { ...params }, options);
  }
}

/** SPEC 8.7: the organization's usage. */
class Usage {
  constructor(private readonly c: Caller) {}

  /** Rows per (time, key, endpoint class), oldest first; at most 31 days per call. */
  async get(params: UsageParams = {}, options?: RequestOptions): Promise<UsageRow[]> {
    return (await this.c.call<{ data: UsageRow[] }>('GET', '/v1/usage', { query: { ...params } }, options)).data;
  }
}

/** SPEC 8.7: the organization's request log, kept for GATEHOUSE_REQUEST_LOG_DAYS (7 by default). */
class Requests {
  constructor(private readonly c: Caller) {}

  /** Newest first, walked page by page. */
  list(params: RequestListParams = {}, options?: RequestOptions): Paginated<RequestLogEntry> {
    return this.c.list('/v1/requests', { ...params }, options);
  }

  page(params: RequestListParams = {}, options?: RequestOptions): Promise<Page<RequestLogEntry>> {
    return this.c.call('GET', '/v1/requests', { query: { ...params } }, options);
  }

  /** The request an X-Request-Id (or GatehouseError.requestId) names; 404 for another organization's. */
  get(requestId: string, options?: RequestOptions): Promise<RequestLogEntry> {
    return this.c.call('GET', path`/v1/requests/${requestId}`, {}, options);
  }
}

/** SPEC 8.8: the organization's audit log. */
class PartnerAudit {
  constructor(private readonly c: Caller) {}

  /** Newest first, walked page by page. */
  list(params: PartnerAuditListParams = {}, options?: RequestOptions): Paginated<AuditEntry> {
    return this.c.list('/v1/audit', { ...params }, options);
  }

  page(params: PartnerAuditListParams = {}, options?: RequestOptions): Promise<Page<AuditEntry>> {
    return this.c.call('GET', '/v1/audit', { query: { ...params } }, options);
  }
}

/**
 * The partner client for Gatehouse's /v1 API.
 *
 * ```ts
 * const gh = new Gatehouse({ apiKey: process.env.LAYERS_API_KEY, baseUrl: 'http://127.0.0.1:8787' });
 * await gh.assertKeyHealthy();
 * ```
 */
export class Gatehouse extends ClientBase {
  readonly projects: Projects;
  readonly jobs: Jobs;
  readonly apiKeys: ApiKeys;
  readonly webhookEndpoints: WebhookEndpoints;
  readonly usage: Usage;
  readonly requests: Requests;
  readonly audit: PartnerAudit;

  constructor(options: GatehouseOptions) {
    if (!options.apiKey) throw new TypeError('Gatehouse: apiKey is required (e.g. process.env.LAYERS_API_KEY)');
    super(options, { 'x-api-key': options.apiKey });
    this.projects = new Projects(this.caller);
    this.jobs = new Jobs(this.caller);
    this.apiKeys = new ApiKeys(this.caller);
    this.webhookEndpoints = new WebhookEndpoints(this.caller);
    this.usage = new Usage(this.caller);
    this.requests = new Requests(this.caller);
    this.audit = new PartnerAudit(this.caller);
  }

  /**
   * `POST /v1/explain` (SPEC 8.9): every check of SPEC 2 for this key against a route, and the answer it would
   * give, without running the route or using a rate-limit token.
   */
  explain(params: ExplainParams, options?: RequestOptions): Promise<Explanation> {
    return this.caller.call('POST', '/v1/explain', { body: params }, options);
  }

  /** `GET /v1/whoami` (SPEC 3): the key, its organization, tier, credits and switches. */
  whoami(options?: RequestOptions): Promise<Whoami> {
    return this.caller.call('GET', '/v1/whoami', {}, options);
  }

  /**
   * The boot check: resolves with whoami only when it answers 200 with neither the key's kill switch nor the
   * organization's apiAccessRevoked on. Otherwise throws GatehouseError: the server's error (401, 402, 503
   * KILL_SWITCH for the global switch, ...), or code KILL_SWITCH with `details.scope` "key" or "organization"
   * when whoami reports a switch. Do not retry a kill switch; a human has to clear it.
   */
  async assertKeyHealthy(options?: RequestOptions): Promise<Whoami> {
    const response = await this.caller.transport.send<Whoami>({ method: 'GET', path: '/v1/whoami' }, options);
    const me = response.body;
    if (me.killSwitch || me.apiAccessRevoked) {
      throw new GatehouseError({
        status: response.status,
        code: 'KILL_SWITCH',
        message: `API access blocked: killSwitch=${me.killSwitch} apiAccessRevoked=${me.apiAccessRevoked}`,
        requestId: response.requestId,
        details: { scope: me.killSwitch ? 'key' : 'organization', killSwitch: me.killSwitch, apiAccessRevoked: me.apiAccessRevoked, whoami: me },
      });
    }
    return me;
  }
}
