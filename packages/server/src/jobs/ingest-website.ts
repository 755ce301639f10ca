import type { NewSource } from './sources-repository.ts';
import { OutboundError } from '../outbound/errors.ts';
import { parseHtml, sameOriginLinks, summarizePage } from './html.ts';
import { JobFailure, type JobHandler } from './kinds.ts';
import { requireOk } from './upstream-data.ts';

export interface WebsiteInput {
  url: string;
  maxPages?: number;
}

export const DEFAULT_MAX_PAGES = 5;
export const MAX_PAGES = 20;
const PAGE_MAX_BYTES = 3 * 1024 * 1024;

/**
 * SPEC 8.3: a breadth-first crawl of one origin (the start page's, after its redirects), at most `maxPages`
 * fetches. The start page must work; a later page that fails is skipped and listed in the result.
 */
export const ingestWebsite: JobHandler = async (input, context) => {
  const { url: start, maxPages: requested } = input as unknown as WebsiteInput;
  const maxPages = Math.min(Math.max(requested ?? DEFAULT_MAX_PAGES, 1), MAX_PAGES);
  const queue = [normalized(start)];
  const seen = new Set(queue);
  const sources: NewSource[] = [];
  const skipped: Array<{ url: string; code: string }> = [];
  let origin: string | undefined;
  let fetched = 0;

  while (queue.length > 0 && fetched < maxPages) {
    const pageUrl = queue.shift()!;
    fetched++;
    try {
      const response = await context.fetch(pageUrl, { headers: { accept: 'text/html,application/xhtml+xml' }, maxBytes: PAGE_MAX_BYTES });
      requireOk(response, `${pageUrl} was not found.`);
      const finalUrl = normalized(response.url);
      if (origin === undefined) {
        origin = new URL(finalUrl).origin;
      } else if (new URL(finalUrl).origin !== origin) {
        skipped.push({ url: pageUrl, code: 'REDIRECTED_AWAY' });
        continue;
      } else if (finalUrl !== pageUrl && seen.has(finalUrl)) {
        skipped.push({ url: pageUrl, code: 'DUPLICATE' });
        continue;
      }
      seen.add(finalUrl);
      const root = parseHtml(response);
      for (const link of sameOriginLinks(root, finalUrl, origin)) {
        if (seen.has(link)) continue;
        seen.add(link);
        queue.push(link);
      }
      const page = summarizePage(root);
      sources.push({ kind: 'website_page', url: finalUrl, title: page.title, data: { ...page } });
    } catch (error) {
      // Cancellation and the start page's failure end the job; a later page's failure only skips that page.
      if (sources.length === 0 || context.signal.aborted) throw error;
      const code = error instanceof OutboundError || error instanceof JobFailure ? error.code : 'UPSTREAM_INVALID_RESPONSE';
      skipped.push({ url: pageUrl, code });
    }
  }
  return { result: { sources: sources.length, pagesFetched: fetched, pages: sources.map((source) => source.url), skipped }, sources };
};

function normalized(url: string): string {
  const parsed = new URL(url);
  parsed.hash = '';
  return parsed.toString();
}
