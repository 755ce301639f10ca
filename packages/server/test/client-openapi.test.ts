import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Gatehouse,
  type ApiKey,
  type AuditEntry,
  type EndpointClass,
  type ExplainMethod,
  type ExplainParams,
  type Explanation,
  type PartnerAuditListParams,
  type RequestListParams,
  type RequestLogEntry,
  type UsageParams,
  type CreateApiKeyParams,
  type UpdateApiKeyParams,
  type CreatedApiKey,
  type CreatedWebhookEndpoint,
  type CreateInfluencerParams,
  type CreateProjectParams,
  type CreateWebhookEndpointParams,
  type IngestAccepted,
  type IngestAppstoreParams,
  type IngestGithubParams,
  type IngestWebsiteParams,
  type Influencer,
  type Job,
  type SubscribableEventType,
  type AccessChangedEventData,
  type CreditsLowEventData,
  type KeyEventData,
  type KeyEventKey,
  type KeyEventType,
  type JobKind,
  type JobStatus,
  type KeyEnv,
  type PageParams,
  type Project,
  type ProjectSource,
  type RollApiKeyParams,
  type RolledApiKey,
  type Scope,
  type SourceKind,
  type UpdateProjectParams,
  type WebhookDelivery,
  type WebhookEndpoint,
  type WebhookTestResult,
  type Whoami,
} from '../src/cli/client.ts';
import { openApiOperations, startListeningApp, type JsonSchema, type ListeningApp, type OpenApiDocument, type OpenApiOperation } from './client-support.ts';

/**
 * The client's types, as runtime records of their property names. `satisfies Record<keyof T, true>` makes the
 * compiler hold each record to its type exactly (a missing or an unknown name fails `npm run typecheck`); the test
 * below holds the records to the server's OpenAPI document.
 */
const WHOAMI = {
  organizationId: true,
  workspaceId: true,
  organizationName: true,
  scopes: true,
  rateLimitTier: true,
  killSwitch: true,
  apiAccessRevoked: true,
  apiKeyId: true,
  creditBalance: true,
  env: true,
} satisfies Record<keyof Whoami, true>;
const PROJECT = {
  id: true,
  organizationId: true,
  env: true,
  name: true,
  customerExternalId: true,
  timezone: true,
  primaryLanguage: true,
  status: true,
  createdAt: true,
  updatedAt: true,
} satisfies Record<keyof Project, true>;
const CREATE_PROJECT = { name: true, customerExternalId: true, timezone: true, primaryLanguage: true } satisfies Record<keyof CreateProjectParams, true>;
const UPDATE_PROJECT = { name: true, customerExternalId: true, timezone: true, primaryLanguage: true } satisfies Record<keyof UpdateProjectParams, true>;
const INFLUENCER = { id: true, organizationId: true, env: true, projectId: true, name: true, persona: true, createdAt: true } satisfies Record<keyof Influencer, true>;
const CREATE_INFLUENCER = { name: true, persona: true } satisfies Record<keyof CreateInfluencerParams, true>;
const JOB = {
  id: true,
  env: true,
  projectId: true,
  kind: true,
  status: true,
  createdAt: true,
  startedAt: true,
  finishedAt: true,
  creditsCharged: true,
  result: true,
  error: true,
} satisfies Record<keyof Job, true>;
const INGEST_ACCEPTED = { jobId: true, status: true, kind: true, projectId: true } satisfies Record<keyof IngestAccepted, true>;
const INGEST_APPSTORE = { iosBundleId: true, androidPackageName: true } satisfies Record<keyof IngestAppstoreParams, true>;
const INGEST_WEBSITE = { url: true, maxPages: true } satisfies Record<keyof IngestWebsiteParams, true>;
const INGEST_GITHUB = { repo: true } satisfies Record<keyof IngestGithubParams, true>;
const API_KEY = {
  id: true,
  keyId: true,
  displayPrefix: true,
  organizationId: true,
  name: true,
  env: true,
  scopes: true,
  allowedCidrs: true,
  status: true,
  killSwitch: true,
  expiresAt: true,
  createdAt: true,
  lastUsedAt: true,
  revokedAt: true,
} satisfies Record<keyof ApiKey, true>;
const CREATED_API_KEY = { ...API_KEY, key: true } satisfies Record<keyof CreatedApiKey, true>;
const ROLLED_API_KEY = { ...CREATED_API_KEY, previousKey: true } satisfies Record<keyof RolledApiKey, true>;
const CREATE_API_KEY = { name: true, env: true, scopes: true, expiresAt: true, allowedCidrs: true } satisfies Record<keyof CreateApiKeyParams, true>;
const UPDATE_API_KEY = { name: true, allowedCidrs: true } satisfies Record<keyof UpdateApiKeyParams, true>;
const ROLL_API_KEY = { overlapSeconds: true } satisfies Record<keyof RollApiKeyParams, true>;
const WEBHOOK_ENDPOINT = {
  id: true,
  env: true,
  url: true,
  events: true,
  enabled: true,
  failingSince: true,
  disabledAt: true,
  disabledReason: true,
  createdAt: true,
  updatedAt: true,
} satisfies Record<keyof WebhookEndpoint, true>;
const CREATED_WEBHOOK_ENDPOINT = { ...WEBHOOK_ENDPOINT, secret: true } satisfies Record<keyof CreatedWebhookEndpoint, true>;
const CREATE_WEBHOOK_ENDPOINT = { url: true, events: true } satisfies Record<keyof CreateWebhookEndpointParams, true>;
const WEBHOOK_DELIVERY = {
  id: true,
  env: true,
  endpointId: true,
  webhookId: true,
  eventType: true,
  jobId: true,
  status: true,
  attempts: true,
  lastStatusCode: true,
  lastError: true,
  nextAttemptAt: true,
  lastAttemptAt: true,
  occurredAt: true,
  createdAt: true,
  updatedAt: true,
  completedAt: true,
} satisfies Record<keyof WebhookDelivery, true>;
const WEBHOOK_TEST_RESULT = { delivered: true, statusCode: true, latencyMs: true, error: true, webhookId: true } satisfies Record<keyof WebhookTestResult, true>;
const PROJECT_SOURCE = {
  id: true,
  env: true,
  projectId: true,
  jobId: true,
  kind: true,
  url: true,
  title: true,
  data: true,
  createdAt: true,
  updatedAt: true,
} satisfies Record<keyof ProjectSource, true>;
const PAGE_PARAMS = { limit: true, cursor: true } satisfies Record<keyof PageParams, true>;
const USAGE_PARAMS = { from: true, to: true, granularity: true, apiKeyId: true, endpointClass: true } satisfies Record<keyof UsageParams, true>;
const REQUEST_LOG_ENTRY = {
  requestId: true,
  time: true,
  env: true,
  apiKeyId: true,
  method: true,
  route: true,
  status: true,
  errorCode: true,
  endpointClass: true,
  durationMs: true,
  clientAddress: true,
} satisfies Record<keyof RequestLogEntry, true>;
const REQUEST_LIST_PARAMS = { ...PAGE_PARAMS, apiKeyId: true, status: true, errorCode: true } satisfies Record<keyof RequestListParams, true>;
const AUDIT_ENTRY = {
  id: true,
  occurredAt: true,
  organizationId: true,
  apiKeyId: true,
  env: true,
  actor: true,
  action: true,
  targetType: true,
  targetId: true,
  requestId: true,
  status: true,
  details: true,
  clientAddress: true,
} satisfies Record<keyof AuditEntry, true>;
const PARTNER_AUDIT_PARAMS = { ...PAGE_PARAMS, apiKeyId: true, action: true } satisfies Record<keyof PartnerAuditListParams, true>;
const EXPLANATION = { route: true, endpointClass: true, requiredScope: true, checks: true, wouldAnswer: true } satisfies Record<keyof Explanation, true>;
const EXPLAIN_PARAMS = { method: true, path: true } satisfies Record<keyof ExplainParams, true>;
const ENDPOINT_CLASS = { 'read-light': true, 'write-light': true, 'long-running': true } satisfies Record<EndpointClass, true>;
const EXPLAIN_METHOD = { GET: true, POST: true, PUT: true, PATCH: true, DELETE: true, HEAD: true, OPTIONS: true } satisfies Record<ExplainMethod, true>;

// The values of the client's literal unions, held the same way: a value the server added or dropped fails the test.
const KEY_ENV = { live: true, test: true } satisfies Record<KeyEnv, true>;
const PROJECT_STATUS = { active: true, archived: true } satisfies Record<Project['status'], true>;
const JOB_KIND = { ingest_appstore: true, ingest_website: true, ingest_github: true } satisfies Record<JobKind, true>;
const JOB_STATUS = { queued: true, running: true, succeeded: true, failed: true, canceled: true } satisfies Record<JobStatus, true>;
const ACCEPTED_STATUS = { queued: true } satisfies Record<IngestAccepted['status'], true>;
const SOURCE_KIND = { appstore_ios: true, appstore_android: true, website_page: true, github_repo: true } satisfies Record<SourceKind, true>;
const API_KEY_STATUS = { active: true, revoked: true } satisfies Record<ApiKey['status'], true>;
const SCOPE = {
  'projects:read': true,
  'projects:write': true,
  'ingest:write': true,
  'jobs:read': true,
  'jobs:cancel': true,
  'keys:read': true,
  'keys:write': true,
  'webhooks:read': true,
  'webhooks:write': true,
  'influencers:write': true,
  'audit:read': true,
  'usage:read': true,
} satisfies Record<Scope, true>;
const SUBSCRIBABLE_EVENT_TYPE = {
  'job.succeeded': true,
  'job.failed': true,
  'job.canceled': true,
  'key.created': true,
  'key.revoked': true,
  'key.rolled': true,
  'key.killed': true,
  'key.unkilled': true,
  'key.expiring': true,
  'key.leaked': true,
  'credits.low': true,
  'organization.access_changed': true,
} satisfies Record<SubscribableEventType, true>;
const KEY_EVENT_TYPE = {
  'key.created': true,
  'key.revoked': true,
  'key.rolled': true,
  'key.killed': true,
  'key.unkilled': true,
  'key.expiring': true,
  'key.leaked': true,
} satisfies Record<KeyEventType, true>;
const KEY_EVENT_DATA = { env: true, organizationId: true, apiKey: true, previousKey: true, hoursBefore: true, url: true, source: true } satisfies Record<keyof KeyEventData, true>;
const KEY_EVENT_KEY = {
  id: true,
  keyId: true,
  displayPrefix: true,
  organizationId: true,
  name: true,
  env: true,
  status: true,
  killSwitch: true,
  expiresAt: true,
  createdAt: true,
  revokedAt: true,
} satisfies Record<keyof KeyEventKey, true>;
const CREDITS_LOW_DATA = { env: true, organizationId: true, creditBalance: true, lowCreditThreshold: true } satisfies Record<keyof CreditsLowEventData, true>;
const ACCESS_CHANGED_DATA = { env: true, organizationId: true, apiAccessRevoked: true } satisfies Record<keyof AccessChangedEventData, true>;
const DELIVERY_STATUS = { pending: true, delivered: true, failed: true } satisfies Record<WebhookDelivery['status'], true>;

const JOB_VALUES = { kind: JOB_KIND, status: JOB_STATUS };
const API_KEY_VALUES = { env: KEY_ENV, status: API_KEY_STATUS };

type Literals = Record<string, true>;

interface Expectation {
  /** The client method, as a path from a Gatehouse instance. */
  method: string;
  /** Property names of the success body (of its items, for a page). */
  response?: Record<string, true>;
  body?: Record<string, true>;
  query?: Record<string, true>;
  /** The values a response field (an array's items, for an array) may take, where the document lists them. */
  responseValues?: Record<string, Literals>;
  bodyValues?: Record<string, Literals>;
}

/** Every /v1 operation of SPEC 3 and 8, keyed "METHOD path" with path parameters written {}. */
const OPERATIONS: Record<string, Expectation> = {
  'GET /v1/whoami': { method: 'whoami', response: WHOAMI, responseValues: { env: KEY_ENV } },
  'POST /v1/projects': { method: 'projects.create', response: PROJECT, body: CREATE_PROJECT, responseValues: { status: PROJECT_STATUS } },
  'GET /v1/projects': { method: 'projects.list', response: PROJECT, query: PAGE_PARAMS, responseValues: { status: PROJECT_STATUS } },
  'GET /v1/projects/{}': { method: 'projects.get', response: PROJECT, responseValues: { status: PROJECT_STATUS } },
  'PATCH /v1/projects/{}': { method: 'projects.update', response: PROJECT, body: UPDATE_PROJECT, responseValues: { status: PROJECT_STATUS } },
  'POST /v1/projects/{}/archive': { method: 'projects.archive', response: PROJECT, responseValues: { status: PROJECT_STATUS } },
  'GET /v1/projects/{}/sources': { method: 'projects.sources', response: PROJECT_SOURCE, query: PAGE_PARAMS, responseValues: { kind: SOURCE_KIND } },
  'POST /v1/projects/{}/influencers': { method: 'projects.influencers.create', response: INFLUENCER, body: CREATE_INFLUENCER },
  'POST /v1/projects/{}/ingest/appstore': {
    method: 'projects.ingest.appstore',
    response: INGEST_ACCEPTED,
    body: INGEST_APPSTORE,
    responseValues: { kind: JOB_KIND, status: ACCEPTED_STATUS },
  },
  'POST /v1/projects/{}/ingest/website': {
    method: 'projects.ingest.website',
    response: INGEST_ACCEPTED,
    body: INGEST_WEBSITE,
    responseValues: { kind: JOB_KIND, status: ACCEPTED_STATUS },
  },
  'POST /v1/projects/{}/ingest/github': {
    method: 'projects.ingest.github',
    response: INGEST_ACCEPTED,
    body: INGEST_GITHUB,
    responseValues: { kind: JOB_KIND, status: ACCEPTED_STATUS },
  },
  'GET /v1/jobs/{}': { method: 'jobs.get', response: JOB, responseValues: JOB_VALUES },
  'POST /v1/jobs/{}/cancel': { method: 'jobs.cancel', response: JOB, responseValues: JOB_VALUES },
  'POST /v1/api-keys': {
    method: 'apiKeys.create',
    response: CREATED_API_KEY,
    body: CREATE_API_KEY,
    responseValues: API_KEY_VALUES,
    bodyValues: { env: KEY_ENV, scopes: SCOPE },
  },
  'GET /v1/api-keys': { method: 'apiKeys.list', response: API_KEY, query: PAGE_PARAMS, responseValues: API_KEY_VALUES },
  'PATCH /v1/api-keys/{}': { method: 'apiKeys.update', response: API_KEY, body: UPDATE_API_KEY, responseValues: API_KEY_VALUES },
  'DELETE /v1/api-keys/{}': { method: 'apiKeys.revoke', response: API_KEY, responseValues: API_KEY_VALUES },
  'POST /v1/api-keys/{}/roll': { method: 'apiKeys.roll', response: ROLLED_API_KEY, body: ROLL_API_KEY, responseValues: API_KEY_VALUES },
  'POST /v1/api-keys/{}/kill': { method: 'apiKeys.kill', response: API_KEY, responseValues: API_KEY_VALUES },
  'POST /v1/webhook-endpoints': {
    method: 'webhookEndpoints.create',
    response: CREATED_WEBHOOK_ENDPOINT,
    body: CREATE_WEBHOOK_ENDPOINT,
    bodyValues: { events: SUBSCRIBABLE_EVENT_TYPE },
  },
  'GET /v1/webhook-endpoints': { method: 'webhookEndpoints.list', response: WEBHOOK_ENDPOINT, query: PAGE_PARAMS },
  'GET /v1/webhook-endpoints/{}': { method: 'webhookEndpoints.get', response: WEBHOOK_ENDPOINT },
  // 204: nothing the client returns.
  'DELETE /v1/webhook-endpoints/{}': { method: 'webhookEndpoints.delete' },
  'POST /v1/webhook-endpoints/{}/test': { method: 'webhookEndpoints.test', response: WEBHOOK_TEST_RESULT },
  // A list without pages: the rows are in `data` (their fields are checked against the server in client-usage.test.ts).
  'GET /v1/usage': { method: 'usage.get', response: { data: true }, query: USAGE_PARAMS },
  'GET /v1/requests': { method: 'requests.list', response: REQUEST_LOG_ENTRY, query: REQUEST_LIST_PARAMS, responseValues: { endpointClass: ENDPOINT_CLASS } },
  'GET /v1/requests/{}': { method: 'requests.get', response: REQUEST_LOG_ENTRY, responseValues: { endpointClass: ENDPOINT_CLASS } },
  'GET /v1/audit': { method: 'audit.list', response: AUDIT_ENTRY, query: PARTNER_AUDIT_PARAMS },
  'POST /v1/explain': { method: 'explain', response: EXPLANATION, body: EXPLAIN_PARAMS, bodyValues: { method: EXPLAIN_METHOD } },
  'GET /v1/webhook-endpoints/{}/deliveries': {
    method: 'webhookEndpoints.deliveries',
    response: WEBHOOK_DELIVERY,
    query: PAGE_PARAMS,
    responseValues: { status: DELIVERY_STATUS },
  },
};

function resolve(document: OpenApiDocument, schema: JsonSchema | undefined): JsonSchema | undefined {
  if (!schema?.$ref) return schema;
  const name = schema.$ref.replace('#/components/schemas/', '');
  return resolve(document, document.components?.schemas?.[name]);
}

/** Property names of an object schema, through $ref, allOf (TypeBox Intersect) and anyOf/oneOf (Union). */
function propertiesOf(document: OpenApiDocument, input: JsonSchema | undefined): Set<string> {
  const schema = resolve(document, input);
  const names = new Set<string>(Object.keys(schema?.properties ?? {}));
  for (const part of [...(schema?.allOf ?? []), ...(schema?.anyOf ?? []), ...(schema?.oneOf ?? [])]) {
    for (const name of propertiesOf(document, part)) names.add(name);
  }
  return names;
}

/** The schema of one property of an object schema, found the same ways as propertiesOf finds names. */
function propertySchema(document: OpenApiDocument, input: JsonSchema | undefined, name: string): JsonSchema | undefined {
  const schema = resolve(document, input);
  const own = schema?.properties?.[name];
  if (own) return own;
  for (const part of [...(schema?.allOf ?? []), ...(schema?.anyOf ?? []), ...(schema?.oneOf ?? [])]) {
    const found = propertySchema(document, part, name);
    if (found) return found;
  }
  return undefined;
}

/** The values a schema allows (enum, const, and unions of them, as TypeBox writes literal unions); an array's items'. */
function literalsOf(document: OpenApiDocument, input: JsonSchema | undefined): Set<string> {
  const schema = resolve(document, input);
  if (schema?.items) return literalsOf(document, schema.items);
  const values = new Set<string>([...(schema?.enum ?? []), ...(schema?.const === undefined ? [] : [schema.const])].map(String));
  for (const part of [...(schema?.anyOf ?? []), ...(schema?.oneOf ?? [])]) {
    for (const value of literalsOf(document, part)) values.add(value);
  }
  return values;
}

/** The success body's schema; for a page (`data` + `nextCursor`), its items'. */
function successSchema(document: OpenApiDocument, operation: OpenApiOperation): JsonSchema | null {
  const success = Object.entries(operation.responses ?? {}).find(([status]) => /^2\d\d$/.test(status))?.[1];
  const schema = resolve(document, success?.content?.['application/json']?.schema);
  if (!schema) return null;
  const names = propertiesOf(document, schema);
  if (names.has('data') && names.has('nextCursor')) return resolve(document, schema.properties?.data)?.items ?? null;
  return schema;
}

const methodAt = (client: Gatehouse, path: string): unknown =>
  path.split('.').reduce<unknown>((target, name) => (target as Record<string, unknown> | undefined)?.[name], client);

function uncovered(operations: Map<string, OpenApiOperation>): string[] {
  const client = new Gatehouse({ apiKey: 'not-used' });
  return [...operations.keys()].filter((key) => !OPERATIONS[key] || typeof methodAt(client, OPERATIONS[key].method) !== 'function');
}

function drift(document: OpenApiDocument, operations: Map<string, OpenApiOperation>): string[] {
  const found: string[] = [];
  const compare = (key: string, what: string, documented: Set<string>, record: Record<string, true>) => {
    const declared = Object.keys(record);
    const missing = [...documented].filter((name) => !declared.includes(name));
    const extra = declared.filter((name) => !documented.has(name));
    if (missing.length > 0) found.push(`${key} ${what}: the document has ${missing.join(', ')}, the client type does not`);
    if (extra.length > 0) found.push(`${key} ${what}: the client type has ${extra.join(', ')}, the document does not`);
  };
  // A field missing from the document is reported once, as a name; its values are not compared.
  const compareValues = (key: string, what: string, schema: JsonSchema, values: Record<string, Literals> = {}) => {
    for (const [field, record] of Object.entries(values)) {
      const property = propertySchema(document, schema, field);
      if (property) compare(key, `${what} ${field}`, literalsOf(document, property), record);
    }
  };
  for (const [key, operation] of operations) {
    const expected = OPERATIONS[key];
    if (!expected) continue;
    if (expected.response) {
      const schema = successSchema(document, operation);
      if (schema === null) found.push(`${key}: the document gives no JSON success body`);
      else {
        compare(key, 'response', propertiesOf(document, schema), expected.response);
        compareValues(key, 'response', schema, expected.responseValues);
      }
    }
    const body = operation.requestBody?.content?.['application/json']?.schema;
    if (body) {
      compare(key, 'request body', propertiesOf(document, body), expected.body ?? {});
      compareValues(key, 'request body', body, expected.bodyValues);
    }
    const query = new Set((operation.parameters ?? []).filter((parameter) => parameter.in === 'query').map((parameter) => parameter.name));
    if (query.size > 0) compare(key, 'query', query, expected.query ?? {});
  }
  return found;
}

let t: ListeningApp;
let document: OpenApiDocument;
let operations: Map<string, OpenApiOperation>;
beforeAll(async () => {
  t = await startListeningApp();
  ({ document, operations } = await openApiOperations(t.baseUrl));
});
afterAll(async () => t.close());

describe('the client against the server’s OpenAPI document (/v1/openapi.json)', () => {
  it('has a client method for every operation in the document', () => {
    // Not vacuous: whoami is in every build of the server.
    expect(operations.has('GET /v1/whoami')).toBe(true);
    expect(uncovered(operations), 'operations without a client method (add one, and its entry in OPERATIONS)').toEqual([]);
  });

  it('declares the same response fields, request body fields, query parameters and literal values as the document', () => {
    expect(drift(document, operations)).toEqual([]);
  });

  it('types the lifecycle events as the document’s webhooks describe them (SPEC 7)', () => {
    const webhooks = (document as OpenApiDocument & { webhooks: Record<string, { post: OpenApiOperation }> }).webhooks;
    expect(Object.keys(webhooks).sort()).toEqual([...Object.keys(SUBSCRIBABLE_EVENT_TYPE), 'test.ping'].sort());
    const bodyOf = (type: string) => webhooks[type]!.post.requestBody!.content!['application/json']!.schema!;
    const fields = (schema: JsonSchema | undefined) => [...propertiesOf(document, schema)].sort();
    for (const type of Object.keys(KEY_EVENT_TYPE)) {
      const data = propertySchema(document, bodyOf(type), 'data');
      expect(fields(data), type).toEqual(Object.keys(KEY_EVENT_DATA).sort());
      expect(fields(propertySchema(document, data, 'apiKey')), type).toEqual(Object.keys(KEY_EVENT_KEY).sort());
      expect([...literalsOf(document, propertySchema(document, bodyOf(type), 'type'))].sort()).toEqual(Object.keys(KEY_EVENT_TYPE).sort());
    }
    expect(fields(propertySchema(document, bodyOf('credits.low'), 'data'))).toEqual(Object.keys(CREDITS_LOW_DATA).sort());
    expect(fields(propertySchema(document, bodyOf('organization.access_changed'), 'data'))).toEqual(Object.keys(ACCESS_CHANGED_DATA).sort());
  });

  it('notices drift: a field the client lacks, a field the server lacks, a value either lacks, an operation without a method', () => {
    const changed = structuredClone(document);
    const whoami = changed.paths['/v1/whoami']!.get!;
    const schema = whoami.responses!['200']!.content!['application/json']!.schema!;
    const properties = (schema.$ref ? changed.components!.schemas![schema.$ref.replace('#/components/schemas/', '')]! : schema).properties!;
    properties.plan = { type: 'string' };
    delete properties.env;
    changed.paths['/v1/widgets/{widgetId}'] = { get: { responses: {} } };
    const changedOperations = new Map([...operations, ['GET /v1/widgets/{}', changed.paths['/v1/widgets/{widgetId}'].get!]]);
    changedOperations.set('GET /v1/whoami', whoami);
    const job = changed.paths['/v1/jobs/{jobId}']!.get!;
    const jobProperties = resolve(changed, job.responses!['200']!.content!['application/json']!.schema)!.properties!;
    jobProperties.kind = { ...jobProperties.kind, enum: [...jobProperties.kind!.enum!, 'ingest_video'] };
    jobProperties.status = { ...jobProperties.status, enum: jobProperties.status!.enum!.filter((value) => value !== 'running') };
    changedOperations.set('GET /v1/jobs/{}', job);

    expect(uncovered(changedOperations)).toEqual(['GET /v1/widgets/{}']);
    expect(drift(changed, changedOperations).sort()).toEqual([
      'GET /v1/jobs/{} response kind: the document has ingest_video, the client type does not',
      'GET /v1/jobs/{} response status: the client type has running, the document does not',
      'GET /v1/whoami response: the client type has env, the document does not',
      'GET /v1/whoami response: the document has plan, the client type does not',
      // One named Job schema answers both job operations, so the change shows in each.
      'POST /v1/jobs/{}/cancel response kind: the document has ingest_video, the client type does not',
      'POST /v1/jobs/{}/cancel response status: the client type has running, the document does not',
    ]);
  });
});
