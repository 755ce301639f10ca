import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';
import { Gatehouse, GatehouseAdmin, GatehouseError, type ClientOptions } from '../src/cli/client.ts';
import { ADMIN_TOKEN, startTestApp, type TestApp, type TestAppOptions } from './harness.ts';

/** A test app on a real socket at 127.0.0.1, for the client (which speaks HTTP, not inject()). */
export interface ListeningApp extends TestApp {
  baseUrl: string;
}

export async function startListeningApp(options: TestAppOptions = {}): Promise<ListeningApp> {
  const t = await startTestApp(options);
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = t.app.server.address() as AddressInfo;
  return { ...t, baseUrl: `http://127.0.0.1:${port}` };
}

export interface RecordedCall {
  method: string;
  url: string;
  headers: Headers;
}

/** The global fetch, with a record of every attempt the client makes (to count retries). */
export function countingFetch(): { fetch: typeof globalThis.fetch; calls: RecordedCall[] } {
  const calls: RecordedCall[] = [];
  return {
    calls,
    fetch: (input, init) => {
      calls.push({ method: init?.method ?? 'GET', url: String(input), headers: new Headers(init?.headers) });
      return fetch(input, init);
    },
  };
}

/** The GatehouseError a call fails with (and a failed expectation if it does not fail with one). */
export async function rejection(promise: Promise<unknown>): Promise<GatehouseError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(GatehouseError);
  return error as GatehouseError;
}

/** Fast backoff so retry tests take milliseconds, not seconds; Retry-After is still honoured as sent. */
export const fastRetries: ClientOptions = { retryBaseDelayMs: 10 };

export const adminClient = (baseUrl: string, options: ClientOptions = {}) => new GatehouseAdmin({ baseUrl, adminToken: ADMIN_TOKEN, ...fastRetries, ...options });
export const partnerClient = (baseUrl: string, apiKey: string, options: ClientOptions = {}) => new Gatehouse({ baseUrl, apiKey, ...fastRetries, ...options });

/** An organization (default plan partner, 6000 credits) with one live key, made through the admin client. */
export async function partnerWithKey(admin: GatehouseAdmin, fields: Parameters<GatehouseAdmin['organizations']['create']>[0] = { name: 'Acme Growth' }) {
  const organization = await admin.organizations.create({ plan: 'partner', creditBalance: 6000, ...fields });
  const key = await admin.keys.issue(organization.id, { name: 'test key' });
  return { organization, key };
}

/** `METHOD /path/{}`: path parameters named alike, whatever each route calls them. */
export const operationKey = (method: string, path: string) => `${method.toUpperCase()} ${path.replace(/\{[^}]+\}|:[A-Za-z]+/g, '{}')}`;

export interface OpenApiDocument {
  paths: Record<string, Record<string, OpenApiOperation>>;
  components?: { schemas?: Record<string, JsonSchema> };
}
export interface OpenApiOperation {
  /** GitHub's secret scanning calls it, not a partner: the client has no method for it. */
  'x-gatehouse-hook'?: boolean;
  parameters?: { in: string; name: string }[];
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
  responses?: Record<string, { content?: Record<string, { schema?: JsonSchema }> }>;
}
export interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  allOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
}

const HTTP_METHODS = new Set(['get', 'post', 'put', 'patch', 'delete']);

/** The server's /v1 OpenAPI document, and its operations by operationKey (the partners' calls: hooks are left out). */
export async function openApiOperations(baseUrl: string): Promise<{ document: OpenApiDocument; operations: Map<string, OpenApiOperation> }> {
  const response = await fetch(`${baseUrl}/v1/openapi.json`);
  if (!response.ok) throw new Error(`openapi.json: ${response.status}`);
  const document = (await response.json()) as OpenApiDocument;
  const operations = new Map<string, OpenApiOperation>();
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      if (HTTP_METHODS.has(method) && !operation['x-gatehouse-hook']) operations.set(operationKey(method, path), operation);
    }
  }
  return { document, operations };
}

/**
 * A proxy in front of the server that, for the first connection only, forwards the request and then drops the
 * connection as the answer starts to come back: the server did the work, the client never hears of it.
 */
export async function startDroppingProxy(targetPort: number): Promise<{ baseUrl: string; connections: () => number; close(): Promise<void> }> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const drop = ++connections === 1;
    const upstream = connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    if (drop) upstream.once('data', () => client.destroy());
    else upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
