import { parse, type HTMLElement } from 'node-html-parser';
import type { OutboundResponse } from '../outbound/safe-fetch.ts';
import { JobFailure } from './kinds.ts';

/** Bounds on what one page contributes, so a huge page cannot bloat a source row. */
const MAX_TEXT_CHARS = 20_000;
const MAX_HEADINGS = 50;
const MAX_FIELD_CHARS = 2_000;
const NOT_CONTENT = 'script, style, noscript, template, svg, iframe, nav, header, footer, aside, form';

export interface PageSummary {
  title: string | null;
  description: string | null;
  openGraph: Record<string, string>;
  headings: Array<{ level: number; text: string }>;
  text: string;
}

export function isHtml(response: OutboundResponse): boolean {
  const type = String(response.headers['content-type'] ?? '').toLowerCase();
  return type.includes('text/html') || type.includes('application/xhtml+xml');
}

export function parseHtml(response: OutboundResponse): HTMLElement {
  if (!isHtml(response)) throw new JobFailure('UPSTREAM_INVALID_RESPONSE', `${response.url} is not an HTML page.`);
  return parse(response.text(), { comment: false });
}

const clean = (value: string | undefined | null, max = MAX_FIELD_CHARS): string | null => {
  const text = (value ?? '').replace(/\s+/g, ' ').trim();
  return text === '' ? null : text.slice(0, max);
};

export function metaContent(root: HTMLElement, selector: string): string | null {
  return clean(root.querySelector(selector)?.getAttribute('content'));
}

/** `og:*` properties (and the `twitter:*` names many sites use instead), first value of each. */
function openGraphOf(root: HTMLElement): Record<string, string> {
  const found: Record<string, string> = {};
  for (const meta of root.querySelectorAll('meta[property], meta[name]')) {
    const name = (meta.getAttribute('property') ?? meta.getAttribute('name') ?? '').toLowerCase();
    if (!name.startsWith('og:') && !name.startsWith('twitter:')) continue;
    const content = clean(meta.getAttribute('content'));
    if (content && !(name in found)) found[name] = content;
  }
  return found;
}

/** Readable text of the page's main content, one block per line. */
function mainTextOf(root: HTMLElement): string {
  const main = root.querySelector('main') ?? root.querySelector('article') ?? root.querySelector('[role=main]') ?? root.querySelector('body') ?? root;
  for (const node of main.querySelectorAll(NOT_CONTENT)) node.remove();
  const lines = main.structuredText
    .split('\n')
    .map((line) => line.replace(/\s+/g, ' ').trim())
    .filter(Boolean);
  return lines.join('\n').slice(0, MAX_TEXT_CHARS);
}

/** What SPEC 8.3 keeps of a website page. Reads links first: the text extraction prunes the tree. */
export function summarizePage(root: HTMLElement): PageSummary {
  const headings = root
    .querySelectorAll('h1, h2, h3')
    .map((heading) => ({ level: Number(heading.tagName.slice(1)), text: clean(heading.text, 500) }))
    .filter((heading): heading is { level: number; text: string } => heading.text !== null)
    .slice(0, MAX_HEADINGS);
  return {
    title: clean(root.querySelector('title')?.text, 500),
    description: metaContent(root, 'meta[name="description"]'),
    openGraph: openGraphOf(root),
    headings,
    text: mainTextOf(root),
  };
}

const SKIPPED_EXTENSIONS = /\.(?:pdf|png|jpe?g|gif|webp|svg|ico|zip|gz|tar|mp4|mp3|mov|avi|css|js|json|xml|woff2?|ttf|exe|dmg|apk)$/i;

/** Links on the page to other pages of the same origin, absolute, without fragments. */
export function sameOriginLinks(root: HTMLElement, pageUrl: string, origin: string): string[] {
  const base = root.querySelector('base[href]')?.getAttribute('href');
  let baseUrl: URL;
  try {
    baseUrl = new URL(base ?? pageUrl, pageUrl);
  } catch {
    baseUrl = new URL(pageUrl);
  }
  const links: string[] = [];
  for (const anchor of root.querySelectorAll('a[href]')) {
    const href = anchor.getAttribute('href');
    if (!href) continue;
    let url: URL;
    try {
      url = new URL(href, baseUrl);
    } catch {
      continue;
    }
    url.hash = '';
    if (url.origin !== origin || SKIPPED_EXTENSIONS.test(url.pathname)) continue;
    links.push(url.toString());
  }
  return links;
}

/** JSON-LD blocks of the page, parsed; broken ones are skipped. */
export function jsonLdOf(root: HTMLElement): unknown[] {
  const blocks: unknown[] = [];
  for (const script of root.querySelectorAll('script[type="application/ld+json"]')) {
    try {
      const parsed: unknown = JSON.parse(script.rawText);
      blocks.push(...(Array.isArray(parsed) ? parsed : [parsed]));
    } catch {
      // A broken block is the page's problem; the other fields still count.
    }
  }
  return blocks;
}
