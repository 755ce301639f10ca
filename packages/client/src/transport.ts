import { GatehouseError, type ApiErrorCode } from './errors.ts';

export const DEFAULT_BASE_URL = 'http://127.0.0.1:8787';

export interface ClientOptions {
  /** Where Gatehouse answers; default http://127.0.0.1:8787. A path prefix is kept (`https://host/gatehouse`). */
  baseUrl?: string;
  /** A fetch of your own (instrumentation, a proxy agent); default the global fetch. */
  fetch?: typeof globalThis.fetch;
  /** Retries after the first attempt, for the failures that a retry can fix; default 3. */
  maxRetries?: number;
  /** Time allowed for one attempt, response body included; default 30 s. */
  timeoutMs?: number;
  /** First backoff step; it doubles with each retry and gets random jitter. Default 250 ms. */
  retryBaseDelayMs?: number;
  /** The longest the client waits before a retry; a longer Retry-After is thrown to the caller. Default 60 s. */
  maxRetryDelayMs?: number;
}

/** Per call. */
export interface RequestOptions {
  signal?: AbortSignal;
  /** Overrides the client's timeoutMs for this call's attempts. */
  timeoutMs?: number;
  /**
   * For POSTs: the Idempotency-Key to send (SPEC 6). By default the client makes one per call and reuses it across
   * its own retries; pass your own to make a retry that spans processes safe too.
   */
  idempotencyKey?: string;
}

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
export type QueryValue = string | number | boolean | null | undefined;

export interface HttpRequest {
  method: HttpMethod;
  /** Starts with `/`; path parameters already encoded (see `path`). */
  path: string;
  query?: Record<string, QueryValue> | undefined;
  /** JSON-encoded when present; a POST without one sends no body at all. */
  body?: unknown;
  /**
   * False where a repeated request could act twice even with an Idempotency-Key, because the server does not
   * promise replay for it. Default: GETs and POSTs are retried, other methods are not.
   */
  retryable?: boolean;
}

export interface HttpResponse<T> {
  status: number;
  headers: Headers;
  body: T;
  requestId: string | null;
}

/** Builds a path from a template's literal parts and encoded parameters: path`/v1/projects/${id}`. */
export function path(strings: TemplateStringsArray, ...params: string[]): string {
  return strings.reduce((out, part, index) => out + part + (index < params.length ? encodeURIComponent(params[index]!) : ''), '');
}

interface ResolvedOptions {
  baseUrl: string;
  fetch: typeof globalThis.fetch;
  maxRetries: number;
  timeoutMs: number;
  retryBaseDelayMs: number;
  maxRetryDelayMs: number;
}

function newIdempotencyKey(): string {
  const cryptoApi = globalThis.crypto;
  // randomUUID exists in Node 20 and in browsers on secure origins; getRandomValues everywhere else.
  if (typeof cryptoApi?.randomUUID === 'function') return cryptoApi.randomUUID();
  const bytes = cryptoApi.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Retry-After is whole seconds or an HTTP date (RFC 9110 10.2.3). */
function retryAfterMsOf(headers: Headers, details: Record<string, unknown>): number | null {
  const header = headers.get('retry-after');
  if (header !== null && header.trim() !== '') {
    const seconds = Number(header);
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
    const date = Date.parse(header);
    if (!Number.isNaN(date)) return Math.max(0, date - Date.now());
  }
  return typeof details.retryAfterMs === 'number' ? details.retryAfterMs : null;
}

export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** One attempt's signal: the caller's, plus this attempt's deadline. */
function attemptSignal(timeoutMs: number, caller: AbortSignal | undefined): { signal: AbortSignal; timedOut: () => boolean; done: () => void } {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error(`timed out after ${timeoutMs} ms`));
  }, timeoutMs);
  const onAbort = () => controller.abort(caller?.reason);
  if (caller?.aborted) onAbort();
  else caller?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    done: () => {
      clearTimeout(timer);
      caller?.removeEventListener('abort', onAbort);
    },
  };
}

function errorFromResponse(status: number, headers: Headers, text: string): GatehouseError {
  const headerRequestId = headers.get('x-request-id');
  let envelope: unknown;
  try {
    envelope = JSON.parse(text);
  } catch {
    envelope = undefined;
  }
  const error = (envelope as { error?: { code?: unknown; message?: unknown; requestId?: unknown; details?: unknown } } | undefined)?.error;
  if (error && typeof error.code === 'string') {
    const details = error.details && typeof error.details === 'object' ? (error.details as Record<string, unknown>) : {};
    return new GatehouseError({
      status,
      code: error.code as ApiErrorCode,
      message: typeof error.message === 'string' ? error.message : `HTTP ${status}`,
      requestId: typeof error.requestId === 'string' ? error.requestId : headerRequestId,
      details,
      retryAfterMs: retryAfterMsOf(headers, details),
    });
  }
  return new GatehouseError({
    status,
    code: 'UNEXPECTED_RESPONSE',
    message: `HTTP ${status} without a Gatehouse error body`,
    requestId: headerRequestId,
    retryAfterMs: retryAfterMsOf(headers, {}),
  });
}

/**
 * The HTTP layer both clients share: JSON in and out, the error envelope turned into GatehouseError, and the
 * retry rules of the client. Never retried: 4xx (a retry cannot fix a bad key, a missing plan, a missing scope,
 * a missing resource, a conflict or an invalid body) and 503 KILL_SWITCH, which is a hard stop (SPEC 2). Retried
 * with exponential backoff and jitter: 429 (after Retry-After), network failures, timeouts and other 5xx, for
 * GETs and for POSTs, which always carry an Idempotency-Key that stays the same across the retries of one call.
 */
export class Transport {
  private readonly options: ResolvedOptions;

  constructor(
    options: ClientOptions,
    private readonly authHeaders: Record<string, string>,
  ) {
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function') throw new TypeError('No fetch available: pass options.fetch');
    this.options = {
      baseUrl: (options.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, ''),
      // Called unbound: some fetch implementations (browsers) throw when called as a method of another object.
      fetch: (input, init) => fetchImpl(input, init),
      maxRetries: Math.max(0, options.maxRetries ?? 3),
      timeoutMs: options.timeoutMs ?? 30_000,
      retryBaseDelayMs: options.retryBaseDelayMs ?? 250,
      maxRetryDelayMs: options.maxRetryDelayMs ?? 60_000,
    };
  }

  get baseUrl(): string {
    return this.options.baseUrl;
  }

  async send<T>(request: HttpRequest, options: RequestOptions = {}): Promise<HttpResponse<T>> {
    const url = this.urlOf(request);
    const headers: Record<string, string> = { accept: 'application/json', ...this.authHeaders };
    const hasBody = request.body !== undefined;
    // Fastify answers 400 to an empty body declared as JSON, so a bodyless POST declares no content type.
    if (hasBody) headers['content-type'] = 'application/json';
    if (request.method === 'POST') headers['idempotency-key'] = options.idempotencyKey ?? newIdempotencyKey();
    const retryable = request.retryable ?? (request.method === 'GET' || request.method === 'POST');
    const body = hasBody ? JSON.stringify(request.body) : undefined;

    for (let attempt = 0; ; attempt++) {
      try {
        return await this.attempt<T>(url, { method: request.method, headers, ...(body === undefined ? {} : { body }) }, options);
      } catch (error) {
        if (!(error instanceof GatehouseError)) throw error;
        const delay = retryable && attempt < this.options.maxRetries ? this.retryDelay(error, attempt) : null;
        if (delay === null) throw error;
        await sleep(delay, options.signal);
      }
    }
  }

  /** Milliseconds to wait before the next attempt, or null when this failure is final. */
  private retryDelay(error: GatehouseError, attempt: number): number | null {
    const backoff = () => {
      const step = Math.min(this.options.maxRetryDelayMs, this.options.retryBaseDelayMs * 2 ** attempt);
      return step / 2 + Math.random() * (step / 2);
    };
    let delay: number;
    if (error.code === 'KILL_SWITCH') return null;
    if (error.status === 429) {
      // A little jitter on top, so clients told the same Retry-After do not come back in one burst.
      delay = error.retryAfterMs === null ? backoff() : error.retryAfterMs + Math.random() * this.options.retryBaseDelayMs;
    } else if (error.status === 409 && error.details.reason === 'idempotency_in_progress') {
      // Our own earlier attempt (whose answer was lost) is still running on the server: SPEC 6 says come back
      // after Retry-After for its stored answer. Every other 409 is final.
      delay = error.retryAfterMs ?? 1000;
    } else if (error.code === 'NETWORK_ERROR' || error.code === 'TIMEOUT' || error.status >= 500) {
      delay = backoff();
    } else {
      return null;
    }
    return delay <= this.options.maxRetryDelayMs ? delay : null;
  }

  private async attempt<T>(url: string, init: RequestInit, options: RequestOptions): Promise<HttpResponse<T>> {
    const deadline = attemptSignal(options.timeoutMs ?? this.options.timeoutMs, options.signal);
    let status: number;
    let headers: Headers;
    let text: string;
    try {
      const response = await this.options.fetch(url, { ...init, signal: deadline.signal });
      status = response.status;
      headers = response.headers;
      text = await response.text();
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason ?? error;
      if (deadline.timedOut()) {
        throw new GatehouseError({ status: 0, code: 'TIMEOUT', message: `No answer from ${url} within ${options.timeoutMs ?? this.options.timeoutMs} ms`, cause: error });
      }
      throw new GatehouseError({ status: 0, code: 'NETWORK_ERROR', message: `Could not reach ${url}: ${(error as Error)?.message ?? String(error)}`, cause: error });
    } finally {
      deadline.done();
    }

    if (status < 200 || status >= 300) throw errorFromResponse(status, headers, text);
    let body: unknown;
    if (text !== '') {
      try {
        body = JSON.parse(text);
      } catch (error) {
        throw new GatehouseError({ status, code: 'UNEXPECTED_RESPONSE', message: `HTTP ${status} with a body that is not JSON`, requestId: headers.get('x-request-id'), cause: error });
      }
    }
    return { status, headers, body: body as T, requestId: headers.get('x-request-id') };
  }

  private urlOf(request: HttpRequest): string {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined && value !== null) search.set(name, String(value));
    }
    const query = search.toString();
    return `${this.options.baseUrl}${request.path}${query ? `?${query}` : ''}`;
  }
}
