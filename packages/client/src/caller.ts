import { Paginated } from './pagination.ts';
import type { HttpMethod, HttpRequest, QueryValue, RequestOptions, Transport } from './transport.ts';
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
