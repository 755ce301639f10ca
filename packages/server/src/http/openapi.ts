import type { SwaggerOptions } from '@fastify/swagger';
import type { RouteOptions } from 'fastify';
import type { EndpointClass } from '../config.ts';
import { ERROR_MEANINGS, ERROR_STATUS, type ErrorCode } from './errors.ts';
import type { Scope } from './route-config.ts';
import { ErrorSchema } from './schemas.ts';
import { webhookOperations } from '../webhooks/event-schemas.ts';

/**
 * The /v1 OpenAPI document, made generator-ready in one place rather than in every route: operation ids, the error
 * statuses each operation can answer (derived from its method, parameters, body, scope and idempotency, plus the
 * codes its config names), the standard headers, the endpoint class and scope, named component schemas and enums.
 * Routes declare only what is theirs: a summary (or description), their schemas and success responses.
 */

type JsonObject = Record<string, unknown>;
type RouteLike = Pick<RouteOptions, 'method' | 'url' | 'schema' | 'config'>;

const SCHEMAS = '#/components/schemas/';
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** What the document says about an operation beyond its schemas, kept from `transform` for `transformObject`. */
export interface OperationFacts {
  operationId: string;
  method: string;
  url: string;
  /** Null for a hook (config.hook): another service calls it, without a key, outside the rate limits. */
  endpointClass: EndpointClass | null;
  scope: Scope | null;
  idempotent: boolean;
  codes: ErrorCode[];
}

const methodOf = (route: RouteLike): string => [route.method].flat()[0]!.toUpperCase();
const pascal = (segment: string): string =>
  segment
    .split(/[-_.]/)
    .filter(Boolean)
    .map((word) => word[0]!.toUpperCase() + word.slice(1))
    .join('');
const singular = (word: string): string => (word.endsWith('ies') ? `${word.slice(0, -3)}y` : word.endsWith('s') ? word.slice(0, -1) : word);
const isParam = (segment: string): boolean => segment.startsWith(':') || segment.startsWith('{');
const isPlural = (segment: string): boolean => segment.endsWith('s');

/**
 * A stable operation id from the method and path, the way a REST client would name the call:
 * `GET /v1/projects` listProjects, `GET /v1/projects/:id` getProject, `PATCH …/:id` updateProject,
 * `POST /v1/projects/:id/archive` archiveProject (an action on the resource), `POST /v1/projects/:id/influencers`
 * createProjectInfluencer (a sub-collection), `POST …/ingest/appstore` ingestAppstore (verb, then object).
 * A route may set `schema.operationId` itself when this reads badly.
 */
export function operationIdFor(method: string, url: string): string {
  const segments = url.replace(/^\/v1\//, '').split('/').filter(Boolean);
  const lastParam = segments.map(isParam).lastIndexOf(true);
  const owners = segments.slice(0, Math.max(lastParam, 0)).filter((segment) => !isParam(segment)).map((segment) => pascal(singular(segment)));
  const tail = segments.slice(lastParam + 1);
  const verb = method.toUpperCase();
  if (tail.length === 0) {
    const crud: Record<string, string> = { GET: 'get', PATCH: 'update', PUT: 'replace', DELETE: 'delete', POST: 'post' };
    return `${crud[verb] ?? verb.toLowerCase()}${owners.join('')}`;
  }
  if (tail.length >= 2) return `${tail[0]!.replace(/-./g, (m) => m[1]!.toUpperCase())}${tail.slice(1).map(pascal).join('')}`;
  const last = tail[0]!;
  if (isPlural(last)) {
    const prefix = verb === 'GET' ? 'list' : verb === 'POST' ? 'create' : verb.toLowerCase();
    const noun = verb === 'GET' ? pascal(last) : pascal(singular(last));
    return `${prefix}${owners.join('')}${noun}`;
  }
  if (lastParam < 0) return `${verb === 'GET' ? 'get' : verb.toLowerCase()}${pascal(last)}`;
  return `${last.replace(/-./g, (m) => m[1]!.toUpperCase())}${owners.join('')}`;
}

/** Every catalog code an operation can answer, from what its route declares. */
export function errorCodesFor(route: RouteLike): ErrorCode[] {
  const method = methodOf(route);
  const schema = (route.schema ?? {}) as JsonObject;
  const config = route.config ?? {};
  // Every operation reads the store, so every one can answer UNAVAILABLE while it is unreachable (SPEC 11). A hook
  // passes no key pipeline: it names its own authentication failures in config.errors.
  const codes = new Set<ErrorCode>(
    config.hook ? ['INTERNAL', 'UNAVAILABLE'] : ['UNAUTHENTICATED', 'PAYMENT_REQUIRED', 'BILLING_EXHAUSTED', 'RATE_LIMITED', 'INTERNAL', 'KILL_SWITCH', 'UNAVAILABLE'],
  );
  if (config.scope) codes.add('FORBIDDEN_SCOPE');
  if (route.url.includes(':')) codes.add('NOT_FOUND');
  // A mutating request may carry a body even where the route reads none: it is parsed (400) and bounded (413).
  if (MUTATING.has(method)) codes.add('BAD_REQUEST').add('PAYLOAD_TOO_LARGE');
  if (schema.body || schema.querystring || schema.params) codes.add('VALIDATION_FAILED');
  const query = schema.querystring as { properties?: JsonObject } | undefined;
  if (query?.properties?.cursor) codes.add('BAD_REQUEST');
  if (isIdempotent(route)) codes.add('BAD_REQUEST').add('CONFLICT').add('IDEMPOTENCY_KEY_REUSED');
  for (const code of config.errors ?? []) codes.add(code);
  return [...codes].sort((a, b) => ERROR_STATUS[a] - ERROR_STATUS[b] || a.localeCompare(b));
}

/** Idempotency-Key replay is for partners' keys (SPEC 6): a hook has none. */
const isIdempotent = (route: RouteLike): boolean => methodOf(route) === 'POST' && route.config?.idempotency !== false && !route.config?.hook;
const isDocumented = (url: string, config: RouteLike['config']): boolean => (url.startsWith('/v1/') && !config?.public) || config?.hook === true;

const header = (description: string, schema: JsonObject = { type: 'string' }) => ({ description, schema });
const RATE_LIMIT_HEADERS: Record<string, ReturnType<typeof header>> = {
  'X-RateLimit-Limit': header('Requests per minute for this key and endpoint class (SPEC 5).', { type: 'integer' }),
  'X-RateLimit-Remaining': header('Requests that would pass now.', { type: 'integer' }),
  'X-RateLimit-Reset': header('Seconds until the bucket is full again.', { type: 'integer' }),
  'X-RateLimit-Endpoint-Class': header('The endpoint class this operation counts against.', { type: 'string', enum: ['read-light', 'write-light', 'long-running'] }),
  'X-RateLimit-Tier': header("The organization's rate-limit tier."),
  RateLimit: header('draft-ietf-httpapi-ratelimit-headers: the remaining requests (r) and their window (t).'),
  'RateLimit-Policy': header('draft-ietf-httpapi-ratelimit-headers: the quota (q) per window (w, seconds).'),
};
const HEADERS = {
  'X-Request-Id': header('The request id; an error envelope carries the same value in error.requestId.'),
  'Retry-After': header('Seconds to wait before retrying.', { type: 'integer' }),
  'Idempotent-Replayed': header('"true" when the answer is the stored answer to an earlier request with this Idempotency-Key.', { type: 'string', enum: ['true'] }),
  ...RATE_LIMIT_HEADERS,
};
const headerRef = (name: keyof typeof HEADERS) => ({ $ref: `#/components/headers/${name}` });

const IDEMPOTENCY_KEY_PARAMETER = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'Makes a retry safe (SPEC 6): a repeat with the same key, method and path within 24 hours gets the first answer again, ' +
    'marked Idempotent-Replayed; the same key with a different body answers 422 IDEMPOTENCY_KEY_REUSED.',
  schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' },
  example: '3f1c2d9e-6b7a-4a52-9d1e-0c8f5b2a7e44',
};

/** Rate-limit headers come from the limiter, the last access check: failures before it (401, 402, 403, 503) lack them. */
const BEFORE_LIMITER = new Set([401, 402, 403, 503]);
const RETRY_AFTER = new Set([409, 429, 503]);

function errorResponses(codes: ErrorCode[], rateLimited: boolean): Record<string, JsonObject> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) byStatus.set(ERROR_STATUS[code], [...(byStatus.get(ERROR_STATUS[code]) ?? []), code]);
  const responses: Record<string, JsonObject> = {};
  for (const [status, statusCodes] of byStatus) {
    const headers: JsonObject = { 'X-Request-Id': headerRef('X-Request-Id') };
    if (RETRY_AFTER.has(status)) headers['Retry-After'] = headerRef('Retry-After');
    if (rateLimited && !BEFORE_LIMITER.has(status)) Object.assign(headers, rateLimitHeaderRefs());
    responses[String(status)] = {
      description: statusCodes.map((code) => `${code}: ${ERROR_MEANINGS[code]}`).join(' '),
      headers,
      content: {
        'application/json': {
          schema: { $ref: `${SCHEMAS}Error` },
          examples: Object.fromEntries(
            statusCodes.map((code) => [code, { value: { error: { code, message: ERROR_MEANINGS[code], requestId: 'req_5f2a9c01d3e4000001' } } }]),
          ),
        },
      },
    };
  }
  return responses;
}
const rateLimitHeaderRefs = () => Object.fromEntries(Object.keys(RATE_LIMIT_HEADERS).map((name) => [name, headerRef(name as keyof typeof HEADERS)]));

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/** TypeBox writes a union of literals as anyOf of one-value enums (or consts); generators want one enum. */
function literalValue(member: unknown): { type: unknown; value: unknown } | null {
  if (!isObject(member)) return null;
  const keys = Object.keys(member).filter((key) => key !== 'type');
  if (keys.length !== 1) return null;
  if (keys[0] === 'const') return { type: member.type, value: member.const };
  if (keys[0] === 'enum' && Array.isArray(member.enum) && member.enum.length === 1) return { type: member.type, value: member.enum[0] };
  return null;
}

function enumsFromLiteralUnions(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(enumsFromLiteralUnions);
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) out[key] = enumsFromLiteralUnions(value);
  const union = Array.isArray(out.anyOf) ? out.anyOf : null;
  const literals = union?.map(literalValue);
  if (literals && literals.length > 0 && literals.every((literal) => literal !== null && literal.type === literals[0]!.type)) {
    delete out.anyOf;
    if (literals[0]!.type !== undefined) out.type = literals[0]!.type;
    out.enum = literals.map((literal) => literal!.value);
  }
  if (typeof out.const !== 'undefined' && !('enum' in out)) {
    out.enum = [out.const];
    delete out.const;
  }
  return out;
}

/**
 * "One of these fields at least" is written for the validator as anyOf of bare `required` lists beside the
 * properties; generators read that as `T | unknown`. The document spells each branch out as a whole object.
 */
function spellOutRequiredBranches(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(spellOutRequiredBranches);
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) out[key] = spellOutRequiredBranches(value);
  const branches = Array.isArray(out.anyOf) ? (out.anyOf as unknown[]) : null;
  if (out.type === 'object' && branches?.every((branch) => isObject(branch) && Object.keys(branch).join() === 'required')) {
    // The name and description belong to the union, not to each branch.
    const { anyOf: _branches, title, description, ...base } = out;
    const union: JsonObject = { anyOf: branches.map((branch) => ({ ...base, required: (branch as { required: string[] }).required })) };
    if (title !== undefined) union.title = title;
    if (description !== undefined) union.description = description;
    return union;
  }
  return out;
}

/** Moves every schema with a `title` into components.schemas and refers to it, so each type is named once. */
function hoistTitled(node: unknown, schemas: Record<string, unknown>): unknown {
  if (Array.isArray(node)) return node.map((item) => hoistTitled(item, schemas));
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) out[key] = hoistTitled(value, schemas);
  if (typeof out.title === 'string' && (out.type !== undefined || out.allOf !== undefined || out.anyOf !== undefined)) {
    const name = out.title;
    const existing = schemas[name];
    if (existing !== undefined && JSON.stringify(existing) !== JSON.stringify(out)) {
      throw new Error(`OpenAPI: two different schemas are titled ${name}; give one another title`);
    }
    schemas[name] = out;
    return { $ref: `${SCHEMAS}${name}` };
  }
  return out;
}

/** A request or success body without a title of its own is named after its operation (CreateProjectRequest, ListProjectsResponse). */
function nameBody(content: JsonObject | undefined, name: string, schemas: Record<string, unknown>): void {
  const media = content?.['application/json'];
  if (!isObject(media) || !isObject(media.schema) || media.schema.$ref || typeof media.schema.title === 'string') return;
  if (media.schema.type === 'null') return;
  schemas[name] = media.schema;
  media.schema = { $ref: `${SCHEMAS}${name}` };
}

/** Query parameters with a default are optional to the caller, whatever the handler's type says (limit defaults to 20). */
function optionalDefaults(parameters: unknown): void {
  if (!Array.isArray(parameters)) return;
  for (const parameter of parameters as JsonObject[]) {
    if (isObject(parameter.schema) && parameter.schema.default !== undefined) parameter.required = false;
  }
}

function describe(facts: OperationFacts, summary: unknown, description: unknown): string {
  const lead = typeof description === 'string' ? description : String(summary ?? '');
  if (facts.endpointClass === null) return `${lead}\n\nA hook: no API key, no rate limit.`;
  const scope = facts.scope === null ? 'none (any valid key)' : `\`${facts.scope}\` (a restricted key needs it; a key without scopes has full access)`;
  const lines = [lead, '', `Endpoint class: \`${facts.endpointClass}\` (rate limit per key and class, SPEC 5). Scope: ${scope}.`];
  if (facts.idempotent) lines.push('Send an `Idempotency-Key` header to make retries safe.');
  return lines.join('\n');
}

export interface OpenApiDocumentOptions {
  /** Where a generated client should point by default (the served document also names the server that served it). */
  serverUrls?: string[];
}

/** The @fastify/swagger options: the base document, the per-route transform and the whole-document pass. */
export function openApiOptions(options: OpenApiDocumentOptions = {}): SwaggerOptions {
  const facts = new Map<string, OperationFacts>();
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Gatehouse partner API',
        version: '1.0.0',
        description:
          'Partner API keys, kill switches, plans, scopes, rate limits and idempotent writes in front of projects, ingest jobs and webhooks. ' +
          'Every failure answers the `Error` envelope with a code from its enum; see docs/ in the repository for tiers, scopes, ingest bodies and events.',
      },
      servers: (options.serverUrls ?? ['http://127.0.0.1:8787']).map((url) => ({ url })),
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key', description: 'The partner API key, lp_<env>_<key_id>_<secret>.' },
          bearer: { type: 'http', scheme: 'bearer', description: 'The same key as a Bearer token.' },
        },
      },
      security: [{ apiKey: [] }, { bearer: [] }],
    },
    hideUntagged: false,
    transform: ({ schema, url, route }) => {
      if (!isDocumented(url, route.config)) return { schema: { ...schema, hide: true } as typeof schema, url };
      const own = (schema ?? {}) as JsonObject;
      const method = methodOf(route);
      const operationFacts: OperationFacts = {
        operationId: typeof own.operationId === 'string' ? own.operationId : operationIdFor(method, url),
        method,
        url,
        endpointClass: route.config?.hook ? null : route.config!.endpointClass!,
        scope: route.config!.scope ?? null,
        idempotent: isIdempotent(route),
        codes: errorCodesFor(route),
      };
      facts.set(operationFacts.operationId, operationFacts);
      // Error responses a route declared itself are replaced by the derived ones (each with its codes and headers).
      const response = Object.fromEntries(
        Object.entries((own.response ?? {}) as JsonObject).filter(([status, value]) => /^2\d\d$/.test(status) && value !== ErrorSchema),
      );
      return {
        schema: {
          ...own,
          response,
          operationId: operationFacts.operationId,
          description: describe(operationFacts, own.summary, own.description),
          ...(operationFacts.endpointClass === null
            ? { 'x-gatehouse-hook': true }
            : { 'x-gatehouse-endpoint-class': operationFacts.endpointClass, 'x-gatehouse-scope': operationFacts.scope }),
        } as typeof schema,
        url,
      };
    },
    transformObject: (documentObject) => {
      const openapiObject = (documentObject as { openapiObject: JsonObject }).openapiObject;
      // SPEC 7, 8.6: what the server POSTs to webhook endpoints, as 3.1 describes requests the API makes.
      openapiObject.webhooks = webhookOperations();
      const document = spellOutRequiredBranches(enumsFromLiteralUnions(openapiObject)) as JsonObject;
      const components = (document.components ??= {}) as JsonObject;
      const schemas = (components.schemas ??= {}) as Record<string, unknown>;
      schemas.Error = enumsFromLiteralUnions(ErrorSchema);
      components.headers = HEADERS;
      const seen = new Set<string>();
      for (const path of Object.values((document.paths ?? {}) as Record<string, JsonObject>)) {
        for (const operation of Object.values(path) as JsonObject[]) {
          const operationFacts = facts.get(String(operation.operationId));
          if (!operationFacts) continue;
          if (seen.has(operationFacts.operationId)) throw new Error(`OpenAPI: operationId ${operationFacts.operationId} is used twice; set schema.operationId`);
          seen.add(operationFacts.operationId);
          const name = pascal(operationFacts.operationId);
          const parameters = (operation.parameters ?? []) as JsonObject[];
          optionalDefaults(parameters);
          if (operationFacts.idempotent) parameters.push(IDEMPOTENCY_KEY_PARAMETER);
          if (parameters.length > 0) operation.parameters = parameters;
          const hook = operationFacts.endpointClass === null;
          if (hook) operation.security = [];
          else if (operationFacts.scope !== null) operation.security = [{ apiKey: [operationFacts.scope] }, { bearer: [operationFacts.scope] }];
          const body = operation.requestBody as JsonObject | undefined;
          nameBody(body?.content as JsonObject | undefined, `${name}Request`, schemas);
          const responses = operation.responses as Record<string, JsonObject>;
          for (const [status, success] of Object.entries(responses)) {
            nameBody(success.content as JsonObject | undefined, `${name}Response`, schemas);
            if (success.description === 'Default Response') success.description = status === '204' ? 'Done; no body.' : 'Success.';
            success.headers = {
              'X-Request-Id': headerRef('X-Request-Id'),
              ...(hook ? {} : rateLimitHeaderRefs()),
              ...(operationFacts.idempotent ? { 'Idempotent-Replayed': headerRef('Idempotent-Replayed') } : {}),
            };
          }
          Object.assign(responses, errorResponses(operationFacts.codes, !hook));
        }
      }
      // Titled schemas anywhere (inside bodies, responses, other components) become named components.
      const hoisted: Record<string, unknown> = {};
      document.paths = hoistTitled(document.paths, hoisted);
      for (const [name, schema] of Object.entries(schemas)) {
        const own = isObject(schema) ? { ...schema } : schema;
        if (isObject(own)) delete own.title;
        schemas[name] = hoistTitled(own, hoisted);
      }
      for (const [name, schema] of Object.entries(hoisted)) {
        const own = { ...(schema as JsonObject) };
        delete own.title;
        schemas[name] ??= own;
      }
      components.schemas = Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => a.localeCompare(b)));
      return document;
    },
  };
}
