import { ClientBase, type Caller } from './caller.ts';
import type { Paginated } from './pagination.ts';
import { path, type ClientOptions, type RequestOptions } from './transport.ts';
import type {
  ApiKey,
  AuditEntry,
  AuditListParams,
  AdminExplainParams,
  AdminRequestLogEntry,
  AdminUsageParams,
  AdminUsageRow,
  Explanation,
  CreateApiKeyParams,
  UpdateApiKeyParams,
  CreatedApiKey,
  CreateOrganizationParams,
  CreatePlanParams,
  IssuedLink,
  KillSwitchState,
  OperatorRole,
  PartnerRole,
  Team,
  Organization,
  Page,
  PageParams,
  Plan,
  CreditTopUp,
  UpdateOrganizationParams,
} from './types.ts';

export interface GatehouseAdminOptions extends ClientOptions {
  /** The operator token (SPEC 10.1); sent as X-Admin-Token. */
  adminToken: string | undefined;
}

class Plans {
  constructor(private readonly c: Caller) {}

  async list(options?: RequestOptions): Promise<Plan[]> {
    return (await this.c.call<{ data: Plan[] }>('GET', '/admin/v1/plans', {}, options)).data;
  }

  /** Creates the plan, or redefines the plan of that name. */
  create(params: CreatePlanParams, options?: RequestOptions): Promise<Plan> {
    return this.c.call('POST', '/admin/v1/plans', { body: params }, options);
  }
}

class Organizations {
  constructor(private readonly c: Caller) {}

  /**
   * Not repeated after a lost answer: the admin API does not promise Idempotency-Key replay (SPEC 6 scopes
   * stored answers by partner key), so a retry could create a second organization.
   */
  create(params: CreateOrganizationParams, options?: RequestOptions): Promise<Organization> {
    return this.c.call('POST', '/admin/v1/organizations', { body: params, retryable: false }, options);
  }

  list(params: PageParams = {}, options?: RequestOptions): Paginated<Organization> {
    return this.c.list('/admin/v1/organizations', { ...params }, options);
  }

  page(params: PageParams = {}, options?: RequestOptions): Promise<Page<Organization>> {
    return this.c.call('GET', '/admin/v1/organizations', { query: { ...params } }, options);
  }

  get(organizationId: string, options?: RequestOptions): Promise<Organization> {
    return this.c.call('GET', path`/admin/v1/organizations/${organizationId}`, {}, options);
  }

  /** Plan, tier, credits, name, and `apiAccessRevoked` both ways. */
  update(organizationId: string, params: UpdateOrganizationParams, options?: RequestOptions): Promise<Organization> {
    return this.c.call('PATCH', path`/admin/v1/organizations/${organizationId}`, { body: params }, options);
  }

  /**
   * Adds `amount` credits to the balance, atomically on the server (concurrent top-ups and charges all count).
   * Not repeated after a lost answer: a repeat would add the credits twice.
   */
  addCredits(organizationId: string, amount: number, options?: RequestOptions): Promise<CreditTopUp> {
    return this.c.call('POST', path`/admin/v1/organizations/${organizationId}/credits`, { body: { amount }, retryable: false }, options);
  }
}

class Keys {
  constructor(private readonly c: Caller) {}

  /** The answer carries the full key in `key`, this once. Not repeated after a lost answer (see organizations.create). */
  issue(organizationId: string, params: CreateApiKeyParams, options?: RequestOptions): Promise<CreatedApiKey> {
    return this.c.call('POST', path`/admin/v1/organizations/${organizationId}/keys`, { body: params, retryable: false }, options);
  }

  list(organizationId: string, params: PageParams = {}, options?: RequestOptions): Paginated<ApiKey> {
    return this.c.list(path`/admin/v1/organizations/${organizationId}/keys`, { ...params }, options);
  }

  page(organizationId: string, params: PageParams = {}, options?: RequestOptions): Promise<Page<ApiKey>> {
    return this.c.call('GET', path`/admin/v1/organizations/${organizationId}/keys`, { query: { ...params } }, options);
  }

  get(apiKeyId: string, options?: RequestOptions): Promise<ApiKey> {
    return this.c.call('GET', path`/admin/v1/keys/${apiKeyId}`, {}, options);
  }

  /** Rename a key, or change the addresses it may be used from (`gatehouse keys allow`). */
  update(apiKeyId: string, params: UpdateApiKeyParams, options?: RequestOptions): Promise<ApiKey> {
    return this.c.call('PATCH', path`/admin/v1/keys/${apiKeyId}`, { body: params }, options);
  }

  kill(apiKeyId: string, options?: RequestOptions): Promise<ApiKey> {
    return this.c.call('POST', path`/admin/v1/keys/${apiKeyId}/kill`, {}, options);
  }

  unkill(apiKeyId: string, options?: RequestOptions): Promise<ApiKey> {
    return this.c.call('POST', path`/admin/v1/keys/${apiKeyId}/unkill`, {}, options);
  }

  revoke(apiKeyId: string, options?: RequestOptions): Promise<ApiKey> {
    return this.c.call('POST', path`/admin/v1/keys/${apiKeyId}/revoke`, {}, options);
  }

  /** A key by its public base32 `key_id` (what a display prefix, a log line or `gatehouse scan` shows). */
  getByKeyId(keyId: string, options?: RequestOptions): Promise<ApiKey> {
    return this.c.call('GET', path`/admin/v1/keys/by-key-id/${keyId}`, {}, options);
  }

  /** Kill by the key's public base32 `key_id` (what `gatehouse scan` finds in files), not its UUID. */
  killByKeyId(keyId: string, options?: RequestOptions): Promise<ApiKey> {
    return this.c.call('POST', path`/admin/v1/keys/by-key-id/${keyId}/kill`, {}, options);
  }
}

class KillSwitch {
  constructor(private readonly c: Caller) {}

  get(options?: RequestOptions): Promise<KillSwitchState> {
    return this.c.call('GET', '/admin/v1/kill-switch', {}, options);
  }

  /** The global kill switch: on, every /v1 call answers 503 KILL_SWITCH, whoami included. */
  set(enabled: boolean, options?: RequestOptions): Promise<KillSwitchState> {
    return this.c.call('PUT', '/admin/v1/kill-switch', { body: { enabled } }, options);
  }
}

class Audit {
  constructor(private readonly c: Caller) {}

  /** Newest first, walked page by page. */
  list(params: AuditListParams = {}, options?: RequestOptions): Paginated<AuditEntry> {
    return this.c.list('/admin/v1/audit', { ...params }, options);
  }

  page(params: AuditListParams = {}, options?: RequestOptions): Promise<Page<AuditEntry>> {
    return this.c.call('GET', '/admin/v1/audit', { query: { ...params } }, options);
  }
}

class AdminUsage {
  constructor(private readonly c: Caller) {}

  /** Per key with `organizationId` or `apiKeyId`; otherwise one row per organization and time. At most 31 days per call. */
  async get(params: AdminUsageParams = {}, options?: RequestOptions): Promise<AdminUsageRow[]> {
    return (await this.c.call<{ data: AdminUsageRow[] }>('GET', '/admin/v1/usage', { query: { ...params } }, options)).data;
  }
}

class AdminRequests {
  constructor(private readonly c: Caller) {}

  /** Any organization's request, by the X-Request-Id a partner quotes to support. */
  get(requestId: string, options?: RequestOptions): Promise<AdminRequestLogEntry> {
    return this.c.call('GET', path`/admin/v1/requests/${requestId}`, {}, options);
  }
}

class Operators {
  constructor(private readonly c: Caller) {}

  /** The operator accounts and pending operator invitations (SPEC 13.2). */
  list(options?: RequestOptions): Promise<Team> {
    return this.c.call('GET', '/admin/v1/operators', {}, options);
  }

  /** Invites an operator: the one-time link is mailed, or in the answer when the server has no SMTP. */
  invite(params: { email: string; role: OperatorRole }, options?: RequestOptions): Promise<IssuedLink> {
    return this.c.call('POST', '/admin/v1/operators', { body: params, retryable: false }, options);
  }
}

class Invitations {
  constructor(private readonly c: Caller) {}

  /** Invites a partner user to an organization (SPEC 13.1: an organization's first owner is invited by an operator). */
  create(organizationId: string, params: { email: string; role: PartnerRole }, options?: RequestOptions): Promise<IssuedLink> {
    return this.c.call('POST', path`/admin/v1/organizations/${organizationId}/invitations`, { body: params, retryable: false }, options);
  }

  /** An organization's partner users and pending invitations. */
  team(organizationId: string, options?: RequestOptions): Promise<Team> {
    return this.c.call('GET', path`/admin/v1/organizations/${organizationId}/people`, {}, options);
  }
}

/** The operator client for /admin/v1 (SPEC 10.1); the `gatehouse` CLI is built on it. */
export class GatehouseAdmin extends ClientBase {
  readonly plans: Plans;
  readonly organizations: Organizations;
  readonly keys: Keys;
  readonly killSwitch: KillSwitch;
  readonly audit: Audit;
  readonly usage: AdminUsage;
  readonly requests: AdminRequests;
  readonly operators: Operators;
  readonly invitations: Invitations;

  constructor(options: GatehouseAdminOptions) {
    if (!options.adminToken) throw new TypeError('GatehouseAdmin: adminToken is required');
    super(options, { 'x-admin-token': options.adminToken });
    this.plans = new Plans(this.caller);
    this.organizations = new Organizations(this.caller);
    this.keys = new Keys(this.caller);
    this.killSwitch = new KillSwitch(this.caller);
    this.audit = new Audit(this.caller);
    this.usage = new AdminUsage(this.caller);
    this.requests = new AdminRequests(this.caller);
    this.operators = new Operators(this.caller);
    this.invitations = new Invitations(this.caller);
  }

  /** SPEC 8.9 for any key: its checks against a route, without running it or using a rate-limit token. */
  explain(params: AdminExplainParams, options?: RequestOptions): Promise<Explanation> {
    return this.caller.call('POST', '/admin/v1/explain', { body: params }, options);
  }
}
