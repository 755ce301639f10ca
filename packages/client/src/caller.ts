import { Paginated } from './pagination.ts';
import { Transport, type ClientOptions, type HttpMethod, type HttpRequest, type QueryValue, type RequestOptions } from './transport.ts';
import type { Page, PageParams } from './types.ts';

export type CallInit = Pick<HttpRequest, 'body' | 'query' | 'retryable'>;

/** What every resource group needs from the transport: a call's JSON body, or a lazily walked list. */
export class Caller {
  constructor(readonly transport: Transport) {}

  async call<T>(method: HttpMethod, url: string, request: CallInit = {}, options?: RequestOptions): Promise<T> {
    return (await this.transport.send<T>({ method, path: url, ...request }, options)).body;
  }

  list<T>(url: string, params: PageParams & Record<string, QueryValue>, options?: RequestOptions): Paginated<T> {
    return new Paginated<T>((cursor) => this.call<Page<T>>('GET', url, { query: { ...params, cursor } }, options), params.cursor);
  }
}

export type RawRequestInit = { body?: unknown; query?: Record<string, QueryValue> } & RequestOptions;

/** What both clients share: the transport, authenticated their way, and a way to call any route. */
export abstract class ClientBase {
  protected readonly caller: Caller;

  protected constructor(options: ClientOptions, authHeaders: Record<string, string>) {
    this.caller = new Caller(new Transport(options, authHeaders));
  }

  get baseUrl(): string {
    return this.caller.transport.baseUrl;
  }

  /** Any call, with the client's authentication, errors and retries: for routes newer than this client. */
  async request<T = unknown>(method: HttpMethod, url: string, init: RawRequestInit = {}): Promise<T> {
    const { body, query, ...options } = init;
    return this.caller.call<T>(method, url, { body, query }, options);
  }
}
