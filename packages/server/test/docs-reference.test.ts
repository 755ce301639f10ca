import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceInputsFrom, renderReference } from '../src/docs/reference.ts';
import { ERROR_CODES } from '../src/http/errors.ts';
import { ADMIN_TOKEN, startTestApp, type TestApp } from './harness.ts';

const repository = (path: string) => fileURLToPath(new URL(`../../../${path}`, import.meta.url));

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t.close());

describe('docs/reference.md', () => {
  it('is what the code renders today (run `npm run docs` after changing codes, scopes, tiers, plans or routes)', async () => {
    const rendered = renderReference(await referenceInputsFrom(t.app, ADMIN_TOKEN));
    for (const code of ERROR_CODES) expect(rendered).toContain(`| \`${code}\` |`);
    expect(rendered).toContain('`POST /v1/projects/{id}/ingest/website`');
    expect(readFileSync(repository('docs/reference.md'), 'utf8')).toBe(rendered);
  });

  it('notices drift: a changed tier table renders differently', async () => {
    const inputs = await referenceInputsFrom(t.app, ADMIN_TOKEN);
    const changed = renderReference({ ...inputs, rateLimits: { standard: { 'read-light': 1, 'write-light': 1, 'long-running': 1 } } });
    expect(changed).not.toBe(readFileSync(repository('docs/reference.md'), 'utf8'));
  });

  it('the README and docs/ stand alone: no link outside the repository', () => {
    for (const file of ['README.md', 'docs/reference.md', 'docs/cluster.md', 'docs/local-development.md', 'packages/client/README.md']) {
      expect(readFileSync(repository(file), 'utf8'), file).not.toMatch(/\]\(\.\.\/shared\/|\.\.\/\.\.\/shared\//);
    }
  });
});
