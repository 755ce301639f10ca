import type { HTMLElement } from 'node-html-parser';
import type { NewSource } from './sources-repository.ts';
import { jsonLdOf, metaContent, parseHtml } from './html.ts';
import { JobFailure, type JobContext, type JobHandler } from './kinds.ts';
import { invalidResponse, isRecord, numberOf, requireOk, stringOf, stringsOf } from './upstream-data.ts';

export interface AppstoreInput {
  iosBundleId?: string;
  androidPackageName?: string;
}

/** Store pages are large; the listing JSON is small. */
const PLAY_PAGE_MAX_BYTES = 5 * 1024 * 1024;

/** iOS: the public iTunes lookup endpoint (`?bundleId=`), a JSON `{ resultCount, results }`. */
async function iosListing(bundleId: string, context: JobContext): Promise<NewSource> {
  const url = new URL(context.upstreams.appstoreLookupUrl);
  url.searchParams.set('bundleId', bundleId);
  const response = await context.fetch(url, { headers: { accept: 'application/json' } });
  requireOk(response, `The App Store has no app with bundle id ${bundleId}.`);
  const body = response.json();
  if (!isRecord(body) || !Array.isArray(body.results)) throw invalidResponse('an App Store lookup result');
  const app = body.results.find(isRecord);
  if (!app || numberOf(body.resultCount) === 0) throw new JobFailure('UPSTREAM_NOT_FOUND', `The App Store has no app with bundle id ${bundleId}.`);
  const name = stringOf(app.trackName);
  if (!name) throw invalidResponse('an App Store listing');
  const storeUrl = stringOf(app.trackViewUrl);
  return {
    kind: 'appstore_ios',
    url: storeUrl ? storeUrl.split('?')[0]! : url.toString(),
    title: name,
    data: {
      bundleId,
      name,
      developer: stringOf(app.sellerName) ?? stringOf(app.artistName),
      description: stringOf(app.description),
      rating: numberOf(app.averageUserRating),
      ratingCount: numberOf(app.userRatingCount),
      iconUrl: stringOf(app.artworkUrl512) ?? stringOf(app.artworkUrl100),
      screenshotUrls: stringsOf(app.screenshotUrls),
      genres: stringsOf(app.genres),
      price: numberOf(app.price),
      version: stringOf(app.version),
      storeUrl,
    },
  };
}

const imageUrlOf = (value: unknown): string | null => stringOf(value) ?? (isRecord(value) ? stringOf(value.url) ?? stringOf(value.contentUrl) : null);

function playScreenshots(root: HTMLElement, structured: Record<string, unknown> | undefined): string[] {
  const urls = (Array.isArray(structured?.screenshot) ? structured.screenshot : []).map(imageUrlOf);
  for (const image of root.querySelectorAll('img[alt]')) {
    if (!/screenshot/i.test(image.getAttribute('alt') ?? '')) continue;
    urls.push(stringOf(image.getAttribute('src')) ?? stringOf(image.getAttribute('data-src')));
  }
  return [...new Set(urls.filter((url): url is string => url !== null))].slice(0, 30);
}

/** Android: the listing page (`/store/apps/details?id=`); its JSON-LD first, the page's meta tags as a fallback. */
async function androidListing(packageName: string, context: JobContext): Promise<NewSource> {
  const url = new URL('/store/apps/details', context.upstreams.playstoreUrl);
  url.searchParams.set('id', packageName);
  url.searchParams.set('hl', 'en');
  const response = await context.fetch(url, { headers: { accept: 'text/html' }, maxBytes: PLAY_PAGE_MAX_BYTES });
  requireOk(response, `Google Play has no app with package name ${packageName}.`);
  const root = parseHtml(response);
  const structured = jsonLdOf(root).find((block): block is Record<string, unknown> => isRecord(block) && /Application/.test(String(block['@type'])));
  const rating = isRecord(structured?.aggregateRating) ? structured.aggregateRating : undefined;
  const author = isRecord(structured?.author) ? structured.author : undefined;
  const name =
    stringOf(structured?.name) ??
    metaContent(root, 'meta[property="og:title"]')?.replace(/ - Apps on Google Play$/, '') ??
    stringOf(root.querySelector('h1')?.text);
  if (!name) throw invalidResponse('a Google Play listing');
  return {
    kind: 'appstore_android',
    url: url.toString(),
    title: name,
    data: {
      packageName,
      name,
      developer: stringOf(author?.name) ?? stringOf(root.querySelector('a[href*="/store/apps/dev"]')?.text),
      description: stringOf(structured?.description) ?? metaContent(root, 'meta[name="description"]') ?? metaContent(root, 'meta[property="og:description"]'),
      rating: numberOf(rating?.ratingValue),
      ratingCount: numberOf(rating?.ratingCount),
      iconUrl: imageUrlOf(structured?.image) ?? metaContent(root, 'meta[property="og:image"]'),
      screenshotUrls: playScreenshots(root, structured),
      storeUrl: url.toString(),
    },
  };
}

/** SPEC 8.3: the app's public store listings. Either store failing fails the job, so a result is never half-read. */
export const ingestAppstore: JobHandler = async (input, context) => {
  const { iosBundleId, androidPackageName } = input as AppstoreInput;
  const sources: NewSource[] = [];
  if (iosBundleId) sources.push(await iosListing(iosBundleId, context));
  if (androidPackageName) sources.push(await androidListing(androidPackageName, context));
  return {
    result: { sources: sources.length, listings: sources.map((source) => ({ kind: source.kind, name: source.title, url: source.url })) },
    sources,
  };
};
