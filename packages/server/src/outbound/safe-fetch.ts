import { promises as dns, type LookupAddress } from 'node:dns';
import http, { type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { Readable, Transform } from 'node:stream';
import zlib from 'node:zlib';
import { isPublicAddress } from './address-policy.ts';
import { OutboundError, toOutboundError } from './errors.ts';
import { SPAN_KIND, tracing } from '../observability/tracing.ts';

export const DEFAULT_TIMEOUT_MS = 15_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_MAX_BYTES = 2 * 1024 * 1024;
/** SPEC 8.3: at most five redirects, whatever a caller asks for. */
export const MAX_REDIRECTS = 5;
const USER_AGENT = 'Gatehouse/1.0 (+https://github.com/gatehouse)';
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Headers that carry the caller's credentials and must not follow a redirect to another origin. */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export interface SafeFetchOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Aborts the call at any point: DNS, connect, headers or body. The connection is closed. */
  signal?: AbortSignal;
  /** Let the call reach private, loopback and link-local addresses (GATEHOUSE_ALLOW_PRIVATE_UPSTREAMS). */
  allowPrivate?: boolean;
  /** Replaces the address rule (tests, or an operator's own allow-list); allowPrivate is ignored when set. */
  isAddressAllowed?: (address: string) => boolean;
  /** Name resolution; the system resolver by default. */
  resolve?: Resolver;
  /** The whole call, redirects and body included. */
  timeoutMs?: number;
  /** Each TCP connection. */
  connectTimeoutMs?: number;
  /** The decoded body; a larger answer fails with UPSTREAM_TOO_LARGE. */
  maxBytes?: number;
  /** Capped at MAX_REDIRECTS. */
  maxRedirects?: number;
}

export interface OutboundResponse {
  /** The URL that answered, after redirects. */
  url: string;
  status: number;
  ok: boolean;
  headers: IncomingHttpHeaders;
  body: Buffer;
  redirects: number;
  text(): string;
  /** The body as JSON; junk fails with UPSTREAM_INVALID_RESPONSE. */
  json(): unknown;
}

/** The error for an answer whose status the caller does not accept. */
export function httpStatusError(response: Pick<OutboundResponse, 'status' | 'url'>): OutboundError {
  return new OutboundError(`UPSTREAM_HTTP_${response.status}`, `The upstream answered HTTP ${response.status}.`);
}

const systemResolver: Resolver = (hostname) => dns.lookup(hostname, { all: true, verbatim: true });

interface AddressGuard {
  allows(address: string): boolean;
  lookup: LookupFunction;
}

/**
 * The address rule is applied inside the socket's own name lookup, so the address that was checked is the address
 * the socket connects to: a name that resolves to a public address once and to an internal one a moment later
 * (DNS rebinding) cannot slip between a check and a connect.
 */
function addressGuard(options: SafeFetchOptions): AddressGuard {
  const allows = options.isAddressAllowed ?? (options.allowPrivate ? () => true : isPublicAddress);
  const resolve = options.resolve ?? systemResolver;
  const lookup: LookupFunction = (hostname, lookupOptions, callback) => {
    resolve(hostname)
      .then((found) => {
        const wanted = lookupOptions.family === 4 || lookupOptions.family === 6 ? found.filter((a) => a.family === lookupOptions.family) : found;
        if (wanted.length === 0 || wanted.some((a) => !allows(a.address))) throw noPublicAddress(hostname);
        if (lookupOptions.all) callback(null, wanted);
        else callback(null, wanted[0]!.address, wanted[0]!.family);
      })
      // A name that does not resolve is told apart from one that resolves to an internal address by nothing: not
      // the code, not the text (issue 13, finding 15), or a partner could map the deployment's internal names.
      .catch((error: NodeJS.ErrnoException) => callback(error instanceof OutboundError ? error : noPublicAddress(hostname, error), '', 0));
  };
  return { allows, lookup };
}

/** One answer for a name that does not resolve and a name that resolves to an address the guard refuses. */
function noPublicAddress(hostname: string, cause?: unknown): OutboundError {
  return new OutboundError('UPSTREAM_UNREACHABLE', `The upstream host ${hostname} has no public address that could be reached.`, { cause });
}

/** An address literal in the URL: the caller wrote the address, so saying it is refused tells nothing new. */
function blockedAddress(host: string): OutboundError {
  return new OutboundError('UPSTREAM_BLOCKED_ADDRESS', `The upstream host ${host} is a private, loopback or otherwise internal address.`);
}

function targetOf(input: string | URL): URL {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new OutboundError('UPSTREAM_INVALID_URL', 'The upstream URL is not valid.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new OutboundError('UPSTREAM_INVALID_URL', 'Only http and https URLs can be fetched.');
  return url;
}

interface Exchange {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  location?: string;
}

interface ExchangeRequest {
  method: string;
  headers: Record<string, string>;
  body: string | Buffer | undefined;
}

function decoderFor(encoding: string | undefined): Transform | null | 'unsupported' {
  switch ((encoding ?? '').trim().toLowerCase()) {
    case '':
    case 'identity':
      return null;
    case 'gzip':
    case 'x-gzip':
      return zlib.createGunzip();
    case 'deflate':
      return zlib.createInflate();
    case 'br':
      return zlib.createBrotliDecompress();
    default:
      return 'unsupported';
  }
}

type Limits = { connectTimeoutMs: number; maxBytes: number };
/** Settles an exchange once: with an error (tearing down what is open) or with the answer. */
type Finish = (error: unknown, value?: Exchange) => void;

/** One request and its answer on a connection of its own (no pool: an abort closes exactly this socket). */
function exchange(url: URL, request: ExchangeRequest, signal: AbortSignal, guard: AddressGuard, limits: Limits): Promise<Exchange> {
  return new Promise<Exchange>((resolve, reject) => {
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    // An address literal never goes through the lookup below, so it is checked here.
    if (isIP(host) && !guard.allows(host)) {
      reject(blockedAddress(host));
      return;
    }
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    let settled = false;
    const open: { response?: IncomingMessage; decoder?: Transform | null } = {};
    const finish: Finish = (error, value) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      if (error !== undefined) {
        req.destroy();
        open.response?.destroy();
        open.decoder?.destroy();
        reject(error);
      } else {
        resolve(value!);
      }
    };
    const onAbort = () => finish(signal.reason);

    const req = sendRequest(url, host, request, guard);
    signal.addEventListener('abort', onAbort, { once: true });
    limitConnectTime(req, limits.connectTimeoutMs, finish);
    req.on('error', (error) => finish(toOutboundError(error)));
    req.on('response', (res) => {
      open.response = res;
      open.decoder = readAnswer(res, limits.maxBytes, finish);
    });
    req.end(request.body);
  });
}

/** The request, on its own connection, resolving names through the guard (which refuses internal addresses). */
function sendRequest(url: URL, host: string, request: ExchangeRequest, guard: AddressGuard): ClientRequest {
  const headers: Record<string, string> = { 'user-agent': USER_AGENT, 'accept-encoding': 'gzip, deflate, br', ...request.headers };
  if (request.body !== undefined) headers['content-length'] = String(Buffer.byteLength(request.body));
  return (url.protocol === 'https:' ? https : http).request({
    protocol: url.protocol,
    hostname: host,
    port: url.port || undefined,
    path: `${url.pathname}${url.search}`,
    method: request.method,
    headers,
    agent: false,
    lookup: guard.lookup,
  });
}

/** Fails the exchange when the connection is not up within `timeoutMs` (the whole-call deadline is the caller's). */
function limitConnectTime(req: ClientRequest, timeoutMs: number, finish: Finish): void {
  req.on('socket', (socket) => {
    if (!socket.connecting) return;
    const timer = setTimeout(() => finish(new OutboundError('UPSTREAM_TIMEOUT', `The upstream did not accept a connection within ${timeoutMs} ms.`)), timeoutMs);
    socket.once('connect', () => clearTimeout(timer));
    socket.once('close', () => clearTimeout(timer));
  });
}

/**
 * Reads an answer: a redirect as it is (the caller follows it), otherwise the body decoded and capped at `maxBytes`
 * whatever its declared length. Returns the decoder it opened, for the exchange to tear down.
 */
function readAnswer(res: IncomingMessage, maxBytes: number, finish: Finish): Transform | null {
  const status = res.statusCode ?? 0;
  const location = res.headers.location;
  if (REDIRECT_STATUSES.has(status) && location) {
    finish(undefined, { status, headers: res.headers, body: Buffer.alloc(0), location });
    res.destroy();
    return null;
  }
  const tooLarge = () => new OutboundError('UPSTREAM_TOO_LARGE', `The upstream answer is larger than ${maxBytes} bytes.`);
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    finish(tooLarge());
    return null;
  }
  const decoder = decoderFor(res.headers['content-encoding']);
  if (decoder === 'unsupported') {
    finish(new OutboundError('UPSTREAM_INVALID_RESPONSE', 'The upstream answer uses an unsupported content encoding.'));
    return null;
  }
  const source: Readable = decoder ? res.pipe(decoder) : res;
  const chunks: Buffer[] = [];
  let size = 0;
  let received = false;
  res.once('end', () => {
    received = true;
  });
  source.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > maxBytes) finish(tooLarge());
    else chunks.push(chunk);
  });
  source.on('end', () => finish(undefined, { status, headers: res.headers, body: Buffer.concat(chunks) }));
  decoder?.on('error', (error) => finish(new OutboundError('UPSTREAM_INVALID_RESPONSE', 'The upstream answer could not be decompressed.', { cause: error })));
  res.on('error', (error) => finish(toOutboundError(error)));
  res.on('close', () => {
    if (!received) finish(new OutboundError('UPSTREAM_UNREACHABLE', 'The upstream closed the connection before the answer was complete.'));
  });
  return decoder;
}

/**
 * The one way Gatehouse calls out (ingest, webhooks): a whole-call deadline, a connect timeout, a cap on the
 * decoded body, redirects followed by hand (at most five, each target checked again), and internal addresses
 * refused after name resolution unless allowed. Any HTTP status is returned; failures throw OutboundError.
 */
export function safeFetch(input: string | URL, options: SafeFetchOptions = {}): Promise<OutboundResponse> {
  const traces = tracing.current;
  if (!traces) return fetchSafely(input, options);
  const target = targetOf(input);
  const method = (options.method ?? 'GET').toUpperCase();
  const span = traces.start(`${method}`, {
    kind: SPAN_KIND.client,
    attributes: { 'http.request.method': method, 'server.address': target.hostname, 'server.port': Number(target.port || (target.protocol === 'https:' ? 443 : 80)), 'url.path': target.pathname },
  });
  return traces.within(span, async () => {
    // The callee continues this trace: W3C traceparent from this span.
    const headers = { ...options.headers };
    traces.injectHeaders(headers);
    try {
      const response = await fetchSafely(target, { ...options, headers });
      span.setAttribute('http.response.status_code', response.status);
      traces.end(span, response.status >= 500 ? `HTTP ${response.status}` : undefined);
      return response;
    } catch (error) {
      traces.end(span, error);
      throw error;
    }
  });
}

async function fetchSafely(input: string | URL, options: SafeFetchOptions): Promise<OutboundResponse> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const limits = {
    connectTimeoutMs: Math.min(options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, timeoutMs),
    maxBytes: options.maxBytes ?? DEFAULT_MAX_BYTES,
  };
  const maxRedirects = Math.min(options.maxRedirects ?? MAX_REDIRECTS, MAX_REDIRECTS);
  const guard = addressGuard(options);
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new OutboundError('UPSTREAM_TIMEOUT', `The upstream did not answer within ${timeoutMs} ms.`)), timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline.signal]) : deadline.signal;

  const request: ExchangeRequest = { method: (options.method ?? 'GET').toUpperCase(), headers: lowerCased(options.headers), body: options.body };
  try {
    let url = targetOf(input);
    for (let redirects = 0; ; redirects++) {
      const answer = await exchange(url, request, signal, guard, limits);
      if (answer.location === undefined) {
        const body = answer.body;
        const finalUrl = url.toString();
        return {
          url: finalUrl,
          status: answer.status,
          ok: answer.status >= 200 && answer.status < 300,
          headers: answer.headers,
          body,
          redirects,
          text: () => body.toString('utf8'),
          json: () => parseJson(body),
        };
      }
      if (redirects >= maxRedirects) throw new OutboundError('UPSTREAM_TOO_MANY_REDIRECTS', `The upstream redirected more than ${maxRedirects} times.`);
      const next = targetOf(new URL(answer.location, url));
      // RFC 9110 15.4: 303 always, and 301/302 after a POST in practice, continue as a GET without the body.
      if (answer.status === 303 || ((answer.status === 301 || answer.status === 302) && request.method === 'POST')) {
        request.method = 'GET';
        request.body = undefined;
      }
      if (next.origin !== url.origin) for (const name of CREDENTIAL_HEADERS) delete request.headers[name];
      url = next;
    }
  } catch (error) {
    if (options.signal?.aborted) throw new OutboundError('UPSTREAM_ABORTED', 'The upstream call was aborted.', { cause: options.signal.reason });
    throw toOutboundError(error);
  } finally {
    clearTimeout(timer);
  }
}

function lowerCased(headers: Record<string, string> | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) result[name.toLowerCase()] = value;
  return result;
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new OutboundError('UPSTREAM_INVALID_RESPONSE', 'The upstream answer is not valid JSON.', { cause: error });
  }
}
