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

class PGliteConnection {
  private released = false;
  constructor(
    private readonly pglite: PGliteHost,
    private readonly onRelease: () => void,
  ) {}

  async query(sql: string, parameters: readonly unknown[] = []): Promise<{ command: string; rowCount: number; rows: unknown[] }> {
    // Without parameters, pg speaks the simple protocol, which allows several statements; PGlite's exec does too.
    const result = parameters.length === 0 ? await this.pglite.exec(sql) : await this.pglite.query(sql, parameters);
    // Kysely reports affected rows only for these commands; a CTE may put the verb after its WITH clause.
    const command = /\b(insert|update|delete|merge)\b/i.exec(sql)?.[1]?.toUpperCase() ?? 'SELECT';
    return { command, rowCount: result.affectedRows ?? result.rows.length, rows: result.rows };
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease();
  }
}
