import type { Page } from './types.ts';

/**
 * A list, walked lazily: `for await (const item of list)` follows `nextCursor` page by page (SPEC 8) and stops on
 * the page whose cursor is null. Nothing is requested until the walk starts.
 */
export class Paginated<T> implements AsyncIterable<T> {
  constructor(
    private readonly fetchPage: (cursor: string | undefined) => Promise<Page<T>>,
    private readonly startCursor?: string,
  ) {}

  async *pages(): AsyncGenerator<Page<T>, void, undefined> {
    let cursor = this.startCursor;
    for (;;) {
      const page = await this.fetchPage(cursor);
      yield { data: page.data, nextCursor: page.nextCursor ?? null };
      const next = page.nextCursor ?? undefined;
      // A server that hands back the cursor it was given would make this walk forever.
      if (next === undefined || next === cursor) return;
      cursor = next;
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for await (const page of this.pages()) yield* page.data;
  }

  /** Every item, or the first `max`. */
  async toArray(max = Number.POSITIVE_INFINITY): Promise<T[]> {
    const items: T[] = [];
    if (max <= 0) return items;
    for await (const item of this) {
      items.push(item);
      if (items.length >= max) break;
    }
    return items;
  }
}
