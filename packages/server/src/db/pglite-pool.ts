import type { PGliteHost } from './pglite-host.ts';

/**
 * Presents the embedded store (one PGlite, on its own thread) as the small slice of a `pg.Pool` that Kysely's
 * PostgresDialect uses.
 * PGlite is a single connection, so a mutex hands it to one borrower at a time: a transaction keeps it from
 * BEGIN to COMMIT and no other query can interleave with it.
 */
export class PGlitePool {
  private locked = false;
  private readonly waiters: Array<() => void> = [];

  constructor(readonly pglite: PGliteHost) {}

  async connect(): Promise<PGliteConnection> {
    if (this.locked) await new Promise<void>((resolve) => this.waiters.push(resolve));
    else this.locked = true;
    return new PGliteConnection(this.pglite, () => this.release());
  }

  async end(): Promise<void> {
    await this.pglite.close();
  }

  private release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.locked = false;
  }
}

/** Statements that open, close or abandon a transaction, as Kysely sends them (`begin`, `commit`, `rollback`). */
const OPENS_TRANSACTION = /^\s*(begin|start\s+transaction)\b/i;
const ENDS_TRANSACTION = /^\s*(commit|rollback|end|abort)\s*;?\s*$/i;

const NOTHING = { command: 'SELECT', rowCount: 0, rows: [] };

class PGliteConnection {
  private released = false;
  /**
   * A transaction's BEGIN, held until its first statement and sent with it: every statement is a trip to the
   * store's thread and back (some 150 µs here), a transaction holds the one connection for all of its trips, and a
   * unit of work of three statements took five. PostgreSQL takes a transaction's snapshot at its first statement,
   * not at BEGIN, so what the transaction sees is the same.
   */
  private heldBegin: string | undefined;

  constructor(
    private readonly pglite: PGliteHost,
    private readonly onRelease: () => void,
  ) {}

  async query(sql: string, parameters: readonly unknown[] = []): Promise<{ command: string; rowCount: number; rows: unknown[] }> {
    if (parameters.length === 0 && OPENS_TRANSACTION.test(sql) && !this.heldBegin) {
      this.heldBegin = sql;
      return NOTHING;
    }
    const begin = this.heldBegin;
    this.heldBegin = undefined;
    // A transaction that ends before any statement ran never has to reach the store.
    if (begin && parameters.length === 0 && ENDS_TRANSACTION.test(sql)) return NOTHING;
    const result =
      parameters.length === 0
        ? // Without parameters, pg speaks the simple protocol, which allows several statements; PGlite's exec does too.
          await this.pglite.exec(begin ? `${begin};\n${sql}` : sql)
        : await this.pglite.query(sql, parameters, begin);
    // Kysely reports affected rows only for these commands; a CTE may put the verb after its WITH clause.
    const command = /\b(insert|update|delete|merge)\b/i.exec(sql)?.[1]?.toUpperCase() ?? 'SELECT';
    return { command, rowCount: result.affectedRows ?? result.rows.length, rows: result.rows };
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.heldBegin = undefined;
    this.onRelease();
  }
}
