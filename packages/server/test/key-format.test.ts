import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findKeysInText, formatKey, generateKey, generateKeyId, parseKey } from '../src/keys/format.ts';

const envs = fc.constantFrom<'live' | 'test'>('live', 'test');
const prefixes = fc.stringMatching(/^[a-z][a-z0-9]{1,7}$/);
const randomParts = fc.uint8Array({ minLength: 28, maxLength: 28 });
const crockfordIds = fc.stringMatching(/^[0-9A-HJKMNP-TV-Z]{16}$/);
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

describe('key format (SPEC 1.1)', () => {
  it('every generated key parses, passes its checksum and round-trips its parts', () => {
    fc.assert(
      fc.property(prefixes, envs, crockfordIds, randomParts, (prefix, env, keyId, random) => {
        const key = formatKey(prefix, env, keyId, random);
        const parsed = parseKey(key, prefix);
        expect(parsed).not.toBeNull();
        expect(parsed).toMatchObject({ prefix, env, keyId, displayPrefix: `${prefix}_${env}_${keyId}` });
        expect(parsed!.secret).toHaveLength(43);
        expect(`${parsed!.displayPrefix}_${parsed!.secret}`).toBe(key);
      }),
      { numRuns: 2000 },
    );
  });

  it('any single-character change makes the key fail', () => {
    fc.assert(
      fc.property(envs, randomParts, fc.nat(), fc.nat(), (env, random, positionSeed, replacementSeed) => {
        const key = formatKey('lp', env, generateKeyId(), random);
        const position = positionSeed % key.length;
        const original = key[position]!;
        const choices = [...BASE64URL].filter((character) => character !== original);
        const mutated = key.slice(0, position) + choices[replacementSeed % choices.length] + key.slice(position + 1);
        expect(parseKey(mutated, 'lp')).toBeNull();
      }),
      { numRuns: 5000 },
    );
  });

  it('secrets containing _ and - parse (split on the first three underscores only)', () => {
    let seen = 0;
    for (let i = 0; i < 2000 && seen < 50; i++) {
      const { key, parsed } = generateKey('lp', 'live');
      if (/[_-]/.test(parsed.secret)) {
        seen++;
        expect(parseKey(key, 'lp')?.secret).toBe(parsed.secret);
      }
    }
    expect(seen).toBe(50);
  });

  it('nothing the parser is fed makes it throw', () => {
    const anything = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ unit: 'grapheme', maxLength: 100 }),
      fc.anything(),
      fc.tuple(prefixes, envs, fc.string({ maxLength: 30 }), fc.string({ maxLength: 60 })).map((parts) => parts.join('_')),
    );
    fc.assert(
      fc.property(anything, (input) => {
        expect(() => parseKey(input)).not.toThrow();
        expect(() => parseKey(input, 'lp')).not.toThrow();
      }),
      { numRuns: 5000 },
    );
  });

  it('rejects the wrong prefix, the wrong env and a secret of the wrong length', () => {
    const { key } = generateKey('lp', 'test');
    expect(parseKey(key, 'xy')).toBeNull();
    expect(parseKey(key.replace('_test_', '_prod_'), 'lp')).toBeNull();
    expect(parseKey(`${key}A`, 'lp')).toBeNull();
    expect(parseKey(key.slice(0, -1), 'lp')).toBeNull();
  });

  it('finds exactly the checksum-valid keys in text, including inside a minified line', () => {
    const real = generateKey('lp', 'live').key;
    const other = generateKey('lp', 'test').key;
    const broken = real.slice(0, -2) + (real.endsWith('AA') ? 'BA' : 'AA');
    const text = `const a="${real}";var b='${broken}',c=\`${other}\`;xx_live_${real.slice(8)}`;
    expect(findKeysInText(text, 'lp').map((hit) => hit.parsed.displayPrefix)).toEqual([real.slice(0, 24), other.slice(0, 24)]);
  });
});
