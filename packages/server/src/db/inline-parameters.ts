import pg from 'pg';
import { prepareValue } from 'pg/lib/utils.js';

/**
 * A parameterized statement as one self-contained statement, for PostgreSQL's simple query protocol, which carries
 * several statements in one message but no parameters (db/postgres-driver.ts sends BEGIN or COMMIT with a statement
 * that way). Each `$n` outside quotes, comments and dollar-quoted bodies becomes the quoted text pg would have sent
 * for it. A quoted literal is of unknown type to PostgreSQL, as an untyped parameter is, so the statement resolves
 * its types the same way; bytes go as bytea's hex form.
 */
export function inlineParameters(sql: string, parameters: readonly unknown[]): string {
  if (parameters.length === 0) return sql;
  let out = '';
  let copiedTo = 0;
  // Only these characters start something to look at; the scan jumps from one to the next.
  const special = /['"$/-]/g;
  for (let found = special.exec(sql); found; found = special.exec(sql)) {
    const at = found.index;
    const char = sql[at]!;
    if (char === "'") special.lastIndex = endOfQuoted(sql, at, "'", isEscapeString(sql, at));
    else if (char === '"') special.lastIndex = endOfQuoted(sql, at, '"', false);
    else if (char === '-') special.lastIndex = sql[at + 1] === '-' ? endOfLine(sql, at) : at + 1;
    else if (char === '/') special.lastIndex = sql[at + 1] === '*' ? endOfBlockComment(sql, at) : at + 1;
    else {
      const placeholder = /^\$(\d+)/.exec(sql.slice(at, at + 8));
      if (placeholder && !isIdentifierChar(sql[at - 1])) {
        const index = Number(placeholder[1]) - 1;
        if (index < 0 || index >= parameters.length) throw new Error(`the statement names $${index + 1} but has ${parameters.length} parameters`);
        out += sql.slice(copiedTo, at) + literalOf(parameters[index]);
        copiedTo = at + placeholder[0].length;
        special.lastIndex = copiedTo;
      } else special.lastIndex = endOfDollarQuoted(sql, at);
    }
  }
  return out + sql.slice(copiedTo);
}

/** The SQL literal for one parameter: NULL, or its text quoted (with E'' when it holds a backslash). */
export function literalOf(value: unknown): string {
  // The common cases without pg's character-by-character escaping: ids, names, numbers.
  if (typeof value === 'number') return `'${value}'`;
  if (typeof value === 'string' && !NEEDS_ESCAPING.test(value)) return `'${value}'`;
  const prepared = prepareValue(value);
  if (prepared === null) return 'NULL';
  if (typeof prepared !== 'string') return ` E'\\\\x${prepared.toString('hex')}'`;
  return pg.escapeLiteral(prepared);
}

const NEEDS_ESCAPING = /['\\]/;

const isIdentifierChar = (char: string | undefined) => char !== undefined && /[\p{L}\p{N}_$]/u.test(char);

/** E'…' strings take backslash escapes; the E must start a token (not end an identifier such as `TYPE`). */
const isEscapeString = (sql: string, quoteAt: number) => /[eE]/.test(sql[quoteAt - 1] ?? '') && !isIdentifierChar(sql[quoteAt - 2]);

function endOfQuoted(sql: string, openAt: number, quote: string, backslashEscapes: boolean): number {
  for (let at = openAt + 1; at < sql.length; at++) {
    const char = sql[at];
    if (backslashEscapes && char === '\\') at++;
    else if (char === quote) {
      if (sql[at + 1] === quote) at++;
      else return at + 1;
    }
  }
  return sql.length;
}

function endOfLine(sql: string, at: number): number {
  const newline = sql.indexOf('\n', at);
  return newline < 0 ? sql.length : newline + 1;
}

/** Block comments nest in PostgreSQL. */
function endOfBlockComment(sql: string, openAt: number): number {
  let depth = 0;
  for (let at = openAt; at < sql.length - 1; at++) {
    if (sql[at] === '/' && sql[at + 1] === '*') {
      depth++;
      at++;
    } else if (sql[at] === '*' && sql[at + 1] === '/') {
      depth--;
      at++;
      if (depth === 0) return at + 1;
    }
  }
  return sql.length;
}

/** `$tag$ … $tag$` (or `$$ … $$`); a `$` that opens no such body is passed over. */
function endOfDollarQuoted(sql: string, at: number): number {
  if (isIdentifierChar(sql[at - 1])) return at + 1;
  const tag = /^\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$/.exec(sql.slice(at, at + 64))?.[0];
  if (!tag) return at + 1;
  const close = sql.indexOf(tag, at + tag.length);
  return close < 0 ? sql.length : close + tag.length;
}
