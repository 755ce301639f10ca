import type { KeysetPosition } from '../db/keyset.ts';
import { ApiError } from './errors.ts';

/**
 * Opaque cursors: base64url of the last row's sort position. A cursor that does not decode is a 400, never a
 * silently restarted walk.
 */
export type CursorPosition = KeysetPosition;

export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(JSON.stringify([position.at.toISOString(), position.id])).toString('base64url');
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Rows are stamped by the database clock, so a real position lies within these years. JavaScript dates reach far
 * beyond what PostgreSQL's timestamptz takes (year 0, negative years), and a position outside is a forged cursor.
 */
const isPlausibleTime = (at: Date) => !Number.isNaN(at.getTime()) && at.getUTCFullYear() >= 1970 && at.getUTCFullYear() <= 9999;

/** `idPattern`: what the rows' ids look like (UUIDs, unless the rows are keyed otherwise, like the request log). */
export function decodeCursor(cursor: string | undefined, idPattern: RegExp = UUID_PATTERN): CursorPosition | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  try {
    const decoded: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(decoded) && decoded.length === 2 && typeof decoded[0] === 'string' && typeof decoded[1] === 'string') {
      const at = new Date(decoded[0]);
      if (isPlausibleTime(at) && idPattern.test(decoded[1])) return { at, id: decoded[1] };
    }
  } catch {
    // falls through to the 400 below
  }
  throw new ApiError('BAD_REQUEST', 'The cursor is not valid.', { parameter: 'cursor' });
}

/** Fetch one row more than the page holds: its presence says whether a next page exists. */
export function pageOf<Row, Item>(
  rows: Row[],
  limit: number,
  position: (row: Row) => CursorPosition,
  present: (row: Row) => Item,
): { data: Item[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return { data: page.map(present), nextCursor: rows.length > limit && last ? encodeCursor(position(last)) : null };
}
