import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueKey, partnerWithKey, withKey } from './factories.ts';
import { sendHtml, sendJson, startFakeUpstream, type FakeUpstream } from './fixtures/fake-upstream.ts';
import { ingest, insertProject, startIngest, waitForJob } from './fixtures/jobs.ts';
import { startTestApp, testConfig, type TestApp } from './harness.ts';

const ITUNES_APP = {
  trackName: 'Acme Budget',
  sellerName: 'Acme Inc.',
  artistName: 'Acme',
  description: 'Budgeting for humans.',
  averageUserRating: 4.7,
  userRatingCount: 1234,
  artworkUrl512: 'https://is1.example/icon512.png',
  screenshotUrls: ['https://is1.example/s1.png', 'https://is1.example/s2.png'],
  trackViewUrl: 'https://apps.apple.com/us/app/acme-budget/id123?uo=4',
  bundleId: 'com.acme.budget',
};

const PLAY_PAGE = `<!doctype html><html><head><title>Acme Budget - Apps on Google Play</title>
<meta name="description" content="Budgeting for Android humans.">
<meta property="og:image" content="https://play.example/icon.png">
<script type="application/ld+json">{"@context":"https://schema.org","@type":"SoftwareApplication","name":"Acme Budget","description":"Budgeting and more for Android.","image":"https://play.example/icon-ld.png","author":{"@type":"Person","name":"Acme Inc."},"aggregateRating":{"@type":"AggregateRating","ratingValue":"4.5","ratingCount":"987"}}</script>
</head><body><h1><span>Acme Budget</span></h1><img src="https://play.example/shot1.png" alt="Screenshot image"><img src="https://play.example/shot2.png" alt="Screenshot image"><img src="https://play.example/logo.png" alt="logo"></body></html>`;

const page = (title: string, body: string, extraHead = '') =>
  `<!doctype html><html><head><title>${title}</title><meta name="description" content="${title} description">${extraHead}</head><body><nav><a href="/site/">Home</a></nav>${body}<script>var tracking = 1;</script></body></html>`;

const SITE: Record<string, string> = {
  '/site/': page(
    'Acme &amp; Co',
    `<main><h1>Welcome to Acme</h1><p>We make budgeting   simple.</p><h2>Features</h2><p>Fast.</p>
      <a href="/site/about">About</a> <a href="about#team">Team</a> <a href="/site/missing">Broken</a>
      <a href="https://other.example/page">Elsewhere</a> <a href="mailto:hi@acme.example">Mail</a> <a href="/site/brochure.pdf">PDF</a></main>`,
    '<meta property="og:title" content="Acme OG"><meta property="og:type" content="website"><meta name="twitter:card" content="summary">',
  ),
  '/site/about': page('About Acme', '<main><h1>About</h1><p>Founded in 2020.</p><a href="/site/deep">Deep</a></main>'),
  '/site/deep': page('Deep page', '<article><h2>Deep</h2><p>Deep text.</p><a href="/site/deeper">Deeper</a></article>'),
  '/site/deeper': page('Deeper page', '<p>Deeper.</p>'),
};

const README = '# Widget\n\nA widget for everyone.\n';

let upstream: FakeUpstream;
let t: TestApp;

beforeAll(async () => {
  upstream = await startFakeUpstream((request, response, url) => {
    if (url.pathname === '/lookup') {
      const bundleId = url.searchParams.get('bundleId');
      if (bundleId === 'com.acme.budget') return sendJson(response, 200, { resultCount: 1, results: [ITUNES_APP] });
      if (bundleId === 'com.acme.junk') return void response.writeHead(200, { 'content-type': 'text/html' }).end('<html>oops</html>');
      if (bundleId === 'com.acme.slow') return; // never answers
      return sendJson(response, 200, { resultCount: 0, results: [] });
    }
    if (url.pathname === '/store/apps/details') {
      if (url.searchParams.get('id') === 'com.acme.budget') return sendHtml(response, 200, PLAY_PAGE);
      return sendHtml(response, 404, '<html><body>Not found</body></html>');
    }
    if (url.pathname.startsWith('/site/')) {
      const html = SITE[url.pathname];
      return html ? sendHtml(response, 200, html) : sendHtml(response, 404, 'missing');
    }
    if (url.pathname === '/repos/acme/widget') {
      return sendJson(response, 200, {
        full_name: 'acme/widget',
        html_url: 'https://github.com/acme/widget',
        description: 'A widget',
        topics: ['widgets', 'budgeting'],
        homepage: 'https://acme.example',
        stargazers_count: 42,
        default_branch: 'main',
        license: { spdx_id: 'MIT' },
      });
    }
    if (url.pathname === '/repos/acme/widget/languages') return sendJson(response, 200, { TypeScript: 12345, Shell: 67 });
    if (url.pathname === '/repos/acme/widget/readme') {
      return sendJson(response, 200, { encoding: 'base64', content: Buffer.from(README).toString('base64') });
    }
    if (url.pathname === '/repos/acme/limited') {
      return void response.writeHead(403, { 'x-ratelimit-remaining': '0', 'content-type': 'application/json' }).end('{}');
    }
    return sendJson(response, 404, { message: 'Not Found' });
  });
  t = await startTestApp({
    config: {
      upstreams: {
        appstoreLookupUrl: `${upstream.origin}/lookup`,
        playstoreUrl: upstream.origin,
        githubApiUrl: upstream.origin,
        allowPrivate: true,
        // Long enough for a loaded CI machine to answer the fast fakes, short enough for the one that never answers.
        timeoutMs: 2_500,
      },
      jobs: { pollMs: 50, startDelayMs: 0 },
    },
  });
});
afterAll(async () => {
  await t?.close();
  await upstream?.close();
});

async function partnerProject() {
  const { organization, key } = await partnerWithKey(t.app);
  const projectId = await insertProject(t.deps, organization.id);
  return { organization, key: key.key, projectId };
}

async function sourcesOf(key: string, projectId: string, query = '') {
  const response = await t.app.inject({ url: `/v1/projects/${projectId}/sources${query}`, headers: withKey(key) });
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as { data: Array<{ kind: string; url: string; title: string | null; jobId: string; data: Record<string, unknown> }>; nextCursor: string | null };
}

describe('POST /v1/projects/:id/ingest/appstore', () => {
  it('reads the iOS and Android listings into project sources', async () => {
    const { key, projectId } = await partnerProject();
    const response = await startIngest(t.app, key, projectId, 'appstore', { iosBundleId: 'com.acme.budget', androidPackageName: 'com.acme.budget' });
    expect(response.statusCode).toBe(202);
    expect(response.json()).toEqual({ jobId: expect.any(String), status: 'queued', kind: 'ingest_appstore', projectId });
    const job = await waitForJob(t.app, key, response.json().jobId);
    expect(job).toMatchObject({ status: 'succeeded', kind: 'ingest_appstore', projectId, creditsCharged: 10, result: { sources: 2 } });
    expect(job.startedAt).not.toBeNull();
    expect(job.finishedAt).not.toBeNull();

    const { data } = await sourcesOf(key, projectId);
    const ios = data.find((source) => source.kind === 'appstore_ios');
    const android = data.find((source) => source.kind === 'appstore_android');
    expect(ios).toMatchObject({
      url: 'https://apps.apple.com/us/app/acme-budget/id123',
      title: 'Acme Budget',
      jobId: job.id,
      data: {
        name: 'Acme Budget',
        developer: 'Acme Inc.',
        description: 'Budgeting for humans.',
        rating: 4.7,
        iconUrl: 'https://is1.example/icon512.png',
        screenshotUrls: ['https://is1.example/s1.png', 'https://is1.example/s2.png'],
      },
    });
    expect(android).toMatchObject({
      title: 'Acme Budget',
      data: {
        name: 'Acme Budget',
        developer: 'Acme Inc.',
        description: 'Budgeting and more for Android.',
        rating: 4.5,
        ratingCount: 987,
        iconUrl: 'https://play.example/icon-ld.png',
        screenshotUrls: ['https://play.example/shot1.png', 'https://play.example/shot2.png'],
      },
    });
  });

  it('fails cleanly when the App Store has no such app (resultCount 0)', async () => {
    const { key, projectId } = await partnerProject();
    const jobId = await ingest(t.app, key, projectId, 'appstore', { iosBundleId: 'com.example.doesnotexist' });
    const job = await waitForJob(t.app, key, jobId);
    expect(job).toMatchObject({ status: 'failed', error: { code: 'UPSTREAM_NOT_FOUND' } });
    expect(job.result).toBeUndefined();
    expect((await sourcesOf(key, projectId)).data).toEqual([]);
  });

  it('fails cleanly on a Play 404, on junk and on a slow upstream, and the runner keeps working', async () => {
    const { key, projectId } = await partnerProject();
    const cases: Array<[Record<string, string>, string]> = [
      [{ androidPackageName: 'com.acme.missing' }, 'UPSTREAM_NOT_FOUND'],
      [{ iosBundleId: 'com.acme.junk' }, 'UPSTREAM_INVALID_RESPONSE'],
      [{ iosBundleId: 'com.acme.slow' }, 'UPSTREAM_TIMEOUT'],
    ];
    for (const [body, code] of cases) {
      const started = Date.now();
      const job = await waitForJob(t.app, key, await ingest(t.app, key, projectId, 'appstore', body));
      expect(job, JSON.stringify(body)).toMatchObject({ status: 'failed', error: { code } });
      expect(Date.now() - started).toBeLessThan(10_000);
    }
    const after = await waitForJob(t.app, key, await ingest(t.app, key, projectId, 'appstore', { iosBundleId: 'com.acme.budget' }));
    expect(after.status).toBe('succeeded');
  });

  it('needs at least one store id (422)', async () => {
    const { key, projectId } = await partnerProject();
    const empty = await startIngest(t.app, key, projectId, 'appstore', {});
    expect(empty.statusCode).toBe(422);
    expect(empty.json().error).toMatchObject({ code: 'VALIDATION_FAILED', details: { issues: [{ path: 'body' }] } });
    const bad = await startIngest(t.app, key, projectId, 'appstore', { androidPackageName: 'not a package' });
    expect(bad.statusCode).toBe(422);
  });
});

describe('POST /v1/projects/:id/ingest/website', () => {
  it('crawls the same origin up to maxPages and keeps title, description, Open Graph, headings and text', async () => {
    const { key, projectId } = await partnerProject();
    const jobId = await ingest(t.app, key, projectId, 'website', { url: `${upstream.origin}/site/`, maxPages: 3 });
    const job = await waitForJob(t.app, key, jobId);
    expect(job).toMatchObject({ status: 'succeeded', creditsCharged: 20, result: { sources: 2, pagesFetched: 3 } });
    expect(job.result?.skipped).toEqual([{ url: `${upstream.origin}/site/missing`, code: 'UPSTREAM_NOT_FOUND' }]);
    // Breadth first: the start page's links come before the about page's; nothing off-origin, no PDF, no mail.
    expect(upstream.count('/site/deep')).toBe(0);
    expect(upstream.count('/site/brochure.pdf')).toBe(0);

    const { data } = await sourcesOf(key, projectId);
    const home = data.find((source) => source.url === `${upstream.origin}/site/`);
    expect(home).toMatchObject({
      kind: 'website_page',
      title: 'Acme & Co',
      data: {
        title: 'Acme & Co',
        description: 'Acme & Co description',
        openGraph: { 'og:title': 'Acme OG', 'og:type': 'website', 'twitter:card': 'summary' },
        headings: [
          { level: 1, text: 'Welcome to Acme' },
          { level: 2, text: 'Features' },
        ],
      },
    });
    const text = home!.data.text as string;
    expect(text).toContain('We make budgeting simple.');
    expect(text).not.toContain('tracking');
    expect(text).not.toContain('Home');
    expect(data.map((source) => source.url).sort()).toEqual([`${upstream.origin}/site/`, `${upstream.origin}/site/about`]);
  });

  it('defaults to five pages and follows links found on later pages', async () => {
    const { key, projectId } = await partnerProject();
    const job = await waitForJob(t.app, key, await ingest(t.app, key, projectId, 'website', { url: `${upstream.origin}/site/` }));
    expect(job).toMatchObject({ status: 'succeeded', result: { sources: 4, pagesFetched: 5 } });
  });

  it('fails when the start page fails, refuses bad URLs and page counts', async () => {
    const { key, projectId } = await partnerProject();
    const job = await waitForJob(t.app, key, await ingest(t.app, key, projectId, 'website', { url: `${upstream.origin}/site/nothing-here` }));
    expect(job).toMatchObject({ status: 'failed', error: { code: 'UPSTREAM_NOT_FOUND' } });
    for (const body of [{ url: 'ftp://example.com/' }, { url: 'not a url' }, { url: 'https://example.com', maxPages: 21 }, { url: 'https://example.com', maxPages: 0 }]) {
      expect((await startIngest(t.app, key, projectId, 'website', body)).statusCode, JSON.stringify(body)).toBe(422);
    }
  });
});

describe('POST /v1/projects/:id/ingest/github', () => {
  it('reads description, topics, languages and README', async () => {
    const { key, projectId } = await partnerProject();
    const job = await waitForJob(t.app, key, await ingest(t.app, key, projectId, 'github', { repo: 'acme/widget' }));
    expect(job).toMatchObject({ status: 'succeeded', creditsCharged: 15, result: { repo: 'acme/widget', readme: true } });
    const { data } = await sourcesOf(key, projectId);
    expect(data).toEqual([
      expect.objectContaining({
        kind: 'github_repo',
        url: 'https://github.com/acme/widget',
        title: 'acme/widget',
        data: expect.objectContaining({
          description: 'A widget',
          topics: ['widgets', 'budgeting'],
          languages: { TypeScript: 12345, Shell: 67 },
          readme: README,
          license: 'MIT',
        }),
      }),
    ]);

    // The same repository again refreshes its source instead of adding a second one.
    await waitForJob(t.app, key, await ingest(t.app, key, projectId, 'github', { repo: 'acme/widget' }));
    expect((await sourcesOf(key, projectId)).data).toHaveLength(1);
  });

  it('fails with UPSTREAM_NOT_FOUND and UPSTREAM_RATE_LIMITED, and refuses a malformed repo', async () => {
    const { key, projectId } = await partnerProject();
    const missing = await waitForJob(t.app, key, await ingest(t.app, key, projectId, 'github', { repo: 'acme/missing' }));
    expect(missing).toMatchObject({ status: 'failed', error: { code: 'UPSTREAM_NOT_FOUND' } });
    const limited = await waitForJob(t.app, key, await ingest(t.app, key, projectId, 'github', { repo: 'acme/limited' }));
    expect(limited).toMatchObject({ status: 'failed', error: { code: 'UPSTREAM_RATE_LIMITED' } });
    for (const repo of ['acme', 'acme/widget/extra', '../etc/passwd', 'acme/wid get']) {
      expect((await startIngest(t.app, key, projectId, 'github', { repo })).statusCode, repo).toBe(422);
    }
  });
});

describe('ingest rules', () => {
  it('answers 404 for another organization’s project and 409 project_archived for an archived one', async () => {
    const { key, projectId } = await partnerProject();
    const other = await partnerProject();
    const foreign = await startIngest(t.app, key, other.projectId, 'github', { repo: 'acme/widget' });
    expect(foreign.statusCode).toBe(404);
    expect((await t.app.inject({ url: `/v1/projects/${other.projectId}/sources`, headers: withKey(key) })).statusCode).toBe(404);

    await t.deps.store.db.updateTable('projects').set({ status: 'archived' }).where('id', '=', projectId).execute();
    const archived = await startIngest(t.app, key, projectId, 'github', { repo: 'acme/widget' });
    expect(archived.statusCode).toBe(409);
    expect(archived.json().error).toMatchObject({ code: 'CONFLICT', details: { reason: 'project_archived' } });
  });

  it('needs ingest:write to start and projects:read to list sources', async () => {
    const { organization, projectId } = await partnerProject();
    const reader = await issueKey(t.app, organization.id, { scopes: ['projects:read', 'jobs:read'] });
    const refused = await startIngest(t.app, reader.key, projectId, 'github', { repo: 'acme/widget' });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error).toMatchObject({ code: 'FORBIDDEN_SCOPE', details: { requiredScope: 'ingest:write' } });
    expect((await t.app.inject({ url: `/v1/projects/${projectId}/sources`, headers: withKey(reader.key) })).statusCode).toBe(200);
    const writer = await issueKey(t.app, organization.id, { scopes: ['ingest:write'] });
    expect((await startIngest(t.app, writer.key, projectId, 'github', { repo: 'acme/widget' })).statusCode).toBe(202);
    expect((await t.app.inject({ url: `/v1/projects/${projectId}/sources`, headers: withKey(writer.key) })).statusCode).toBe(403);
  });

  it('pages through sources with a cursor', async () => {
    const { key, projectId } = await partnerProject();
    await waitForJob(t.app, key, await ingest(t.app, key, projectId, 'website', { url: `${upstream.origin}/site/` }));
    const first = await sourcesOf(key, projectId, '?limit=3');
    expect(first.data).toHaveLength(3);
    expect(first.nextCursor).not.toBeNull();
    const second = await sourcesOf(key, projectId, `?limit=3&cursor=${first.nextCursor}`);
    expect(second.data).toHaveLength(1);
    expect(second.nextCursor).toBeNull();
    expect(new Set([...first.data, ...second.data].map((source) => source.url)).size).toBe(4);
  });

  it('writes an audit entry for each ingest', async () => {
    const { organization, key, projectId } = await partnerProject();
    const jobId = await ingest(t.app, key, projectId, 'github', { repo: 'acme/widget' });
    const entry = await t.deps.store.db
      .selectFrom('audit_entries')
      .selectAll()
      .where('organization_id', '=', organization.id)
      .where('action', '=', 'ingest.github')
      .executeTakeFirst();
    expect(entry).toMatchObject({ target_type: 'job', target_id: jobId, status: 202 });
  });
});

describe('outbound safety through ingest', () => {
  it('refuses a loopback upstream when private addresses are not allowed, without any request', async () => {
    const strict = await startTestApp({
      config: {
        upstreams: { ...testConfig().upstreams, githubApiUrl: upstream.origin, allowPrivate: false },
        jobs: { pollMs: 50, startDelayMs: 0 },
      },
    });
    try {
      const { organization, key } = await partnerWithKey(strict.app);
      const projectId = await insertProject(strict.deps, organization.id);
      const before = upstream.requests.length;
      const jobId = await ingest(strict.app, key.key, projectId, 'github', { repo: 'acme/widget' });
      const job = await waitForJob(strict.app, key.key, jobId);
      expect(job).toMatchObject({ status: 'failed', error: { code: 'UPSTREAM_BLOCKED_ADDRESS' } });
      expect(upstream.requests.length).toBe(before);
    } finally {
      await strict.close();
    }
  });
});
