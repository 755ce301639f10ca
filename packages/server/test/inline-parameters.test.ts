import fc from 'fast-check';
import { CompiledQuery } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inlineParameters } from '../src/db/inline-parameters.ts';
import { createTestStore } from './harness.ts';

/**
 * db/postgres-driver.ts sends some statements with their values inlined (src/db/inline-parameters.ts): each must
 * read back exactly what the same statement with parameters reads, on the real store, for any value, and `$n`
 * inside quotes, identifiers, comments and dollar-quoted bodies must stay as written.
 */

let store: Awaited<ReturnType<typeof createTestStore>>;
beforeAll(async () => {
  store = await createTestStore();
});
afterAll(() => store.close());

async function bothWays(sqlText: string, parameters: unknown[]) {
  const withParameters = await store.db.executeQuery(CompiledQuery.raw(sqlText, parameters));
  const inlined = await store.db.executeQuery(CompiledQuery.raw(inlineParameters(sqlText, parameters)));
  return { withParameters: withParameters.rows, inlined: inlined.rows };
}

// PostgreSQL's text refuses NUL; anything else, including quotes, backslashes and `$1`, must survive.
const text = fc.string({ unit: 'binary', maxLength: 40 }).filter((value) => !value.includes('\u0000'));

describe('inlined parameters', () => {
  it('reads back the same values as parameters do, for every type the store is given', async () => {
    await fc.assert(
      fc.asyncProperty(
        text,
        fc.uint8Array({ maxLength: 40 }),
        fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2200-01-01T00:00:00Z'), noInvalidDate: true }),
        fc.integer(),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.boolean(),
        fc.array(text, { maxLength: 5 }),
        fc.dictionary(text, fc.oneof(text, fc.integer(), fc.boolean(), fc.constant(null)), { maxKeys: 4 }),
        fc.option(text),
        async (string, bytes, date, integer, double, boolean, strings, object, maybe) => {
          const { withParameters, inlined } = await bothWays(
            `SELECT $1::text AS string, $2::bytea AS bytes, $3::timestamptz AS date, $4::int AS integer, $5::float8 AS double,
                    $6::boolean AS boolean, $7::text[] AS strings, $8::jsonb AS object, $9::text AS maybe, $1 = $9 AS same`,
            [string, Buffer.from(bytes), date, integer, double, boolean, strings, object, maybe],
          );
          expect(inlined).toEqual(withParameters);
          const row = inlined[0] as Record<string, unknown>;
          expect(row).toMatchObject({ string, integer, boolean, strings, object, maybe });
          // PGlite reads bytea as a Uint8Array, pg as a Buffer.
          expect(Buffer.from(row.bytes as Uint8Array).equals(Buffer.from(bytes))).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('replaces only the placeholders: not what quotes, identifiers, comments or dollar quotes hold', async () => {
    const statement = `SELECT $1::text AS "$1", 'it''s $2' AS quoted, E'\\'$1\\\\' AS escaped, $$ $1 $$ AS dollars,
      $body$ $2 $body$ AS tagged /* $1 /* nested $2 */ still $1 */, -- $1
      $2::text AS last, 'x' || $1 AS joined`;
    const { withParameters, inlined } = await bothWays(statement, ["o'brien \\ $2", 'two']);
    expect(inlined).toEqual(withParameters);
    expect(inlined[0]).toEqual({
      $1: "o'brien \\ $2",
      quoted: "it's $2",
      escaped: "'$1\\",
      dollars: ' $1 ',
      tagged: ' $2 ',
      last: 'two',
      joined: "xo'brien \\ $2",
    });
  });

  it('refuses a placeholder it has no value for, rather than send the statement without it', () => {
    expect(() => inlineParameters('SELECT $1, $2', ['one'])).toThrow(/\$2/);
  });
});
