import { sql } from 'kysely';

/** Where a newest-first page ended: the last row's time and id (ids break ties between equal times). */
export interface KeysetPosition {
  at: Date;
  id: string;
}

/**
 * Rows strictly after `position` in (time DESC, id DESC) order. A row comparison, so PostgreSQL reads it off the
 * (time, id) index, and (time, id) never changes for a row, so a walk sees each row once while others are inserted.
 */
export const olderThan = (position: KeysetPosition, timeColumn: 'created_at' | 'occurred_at' = 'created_at') =>
  sql<boolean>`(${sql.ref(timeColumn)}, id) < (${position.at}, ${position.id})`;
