import createClient from 'openapi-fetch';
import type { paths } from './schema';

/** The SPEC 4 envelope of a failed console API call, thrown so that pages show its message. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | undefined,
    readonly details: Record<string, unknown> | undefined,
  ) {
    super(message);
  }
}

let csrfToken = '';
/** SPEC 13.5: every state-changing console request carries the session's CSRF token (the browser adds Origin). */
export function setCsrfToken(token: string): void {
  csrfToken = token;
}

export type World = 'live' | 'test';
const WORLD_KEY = 'gatehouse.console.world';
let world: World = window.sessionStorage.getItem(WORLD_KEY) === 'test' ? 'test' : 'live';
/** The world the partner pages show (SPEC 12, 14): the Test mode switch, kept for this browser tab. */
export const currentWorld = (): World => world;
export function setWorld(next: World): void {
  world = next;
  window.sessionStorage.setItem(WORLD_KEY, next);
}

/** Typed by the console API's own OpenAPI document (src/api/schema.d.ts, generated; see scripts/). */
export const api = createClient<paths>({ baseUrl: window.location.origin, credentials: 'same-origin' });
api.use({
  onRequest({ request }) {
    if (request.method !== 'GET' && request.method !== 'HEAD' && csrfToken) request.headers.set('X-CSRF-Token', csrfToken);
    if (world === 'test') request.headers.set('X-Console-World', 'test');
    return request;
  },
});

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The answer's data, or an ApiFailure carrying the envelope. */
export async function must<T>(call: Promise<Answer<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) {
    const envelope = (error as { error?: { code?: string; message?: string; requestId?: string; details?: Record<string, unknown> } } | undefined)?.error;
    throw new ApiFailure(response.status, envelope?.code ?? 'INTERNAL', envelope?.message ?? `The server answered ${response.status}.`, envelope?.requestId, envelope?.details);
  }
  return data as T;
}

export type Schema<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends { responses: infer R }
  ? R extends { 200: { content: { 'application/json': infer B } } }
    ? B
    : R extends { 201: { content: { 'application/json': infer B } } }
      ? B
      : never
  : never;

export type Session = Schema<'/console/api/session', 'get'>;
export type ApiKey = Schema<'/console/api/org/keys', 'get'>['data'][number];
export type Organization = Schema<'/console/api/ops/organizations/{id}', 'get'>;
export type IssuedLink = Schema<'/console/api/org/team/invitations', 'post'>;
export type UsageRow = Schema<'/console/api/org/usage', 'get'>['data'][number];
export type RequestRow = Schema<'/console/api/org/requests', 'get'>['data'][number];
export type AuditEntry = Schema<'/console/api/org/audit', 'get'>['data'][number];
export type Person = Schema<'/console/api/org/team', 'get'>['members'][number];
