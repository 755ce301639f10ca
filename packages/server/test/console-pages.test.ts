import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consoleBuildDir } from '../src/console/serve.ts';
import { startTestApp, type TestApp } from './harness.ts';

/** SPEC 14: the console served by the same server at /console, from the build `npm ci` made, nothing from elsewhere. */
describe('the console pages at /console', () => {
  let test: TestApp;
  const dir = consoleBuildDir();

  beforeAll(async () => {
    test = await startTestApp();
  });
  afterAll(() => test.close());

  it('was built at install (packages/console/dist), with at most 300 KB of gzipped JavaScript', () => {
    expect(dir, 'packages/console/dist is missing: npm ci builds it (the root prepare script)').toBeDefined();
    const scripts = readdirSync(join(dir!, 'assets')).filter((name) => name.endsWith('.js'));
    expect(scripts.length).toBeGreaterThan(0);
    const gzipped = scripts.reduce((sum, name) => sum + gzipSync(readFileSync(join(dir!, 'assets', name)), { level: 9 }).length, 0);
    expect(gzipped).toBeLessThanOrEqual(300 * 1024);
  });

  it('answers every page with the app, under a CSP that allows only this server, revalidated on each load', async () => {
    for (const url of ['/console/', '/console/keys', '/console/ops/organizations/123', '/console/accept-invitation']) {
      const page = await test.app.inject({ method: 'GET', url });
      expect(page.statusCode, url).toBe(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.headers['cache-control']).toBe('no-cache');
      expect(page.headers['content-security-policy']).toContain("default-src 'self'");
      expect(page.headers['content-security-policy']).toContain("script-src 'self'");
      expect(page.headers['content-security-policy']).not.toContain('unsafe-inline');
      expect(page.headers['x-frame-options']).toBe('DENY');
      expect(page.body).toContain('<div id="root">');
      // Nothing from a CDN: every script and style the page loads is one of ours.
      const loaded = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!).filter((ref) => !ref.startsWith('data:'));
      expect(loaded.length).toBeGreaterThan(0);
      for (const ref of loaded) expect(ref, ref).toMatch(/^\/console\/assets\//);
    }
    expect((await test.app.inject({ method: 'GET', url: '/console' })).headers.location).toBe('/console/');
  });

  it('serves the hashed assets as immutable, and a missing one as 404 rather than the app', async () => {
    const index = (await test.app.inject({ method: 'GET', url: '/console/' })).body;
    const script = /src="(\/console\/assets\/[^"]+\.js)"/.exec(index)![1]!;
    const asset = await test.app.inject({ method: 'GET', url: script });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const missing = await test.app.inject({ method: 'GET', url: '/console/assets/index-0000000.js' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('NOT_FOUND');
  });

  it('keeps unknown console API routes in the error envelope, never the app', async () => {
    for (const url of ['/console/api/nope', '/console/api', '/console/api/org/nothing-here']) {
      const answer = await test.app.inject({ method: 'GET', url });
      expect(answer.statusCode, url).toBe(404);
      expect(answer.json().error.code).toBe('NOT_FOUND');
    }
  });
});
