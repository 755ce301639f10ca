import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Gatehouse,
  type ApiKey,
  type CreateApiKeyParams,
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
  type PageParams,
  type Project,
  type ProjectSource,
  type RollApiKeyParams,
  type UpdateProjectParams,
  type WebhookDelivery,
  type WebhookEndpoint,
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
const INFLUENCER = { id: true, organizationId: true, projectId: true, name: true, persona: true, createdAt: true } satisfies Record<keyof Influencer, true>;
const CREATE_INFLUENCER = { name: true, persona: true } satisfies Record<keyof CreateInfluencerParams, true>;
const JOB = {
  id: true,
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
  status: true,
  killSwitch: true,
  expiresAt: true,
  createdAt: true,
  lastUsedAt: true,
  revokedAt: true,
} satisfies Record<keyof ApiKey, true>;
const CREATED_API_KEY = { ...API_KEY, key: true } satisfies Record<keyof CreatedApiKey, true>;
const CREATE_API_KEY = { name: true, env: true, scopes: true, expiresAt: true } satisfies Record<keyof CreateApiKeyParams, true>;
const ROLL_API_KEY = { overlapSeconds: true } satisfies Record<keyof RollApiKeyParams, true>;
const WEBHOOK_ENDPOINT = { id: true, organizationId: true, url: true, events: true, createdAt: true } satisfies Record<keyof WebhookEndpoint, true>;
const CREATED_WEBHOOK_ENDPOINT = { ...WEBHOOK_ENDPOINT, secret: true } satisfies Record<keyof CreatedWebhookEndpoint, true>;
const CREATE_WEBHOOK_ENDPOINT = { url: true, events: true } satisfies Record<keyof CreateWebhookEndpointParams, true>;
const PAGE_PARAMS = { limit: true, cursor: true } satisfies Record<keyof PageParams, true>;
// Types that admit fields beyond the ones they name (what an ingest found, what a delivery carried): the names
// they declare must be in the document, and the document may have more.
const PROJECT_SOURCE = { id: true, projectId: true, kind: true } satisfies Partial<Record<keyof ProjectSource, true>>;
const WEBHOOK_DELIVERY = {
  id: true,
  endpointId: true,
  event: true,
  status: true,
  attempts: true,
  responseStatus: true,
  createdAt: true,
} satisfies Partial<Record<keyof WebhookDelivery, true>>;

interface Expectation {
  /** The client method, as a path from a Gatehouse instance. */
  method: string;
  /** Property names of the success body (of its items, for a page); `open` when the type admits more. */
  response?: Record<string, true>;
  open?: boolean;
  body?: Record<string, true>;
  query?: Record<string, true>;
}

/** Every /v1 operation of SPEC 3 and 8, keyed "METHOD path" with path parameters written {}. */
const OPERATIONS: Record<string, Expectation> = {
  'GET /v1/whoami': { method: 'whoami', response: WHOAMI },
  'POST /v1/projects': { method: 'projects.create', response: PROJECT, body: CREATE_PROJECT },
  'GET /v1/projects': { method: 'projects.list', response: PROJECT, query: PAGE_PARAMS },
  'GET /v1/projects/{}': { method: 'projects.get', response: PROJECT },
  'PATCH /v1/projects/{}': { method: 'projects.update', response: PROJECT, body: UPDATE_PROJECT },
  'POST /v1/projects/{}/archive': { method: 'projects.archive', response: PROJECT },
  'GET /v1/projects/{}/sources': { method: 'projects.sources', response: PROJECT_SOURCE, open: true, query: PAGE_PARAMS },
  'POST /v1/projects/{}/influencers': { method: 'projects.influencers.create', response: INFLUENCER, body: CREATE_INFLUENCER },
  'POST /v1/projects/{}/ingest/appstore': { method: 'projects.ingest.appstore', response: INGEST_ACCEPTED, body: INGEST_APPSTORE },
  'POST /v1/projects/{}/ingest/website': { method: 'projects.ingest.website', response: INGEST_ACCEPTED, body: INGEST_WEBSITE },
  'POST /v1/projects/{}/ingest/github': { method: 'projects.ingest.github', response: INGEST_ACCEPTED, body: INGEST_GITHUB },
  'GET /v1/jobs/{}': { method: 'jobs.get', response: JOB },
  'POST /v1/jobs/{}/cancel': { method: 'jobs.cancel', response: JOB },
  'POST /v1/api-keys': { method: 'apiKeys.create', response: CREATED_API_KEY, body: CREATE_API_KEY },
  'GET /v1/api-keys': { method: 'apiKeys.list', response: API_KEY, query: PAGE_PARAMS },
  'DELETE /v1/api-keys/{}': { method: 'apiKeys.revoke', response: API_KEY },
  'POST /v1/api-keys/{}/roll': { method: 'apiKeys.roll', response: CREATED_API_KEY, body: ROLL_API_KEY },
  'POST /v1/api-keys/{}/kill': { method: 'apiKeys.kill', response: API_KEY },
  'POST /v1/webhook-endpoints': { method: 'webhookEndpoints.create', response: CREATED_WEBHOOK_ENDPOINT, body: CREATE_WEBHOOK_ENDPOINT },
  'GET /v1/webhook-endpoints': { method: 'webhookEndpoints.list', response: WEBHOOK_ENDPOINT, query: PAGE_PARAMS },
  'GET /v1/webhook-endpoints/{}': { method: 'webhookEndpoints.get', response: WEBHOOK_ENDPOINT },
  // delete answers nothing the client returns; test reports an outcome the client types as open.
  'DELETE /v1/webhook-endpoints/{}': { method: 'webhookEndpoints.delete' },
  'POST /v1/webhook-endpoints/{}/test': { method: 'webhookEndpoints.test' },
  'GET /v1/webhook-endpoints/{}/deliveries': { method: 'webhookEndpoints.deliveries', response: WEBHOOK_DELIVERY, open: true, query: PAGE_PARAMS },
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

/** The success body's properties; for a page (`data` + `nextCursor`), its items'. */
function responseProperties(document: OpenApiDocument, operation: OpenApiOperation): Set<string> | null {
  const success = Object.entries(operation.responses ?? {}).find(([status]) => /^2\d\d$/.test(status))?.[1];
  const schema = resolve(document, success?.content?.['application/json']?.schema);
  if (!schema) return null;
  const names = propertiesOf(document, schema);
  if (names.has('data') && names.has('nextCursor')) return propertiesOf(document, resolve(document, schema.properties?.data)?.items);
  return names;
}

const methodAt = (client: Gatehouse, path: string): unknown =>
  path.split('.').reduce<unknown>((target, name) => (target as Record<string, unknown> | undefined)?.[name], client);

function uncovered(operations: Map<string, OpenApiOperation>): string[] {
  const client = new Gatehouse({ apiKey: 'not-used' });
  return [...operations.keys()].filter((key) => !OPERATIONS[key] || typeof methodAt(client, OPERATIONS[key].method) !== 'function');
}

function drift(document: OpenApiDocument, operations: Map<string, OpenApiOperation>): string[] {
  const found: string[] = [];
  const compare = (key: string, what: string, documented: Set<string>, record: Record<string, true>, open = false) => {
    const declared = Object.keys(record);
    const missing = [...documented].filter((name) => !declared.includes(name));
    const extra = declared.filter((name) => !documented.has(name));
    if (!open && missing.length > 0) found.push(`${key} ${what}: the document has ${missing.join(', ')}, the client type does not`);
    if (extra.length > 0) found.push(`${key} ${what}: the client type has ${extra.join(', ')}, the document does not`);
  };
  for (const [key, operation] of operations) {
    const expected = OPERATIONS[key];
    if (!expected) continue;
    if (expected.response) {
      const documented = responseProperties(document, operation);
      if (documented === null) found.push(`${key}: the document gives no JSON success body`);
      else compare(key, 'response', documented, expected.response, expected.open);
    }
    const body = operation.requestBody?.content?.['application/json']?.schema;
    if (body) compare(key, 'request body', propertiesOf(document, body), expected.body ?? {});
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

  it('declares the same response fields, request body fields and query parameters as the document', () => {
    expect(drift(document, operations)).toEqual([]);
  });

  it('notices drift: a field the client lacks, a field the server lacks, an operation without a method', () => {
    const changed = structuredClone(document);
    const whoami = changed.paths['/v1/whoami']!.get!;
    const schema = whoami.responses!['200']!.content!['application/json']!.schema!;
    const properties = (schema.$ref ? changed.components!.schemas![schema.$ref.replace('#/components/schemas/', '')]! : schema).properties!;
    properties.plan = { type: 'string' };
    delete properties.env;
    changed.paths['/v1/widgets/{widgetId}'] = { get: { responses: {} } };
    const changedOperations = new Map([...operations, ['GET /v1/widgets/{}', changed.paths['/v1/widgets/{widgetId}'].get!]]);
    changedOperations.set('GET /v1/whoami', whoami);

    expect(uncovered(changedOperations)).toEqual(['GET /v1/widgets/{}']);
    expect(drift(changed, changedOperations)).toEqual([
      'GET /v1/whoami response: the document has plan, the client type does not',
      'GET /v1/whoami response: the client type has env, the document does not',
    ]);
  });
});
