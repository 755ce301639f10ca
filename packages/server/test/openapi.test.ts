import type { RouteOptions } from 'fastify';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES, ERROR_STATUS } from '../src/http/errors.ts';
import { errorCodesFor, operationIdFor } from '../src/http/openapi.ts';
import { startTestApp, type TestApp } from './harness.ts';

type Json = Record<string, unknown>;
interface Operation {
  operationId?: string;
  summary?: string;
  description?: string;
  parameters?: { name: string; in: string; required?: boolean }[];
  responses?: Record<string, { description?: string; content?: { 'application/json'?: { schema?: Json } }; headers?: Json }>;
  'x-gatehouse-endpoint-class'?: string;
  'x-gatehouse-scope'?: string | null;
  'x-gatehouse-hook'?: boolean;
  security?: unknown[];
}
interface Document {
  servers?: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Json>; headers?: Json };
}

const documentedPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
const methodsOf = (route: RouteOptions) => [route.method].flat().filter((method) => method !== 'HEAD');

async function appWithRoutes(extraRoutes?: TestApp['app'] extends infer A ? (app: A) => void : never) {
  const routes: RouteOptions[] = [];
  const t = await startTestApp({ onRoute: (route) => void routes.push(route), extraRoutes });
  const document = (await t.app.inject({ url: '/v1/openapi.json' })).json() as Document;
  return { t, routes, document };
}

/**
 * What the document lacks for the routes the server registered: each /v1 route (the document itself aside) needs an
 * operation with an id, a summary, its class and scope, a success body, and exactly the error statuses its config
 * implies, each answering the one Error schema; and no operation may lack a route. A hook (config.hook, another
 * service's call) is documented alike, marked as a hook and with no security instead of a class and scope.
 */
function documentationGaps(document: Document, routes: RouteOptions[]): string[] {
  const gaps: string[] = [];
  const expected = new Set<string>();
  for (const route of routes) {
    const hook = route.config?.hook === true;
    if (!hook && (!route.url.startsWith('/v1/') || route.config?.public)) continue;
    for (const method of methodsOf(route)) {
      const name = `${method} ${route.url}`;
      expected.add(`${method.toLowerCase()} ${documentedPath(route.url)}`);
      const operation = document.paths[documentedPath(route.url)]?.[method.toLowerCase()];
      if (!operation) {
        gaps.push(`${name}: not in the document`);
        continue;
      }
      if (!operation.operationId || !/^[a-z][A-Za-z0-9]+$/.test(operation.operationId)) gaps.push(`${name}: no operationId`);
      if (!operation.summary) gaps.push(`${name}: no summary (give the route schema.summary)`);
      if (hook) {
        if (operation['x-gatehouse-hook'] !== true || operation.security?.length !== 0) gaps.push(`${name}: not marked as a hook without security`);
      } else {
        if (!operation.description?.includes(`Endpoint class: \`${route.config?.endpointClass}\``)) gaps.push(`${name}: description lacks the endpoint class`);
        if (operation['x-gatehouse-scope'] !== (route.config?.scope ?? null)) gaps.push(`${name}: x-gatehouse-scope differs from the route's scope`);
      }
      const statuses = Object.keys(operation.responses ?? {});
      if (!statuses.some((status) => /^2\d\d$/.test(status))) gaps.push(`${name}: no success response (give the route schema.response[2xx])`);
      const errorStatuses = statuses.filter((status) => !/^2\d\d$/.test(status)).sort();
      const implied = [...new Set(errorCodesFor(route).map((code) => String(ERROR_STATUS[code])))].sort();
      if (errorStatuses.join() !== implied.join()) gaps.push(`${name}: error statuses ${errorStatuses.join(',')} instead of ${implied.join(',')}`);
      for (const status of errorStatuses) {
        const schema = operation.responses![status]!.content?.['application/json']?.schema;
        if (schema?.$ref !== '#/components/schemas/Error') gaps.push(`${name}: ${status} does not answer the Error schema`);
        if (!operation.responses![status]!.headers?.['X-Request-Id']) gaps.push(`${name}: ${status} lacks X-Request-Id`);
      }
    }
  }
  for (const [path, operations] of Object.entries(document.paths)) {
    for (const method of Object.keys(operations)) {
      if (!expected.has(`${method} ${path}`)) gaps.push(`${method.toUpperCase()} ${path}: documented, but no such route`);
    }
  }
  return gaps;
}

/** Every anyOf whose members are all one-value enums or consts: generators want these as one enum. */
function literalUnions(node: unknown, at = '#'): string[] {
  if (Array.isArray(node)) return node.flatMap((item, index) => literalUnions(item, `${at}/${index}`));
  if (typeof node !== 'object' || node === null) return [];
  const object = node as Json;
  const own =
    Array.isArray(object.anyOf) &&
    (object.anyOf as Json[]).every((member) => member.const !== undefined || (Array.isArray(member.enum) && member.enum.length === 1))
      ? [at]
      : [];
  return [...own, ...Object.entries(object).flatMap(([key, value]) => literalUnions(value, `${at}/${key}`))];
}

let t: TestApp;
let routes: RouteOptions[];
let document: Document;
beforeAll(async () => {
  ({ t, routes, document } = await appWithRoutes());
});
afterAll(async () => t.close());

describe('the OpenAPI document against the registered routes', () => {
  it('documents every /v1 route, with an id, a summary, its class, scope, success body and every error status', () => {
    expect(routes.filter((route) => route.url.startsWith('/v1/')).length).toBeGreaterThan(20);
    expect(documentationGaps(document, routes)).toEqual([]);
    const ids = Object.values(document.paths).flatMap((operations) => Object.values(operations).map((operation) => operation.operationId));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('fails for a route added without a summary or a success response, and for one documented but gone', async () => {
    const extra = await appWithRoutes((app) => {
      app.get('/v1/widgets/:id', { config: { endpointClass: 'read-light', scope: 'projects:read' } }, async () => ({}));
    });
    try {
      const changed = structuredClone(extra.document);
      changed.paths['/v1/gone'] = { get: { operationId: 'getGone' } };
      expect(documentationGaps(changed, extra.routes)).toEqual([
        'GET /v1/widgets/:id: no summary (give the route schema.summary)',
        'GET /v1/widgets/:id: no success response (give the route schema.response[2xx])',
        'GET /v1/gone: documented, but no such route',
      ]);
    } finally {
      await extra.t.close();
    }
  });

  it('names operations the way a client would call them', () => {
    expect(document.paths['/v1/projects']?.get?.operationId).toBe('listProjects');
    expect(document.paths['/v1/projects/{id}']?.patch?.operationId).toBe('updateProject');
    expect(document.paths['/v1/projects/{id}/archive']?.post?.operationId).toBe('archiveProject');
    expect(operationIdFor('POST', '/v1/projects/:id/influencers')).toBe('createProjectInfluencer');
    expect(operationIdFor('GET', '/v1/webhook-endpoints/:id/deliveries')).toBe('listWebhookEndpointDeliveries');
    expect(operationIdFor('POST', '/v1/projects/:id/ingest/appstore')).toBe('ingestAppstore');
  });

  it('has one Error schema with the catalog as an enum, named schemas, servers, headers, optional limit and enums', () => {
    const error = document.components.schemas.Error as { properties: { error: { properties: { code: { enum: string[] } } } } };
    expect(error.properties.error.properties.code.enum).toEqual(ERROR_CODES);
    for (const name of ['Project', 'ApiKey', 'Job', 'WebhookEndpoint', 'WebhookDelivery', 'Whoami']) expect(document.components.schemas[name]).toBeDefined();
    expect(document.servers?.length).toBeGreaterThan(0);
    expect(Object.keys(document.components.headers ?? {})).toEqual(expect.arrayContaining(['X-Request-Id', 'Retry-After', 'X-RateLimit-Limit']));
    const list = document.paths['/v1/projects']!.get!;
    expect(list.parameters?.find((parameter) => parameter.name === 'limit')?.required).toBe(false);
    expect(document.paths['/v1/projects']!.post!.parameters?.some((parameter) => parameter.name === 'Idempotency-Key' && parameter.in === 'header')).toBe(true);
    expect(list.responses?.['429']?.headers?.['Retry-After']).toBeDefined();
    // A store outage can meet any operation, so every one lists 503 with both of its codes (a hook, outside the
    // switches, with the outage's alone).
    for (const [path, item] of Object.entries(document.paths)) {
      for (const operation of Object.values(item!)) {
        const expected = operation['x-gatehouse-hook'] ? /^UNAVAILABLE:/ : /KILL_SWITCH.*UNAVAILABLE|UNAVAILABLE.*KILL_SWITCH/s;
        expect(operation.responses?.['503']?.description, path).toMatch(expected);
      }
    }
    const hook = document.paths['/hooks/github/secret-scanning']!.post!;
    expect(Object.keys(hook.responses ?? {}).sort()).toEqual(['200', '400', '401', '404', '413', '422', '500', '503']);
    expect(hook.responses?.['401']?.headers).not.toHaveProperty('X-RateLimit-Limit');
    expect(literalUnions(document)).toEqual([]);
    const appstore = document.components.schemas.IngestAppstoreRequest as { anyOf: { required: string[] }[] };
    expect(appstore.anyOf.map((branch) => branch.required)).toEqual([['iosBundleId'], ['androidPackageName']]);
  });
});

describe('a client generated from the document', () => {
  it('compiles against the types openapi-typescript writes (and fails to where the types forbid it)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-openapi-'));
    try {
      await writeFile(join(dir, 'api.ts'), astToString(await openapiTS(document as never)));
      // Each @ts-expect-error must meet an error: with thin types (operations = Record<string, never>, code: string)
      // the directive itself is an error, so this fails exactly when the document stops being precise.
      await writeFile(
        join(dir, 'client.ts'),
        `import type { components, operations, paths } from './api';
type Schemas = components['schemas'];
type ErrorCode = Schemas['Error']['error']['code'];
export const code: ErrorCode = 'RATE_LIMITED';
// @ts-expect-error not a code in the catalog
export const unknownCode: ErrorCode = 'TEAPOT';
type CreateProject = operations['createProject']['requestBody']['content']['application/json'];
export const body: CreateProject = { name: 'Acme launch', timezone: 'Europe/Paris' };
type ListQuery = NonNullable<operations['listProjects']['parameters']['query']>;
export const firstPage: ListQuery = {};
type Created = operations['createProject']['responses'][201]['content']['application/json'];
export const archived: Created['status'] = 'archived';
// @ts-expect-error a project status the API does not have
export const deleted: Created['status'] = 'deleted';
type NewKey = paths['/v1/api-keys']['post']['requestBody']['content']['application/json'];
export const key: NewKey = { name: 'ci', scopes: ['projects:read'] };
// @ts-expect-error not a scope
export const badKey: NewKey = { name: 'ci', scopes: ['projects:everything'] };
type Appstore = operations['ingestAppstore']['requestBody']['content']['application/json'];
export const ios: Appstore = { iosBundleId: 'com.example.app' };
// @ts-expect-error one of iosBundleId and androidPackageName at least
export const neither: Appstore = {};
export const idempotent: NonNullable<operations['createProject']['parameters']['header']> = { 'Idempotency-Key': 'k1' };
export type RateLimited = operations['getProject']['responses'][429]['content']['application/json'];

export async function getProject(baseUrl: string, apiKey: string, id: string): Promise<Schemas['Project']> {
  const response = await fetch(\`\${baseUrl}/v1/projects/\${id}\`, { headers: { 'X-Api-Key': apiKey } });
  if (!response.ok) {
    const failure = (await response.json()) as Schemas['Error'];
    throw new Error(\`\${failure.error.code}: \${failure.error.message}\`);
  }
  return (await response.json()) as operations['getProject']['responses'][200]['content']['application/json'];
}
`,
      );
      const program = ts.createProgram([join(dir, 'client.ts')], {
        strict: true,
        noEmit: true,
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.ESNext,
        moduleResolution: ts.ModuleResolutionKind.Bundler,
        lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
        types: [],
        skipLibCheck: true,
      });
      const diagnostics = ts.getPreEmitDiagnostics(program).map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
      expect(diagnostics).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
