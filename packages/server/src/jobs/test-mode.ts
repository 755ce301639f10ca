import { createHash } from 'node:crypto';
import type { NewSource } from './sources-repository.ts';
import { JobFailure, type JobContext, type JobHandler, type JobKind } from './kinds.ts';
import type { AppstoreInput } from './ingest-appstore.ts';
import { DEFAULT_MAX_PAGES, MAX_PAGES, type WebsiteInput } from './ingest-website.ts';

/**
 * SPEC 12: test-mode ingest. A job queued by a test key never makes an outbound call: it answers from the fixtures
 * below, built from its input alone, so the same input always gives the same result. Two words in an input (bundle
 * id, package name, URL or repo, in any case) choose another path:
 * - `fail`: the job ends `failed` with UPSTREAM_NOT_FOUND, as a real store, site or repository that does not exist;
 * - `slow`: the job runs TEST_MODE_SLOW_MS first (abortable like any job), so cancel paths can be exercised.
 * The README's "Test mode" section documents these fixtures; keep the two in step.
 */
export const TEST_MODE_SLOW_MS = 10_000;

/** Fixture URLs live under a reserved test domain (RFC 2606): nothing there is ever fetched. */
export const FIXTURE_ORIGIN = 'https://fixtures.gatehouse.test';

const inputsOf = (input: Record<string, unknown>): string[] => Object.values(input).filter((value): value is string => typeof value === 'string');

/** A small number drawn from the input, so fixtures differ between inputs but never between runs. */
function seedOf(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0);
}

const titleCase = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);

/** `com.example.photo-app` → `Photo App`. */
function nameFrom(identifier: string): string {
  const last = identifier.split(/[./]/).filter(Boolean).at(-1) ?? identifier;
  return last.split(/[-_]+/).filter(Boolean).map(titleCase).join(' ') || identifier;
}

async function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) throw signal.reason;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The `fail` and `slow` paths, shared by every kind. */
async function sandboxPaths(input: Record<string, unknown>, context: JobContext, what: string): Promise<void> {
  const values = inputsOf(input).map((value) => value.toLowerCase());
  if (values.some((value) => value.includes('slow'))) await sleep(TEST_MODE_SLOW_MS, context.signal);
  if (values.some((value) => value.includes('fail'))) {
    throw new JobFailure('UPSTREAM_NOT_FOUND', `Test mode: ${what} contains "fail", so the fixture upstream answers that it does not exist.`);
  }
}

function rating(seed: number) {
  return { rating: 3.5 + (seed % 15) / 10, ratingCount: 100 + (seed % 9_900) };
}

function iosFixture(bundleId: string): NewSource {
  const name = nameFrom(bundleId);
  const seed = seedOf(`ios ${bundleId}`);
  const storeUrl = `${FIXTURE_ORIGIN}/appstore/ios/${encodeURIComponent(bundleId)}`;
  return {
    kind: 'appstore_ios',
    url: storeUrl,
    title: name,
    data: {
      bundleId,
      name,
      developer: 'Gatehouse Test Fixtures',
      description: `${name} is a test-mode fixture: no App Store was called.`,
      ...rating(seed),
      iconUrl: `${storeUrl}/icon.png`,
      screenshotUrls: [`${storeUrl}/screenshot-1.png`, `${storeUrl}/screenshot-2.png`],
      genres: ['Productivity'],
      price: 0,
      version: '1.0.0',
      storeUrl,
    },
  };
}

function androidFixture(packageName: string): NewSource {
  const name = nameFrom(packageName);
  const seed = seedOf(`android ${packageName}`);
  const storeUrl = `${FIXTURE_ORIGIN}/playstore/${encodeURIComponent(packageName)}`;
  return {
    kind: 'appstore_android',
    url: storeUrl,
    title: name,
    data: {
      packageName,
      name,
      developer: 'Gatehouse Test Fixtures',
      description: `${name} is a test-mode fixture: no Google Play page was fetched.`,
      ...rating(seed),
      iconUrl: `${storeUrl}/icon.png`,
      screenshotUrls: [`${storeUrl}/screenshot-1.png`, `${storeUrl}/screenshot-2.png`],
      storeUrl,
    },
  };
}

/** The pages a test-mode crawl finds, at the start URL's origin: the start page, then these. */
export const FIXTURE_PAGES = ['', 'about', 'pricing'] as const;

function websiteFixture(start: string, maxPages: number): NewSource[] {
  const origin = new URL(start).origin;
  const siteName = nameFrom(new URL(start).hostname.replace(/^www\./, '').split('.')[0] ?? 'site');
  return FIXTURE_PAGES.slice(0, maxPages).map((path, index) => {
    const url = index === 0 ? new URL(start).toString() : `${origin}/${path}`;
    const title = index === 0 ? siteName : `${titleCase(path)} | ${siteName}`;
    return {
      kind: 'website_page',
      url,
      title,
      data: {
        title,
        description: `${title}: a test-mode fixture page; nothing was fetched.`,
        openGraph: { title, type: 'website', url },
        headings: [{ level: 1, text: title }],
        text: `This is the ${index === 0 ? 'home' : path} page of ${siteName}, as test mode makes it up.`,
      },
    };
  });
}

function githubFixture(repo: string): NewSource {
  const [owner, name] = repo.split('/') as [string, string];
  const seed = seedOf(`github ${repo}`);
  return {
    kind: 'github_repo',
    url: `${FIXTURE_ORIGIN}/github/${encodeURIComponent(owner)}/${encodeURIComponent(name)}`,
    title: repo,
    data: {
      fullName: repo,
      description: `${repo}: a test-mode fixture repository; the GitHub API was not called.`,
      topics: ['fixture', 'test-mode'],
      homepage: null,
      stars: seed % 5_000,
      defaultBranch: 'main',
      license: 'MIT',
      languages: { TypeScript: 10_000 + (seed % 90_000), Python: 1_000 + (seed % 9_000) },
      readme: `# ${name}\n\nA test-mode fixture README for ${repo}.\n`,
    },
  };
}

const appstore: JobHandler = async (input, context) => {
  const { iosBundleId, androidPackageName } = input as AppstoreInput;
  await sandboxPaths(input, context, 'the bundle id or package name');
  const sources: NewSource[] = [];
  if (iosBundleId) sources.push(iosFixture(iosBundleId));
  if (androidPackageName) sources.push(androidFixture(androidPackageName));
  return {
    result: { sources: sources.length, listings: sources.map((source) => ({ kind: source.kind, name: source.title, url: source.url })), testMode: true },
    sources,
  };
};

const website: JobHandler = async (input, context) => {
  const { url, maxPages } = input as unknown as WebsiteInput;
  await sandboxPaths(input, context, 'the URL');
  const sources = websiteFixture(url, Math.min(Math.max(maxPages ?? DEFAULT_MAX_PAGES, 1), MAX_PAGES));
  return { result: { sources: sources.length, pagesFetched: sources.length, pages: sources.map((source) => source.url), skipped: [], testMode: true }, sources };
};

const github: JobHandler = async (input, context) => {
  const { repo } = input as unknown as { repo: string };
  await sandboxPaths(input, context, 'the repo');
  const source = githubFixture(repo);
  const languages = Object.keys(source.data.languages as Record<string, number>);
  return { result: { sources: 1, repo, languages, readme: true, testMode: true }, sources: [source] };
};

/** What test-mode jobs run in place of the real handlers (create-runner.ts). */
export const TEST_MODE_HANDLERS: Record<JobKind, JobHandler> = {
  ingest_appstore: appstore,
  ingest_website: website,
  ingest_github: github,
};
