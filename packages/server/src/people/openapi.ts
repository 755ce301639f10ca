import type { FastifyInstance, RouteOptions } from 'fastify';
import { ErrorSchema } from '../http/schemas.ts';
import { CONSOLE_API } from './console-auth.ts';

interface Operation {
  method: string;
  url: string;
  schema: Record<string, unknown>;
}

/** `/x/:id` → `/x/{id}`, OpenAPI's path template. */
const templated = (url: string) => url.replace(/:([A-Za-z]+)/g, '{$1}');

function parametersOf(schema: Record<string, unknown>) {
  const parameters: unknown[] = [];
  for (const [part, location] of [
    ['params', 'path'],
    ['querystring', 'query'],
  ] as const) {
    const object = schema[part] as { properties?: Record<string, unknown>; required?: string[] } | undefined;
    for (const [name, property] of Object.entries(object?.properties ?? {})) {
      parameters.push({ name, in: location, required: location === 'path' || (object?.required ?? []).includes(name), schema: property });
    }
  }
  return parameters;
}

/**
 * The console API's own OpenAPI 3.1 document (/console/api/openapi.json), built from the schemas that validate its
 * routes, as /v1/openapi.json is for the partner API. Every operation may answer the SPEC 4 envelope.
 */
export function collectConsoleOpenApi(app: FastifyInstance): () => object {
  const operations: Operation[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    if (!route.url.startsWith(`${CONSOLE_API}/`) || route.url === `${CONSOLE_API}/openapi.json`) return;
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') operations.push({ method: method.toLowerCase(), url: route.url, schema: (route.schema ?? {}) as Record<string, unknown> });
    }
  });
  let document: object | undefined;
  return () => {
    if (document) return document;
    const paths: Record<string, Record<string, unknown>> = {};
    for (const { method, url, schema } of operations) {
      const responses: Record<string, unknown> = { default: { description: 'An error: the SPEC 4 envelope', content: { 'application/json': { schema: ErrorSchema } } } };
      for (const [status, response] of Object.entries((schema.response as Record<string, unknown> | undefined) ?? {})) {
        responses[status] = { description: `${status}`, content: { 'application/json': { schema: response } } };
      }
      (paths[templated(url)] ??= {})[method] = {
        ...(schema.summary ? { summary: schema.summary } : {}),
        ...(schema.tags ? { tags: schema.tags } : {}),
        parameters: parametersOf(schema),
        ...(schema.body ? { requestBody: { required: true, content: { 'application/json': { schema: schema.body } } } } : {}),
        responses,
      };
    }
    document = {
      openapi: '3.1.0',
      info: {
        title: 'Gatehouse console API',
        version: '1.0.0',
        description:
          'For the web console: the gh_session cookie (Path=/console) authenticates; every state-changing request carries X-CSRF-Token and an Origin equal to the public URL. API keys and the admin token do not open it.',
      },
      components: { securitySchemes: { session: { type: 'apiKey', in: 'cookie', name: 'gh_session' } } },
      security: [{ session: [] }],
      paths,
    };
    return document;
  };
}
