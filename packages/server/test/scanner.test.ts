import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyIdOfDisplayPrefix, scanCommand, type KillOutcome } from '../src/cli/scan.ts';
import { generateKey, type KeyEnv } from '../src/keys/format.ts';
import { findKeysInFile } from '../src/scanner/find-keys.ts';
import { admin, issueKey, partnerWithKey, secretOf, withKey } from './factories.ts';
import { startTestApp, type TestApp } from './harness.ts';

const fresh = (env: KeyEnv = 'live', prefix = 'lp') => generateKey(prefix, env).key;
const displayPrefixOf = (key: string) => key.split('_').slice(0, 3).join('_');

/** Changes one character in the middle of the secret: the checksum no longer holds. */
function badChecksum(key: string): string {
  const at = key.length - 20;
  return key.slice(0, at) + (key[at] === 'A' ? 'B' : 'A') + key.slice(at + 1);
}

interface Fixture {
  root: string;
  /** `file:line:column displayPrefix`, relative to root, for every key that must be found. */
  expected: string[];
  /** Every key written anywhere in the tree, found or not: none of their secrets may be printed. */
  allKeys: string[];
}

function write(root: string, path: string, content: string | Buffer): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), content);
}

function buildFixture(): Fixture {
  const root = mkdtempSync(join(tmpdir(), 'gatehouse-scan-'));
  const allKeys: string[] = [];
  const key = (env: KeyEnv = 'live', prefix = 'lp') => {
    const made = fresh(env, prefix);
    allKeys.push(made);
    return made;
  };
  const expected: string[] = [];
  const expect_ = (file: string, line: number, column: number, k: string) => expected.push(`${join(root, file)}:${line}:${column} ${displayPrefixOf(k)}`);

  write(root, '.gitignore', 'ignored.env\nbuild/\n*.log\n!keep.log\n');

  const a = key();
  write(root, 'src/config.ts', `// settings\nexport const config = {\n  apiKey: '${a}',\n};\n`);
  expect_('src/config.ts', 3, 12, a);

  // A minified bundle: one long line, the key deep inside it, near-misses around it.
  const b = key('test');
  const padding = 'var x=function(n){return n*2};'.repeat(200);
  const bundleLine = `${padding}var k="${b}",m="${badChecksum(key())}",w="${key('live', 'xx')}";${padding}`;
  write(root, 'dist/bundle.min.js', bundleLine);
  expect_('dist/bundle.min.js', 1, padding.length + 'var k="'.length + 1, b);

  // The same key twice in one file and once in another, with CRLF line endings.
  const c = key();
  write(root, 'docs/README.md', `# Setup\r\n\r\nexport LP_KEY=${c}\r\ncurl -H "X-Api-Key: ${c}" \r\n`);
  expect_('docs/README.md', 3, 15, c);
  expect_('docs/README.md', 4, 21, c);
  write(root, 'scripts/deploy.sh', `#!/bin/sh\nKEY="${c}"\n`);
  expect_('scripts/deploy.sh', 2, 6, c);

  // Near-misses: bad checksum, wrong prefix, truncated, a longer prefix that ends in "lp", a wrong env.
  const truncated = key();
  const longerPrefix = key('live', 'alp');
  const wrongEnv = key().replace('lp_live_', 'lp_prod_');
  write(
    root,
    'near-misses.txt',
    [badChecksum(key()), key('live', 'xx'), `${truncated.slice(0, -1)} end`, longerPrefix, wrongEnv, `${key().slice(0, 30)}`].join('\n'),
  );

  // Ignored by .gitignore, in node_modules, in .git, binary: none is found.
  write(root, 'ignored.env', `LP_KEY=${key()}\n`);
  write(root, 'build/out.js', `const k = "${key()}";\n`);
  write(root, 'debug.log', `${key()}\n`);
  write(root, 'node_modules/pkg/index.js', `module.exports = "${key()}";\n`);
  write(root, '.git/config', `[remote]\n\ttoken = ${key()}\n`);
  write(root, 'assets/logo.png', Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0x0d]), Buffer.from(key()), Buffer.alloc(64)]));

  // Un-ignored by a negation, and a nested .gitignore that applies below its own directory only.
  const f = key();
  write(root, 'keep.log', `token=${f}\n`);
  expect_('keep.log', 1, 7, f);
  write(root, 'nested/.gitignore', 'secret.txt\n');
  write(root, 'nested/secret.txt', key());
  const k = key();
  write(root, 'nested/other.txt', `\n\n${k}`);
  expect_('nested/other.txt', 3, 1, k);
  const secretElsewhere = key();
  write(root, 'secret.txt', secretElsewhere);
  expect_('secret.txt', 1, 1, secretElsewhere);

  return { root, expected, allKeys };
}

async function runScan(paths: string[], options: Partial<Parameters<typeof scanCommand>[1]> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const status = await scanCommand(paths, { prefix: 'lp', out: (line) => out.push(line), err: (line) => err.push(line), ...options });
  return { status, out, err, text: [...out, ...err].join('\n') };
}

function expectNoSecret(text: string, keys: string[]): void {
  for (const key of keys) {
    expect(text).not.toContain(key);
    expect(text).not.toContain(secretOf(key));
  }
}

let fixture: Fixture;
beforeAll(() => {
  fixture = buildFixture();
});
afterAll(() => rmSync(fixture.root, { recursive: true, force: true }));

describe('findKeysInFile', () => {
  it('reports 1-based line and column of every checksum-valid key, and nothing of the secret', () => {
    const a = fresh();
    const b = fresh('test');
    const findings = findKeysInFile(`x\r\n  ${a}\n\n"${b}"${a}`, 'lp');
    expect(findings).toEqual([
      { line: 2, column: 3, displayPrefix: displayPrefixOf(a), keyId: a.split('_')[2], env: 'live' },
      { line: 4, column: 2, displayPrefix: displayPrefixOf(b), keyId: b.split('_')[2], env: 'test' },
      // Directly after the closing quote: still a key (a leaked key with junk around it is still leaked).
      { line: 4, column: 3 + b.length, displayPrefix: displayPrefixOf(a), keyId: a.split('_')[2], env: 'live' },
    ]);
    expect(JSON.stringify(findings)).not.toContain(secretOf(a));
  });

  it('finds keys of the configured prefix only', () => {
    const other = fresh('live', 'xx');
    expect(findKeysInFile(other, 'lp')).toEqual([]);
    expect(findKeysInFile(other, 'xx')).toHaveLength(1);
  });
});

describe('scanCommand', () => {
  it('finds exactly the real keys in the tree, with file:line:column, and exits 1', async () => {
    const { status, out, err, text } = await runScan([fixture.root]);
    expect(status).toBe(1);
    expect([...out].sort()).toEqual([...fixture.expected].sort());
    expect(err.join('\n')).toMatch(/6 keys found at 8 locations in 7 files/);
    expectNoSecret(text, fixture.allKeys);
  });

  it('prints paths as given: a relative root gives relative paths', async () => {
    const root = relative(process.cwd(), fixture.root);
    const result = await runScan([join(root, 'src'), join(root, 'keep.log')]);
    expect(result.out.map((line) => line.split(' ')[0])).toEqual([`${root}/src/config.ts:3:12`, `${root}/keep.log:1:7`]);
  });

  it('reads a file named explicitly even when .gitignore excludes it', async () => {
    const { status, out } = await runScan([join(fixture.root, 'ignored.env')]);
    expect(status).toBe(1);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/ignored\.env:1:8 lp_live_[0-9A-Z]{16}$/);
  });

  it('exits 0 with no output for a clean tree, and 2 for a missing path', async () => {
    const clean = mkdtempSync(join(tmpdir(), 'gatehouse-scan-clean-'));
    try {
      write(clean, 'a.txt', `${badChecksum(fresh())}\n`);
      const result = await runScan([clean]);
      expect(result).toMatchObject({ status: 0, out: [], err: [] });
      const missing = await runScan([join(clean, 'nope')]);
      expect(missing.status).toBe(2);
      expect(missing.err[0]).toMatch(/nope: no such file or directory/);
    } finally {
      rmSync(clean, { recursive: true, force: true });
    }
  });

  it('scans for the configured prefix', async () => {
    const { status, out } = await runScan([join(fixture.root, 'near-misses.txt')], { prefix: 'xx' });
    expect(status).toBe(1);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/near-misses\.txt:2:1 xx_live_/);
  });
});

describe('scanCommand --kill', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  it('kills each key found once, through the admin API by key_id, and reports what it did', async () => {
    const { organization, key: leaked } = await partnerWithKey(t.app);
    const untouched = await issueKey(t.app, organization.id, { name: 'not leaked' });
    const stranger = fresh();
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-scan-kill-'));
    try {
      write(dir, 'app.env', `KEY=${leaked.key}\nOTHER=${stranger}\n`);
      write(dir, 'copy.txt', leaked.key);
      expect((await t.app.inject({ url: '/v1/api-keys', headers: withKey(leaked.key) })).statusCode).toBe(200);

      const received: string[] = [];
      const killKey = async (displayPrefix: string): Promise<KillOutcome> => {
        received.push(displayPrefix);
        const response = await admin(t.app, 'POST', `/admin/v1/keys/by-key-id/${keyIdOfDisplayPrefix(displayPrefix)}/kill`);
        if (response.statusCode === 200) return 'killed';
        if (response.statusCode === 404) return 'not_found';
        throw new Error(`admin API answered ${response.statusCode}`);
      };
      const { status, out, text } = await runScan([dir], { kill: true, killKey });
      expect(status).toBe(1);
      expect(received.sort()).toEqual([leaked.displayPrefix, displayPrefixOf(stranger)].sort());
      expect(out).toEqual(
        expect.arrayContaining([`killed ${leaked.displayPrefix}`, `not found on this deployment: ${displayPrefixOf(stranger)}`]),
      );
      expectNoSecret(text, [leaked.key, stranger]);

      const blocked = await t.app.inject({ url: '/v1/api-keys', headers: withKey(leaked.key) });
      expect(blocked.statusCode).toBe(503);
      expect(blocked.json().error.details).toEqual({ scope: 'key' });
      expect((await t.app.inject({ url: '/v1/api-keys', headers: withKey(untouched.key) })).statusCode).toBe(200);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a failed kill and still exits 1; refuses --kill without a way to reach the admin API', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-scan-kill-'));
    try {
      write(dir, 'a.txt', fresh());
      const failed = await runScan([dir], { kill: true, killKey: async () => Promise.reject(new Error('connection refused')) });
      expect(failed.status).toBe(1);
      expect(failed.out.at(-1)).toMatch(/^kill failed for lp_live_[0-9A-Z]{16}: connection refused$/);
      const unwired = await runScan([dir], { kill: true });
      expect(unwired.status).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
