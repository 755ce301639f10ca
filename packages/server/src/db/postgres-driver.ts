import {
  type CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Kysely,
  type Driver,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import type pg from 'pg';
import { inlineParameters } from './inline-parameters.ts';
import type { Database } from './schema.ts';

/**
 * Kysely's driver for PostgreSQL, but a transaction costs no round trips of its own, and a statement whose answer
 * can wait travels with the next one: BEGIN goes in one message with the transaction's first statement (or with one
 * marked by `travelingWithNext`, and the statement after it), and COMMIT with the statement marked
 * `endingTransaction`. They go through the simple query protocol, which carries several statements but no
 * parameters, so those statements go with their values inlined (db/inline-parameters.ts). A request's unit of work
 * (claim, change, answer) is then two round trips instead of five: POST /v1/projects went from 0.61 to 0.84 of
 * bare Fastify + pg running the same four statements (bench unit-of-work). A statement that fails aborts the
 * transaction as before and skips what was sent after it; Kysely then rolls back as usual.
 */
export function postgresDialect(pool: pg.Pool): Dialect {
  return {
    createAdapter: () => new PostgresAdapter(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
    createDriver: () => new MergingPostgresDriver(pool),
  };
}

const endsItsTransaction = new WeakSet<CompiledQuery>();
/** Statements marked to travel with the next one, with what vets their finding. */
const travelsWithNext = new WeakMap<CompiledQuery, Vet | undefined>();
const heldResults = new WeakMap<CompiledQuery, () => Promise<QueryResult<unknown>>>();

/** Throws when what a held statement found means the transaction must not go on. */
type Vet = (result: QueryResult<unknown>) => void;

/**
 * Marks the last statement of a transaction: it is sent with the COMMIT, and the transaction's own commit then has
 * nothing left to send. Nothing may run in the transaction after it. Other drivers (PGlite's) ignore the mark.
 */
export function endingTransaction<Q extends CompiledQuery>(query: Q): Q {
  endsItsTransaction.add(query);
  return query;
}

/**
 * Runs `query` as the first statement of the transaction `trx`, but lets it travel with the transaction's next
 * statement: what it found is read later, through the function returned, which sends it on its own if nothing went
 * since. The statement after it runs whatever it finds; `vet` then sees what it found, and what `vet` throws is what
 * that next statement throws, so nothing after it runs (the unit of work's claim: another request holds the key, or
 * answered it; the transaction is then rolled back). If the message they share fails, both fail with its error:
 * which of them failed is not known. Other drivers run it at once, and vet it at once.
 */
export async function travelingWithNext<R>(trx: Kysely<Database>, query: CompiledQuery, vet?: (result: QueryResult<R>) => void): Promise<() => Promise<QueryResult<R>>> {
  travelsWithNext.set(query, vet as Vet | undefined);
  const result = await trx.executeQuery<R>(query);
  const held = heldResults.get(query);
  if (held) return held as () => Promise<QueryResult<R>>;
  vet?.(result);
  return async () => result;
}

/** Where a connection's transaction stands: BEGIN not sent yet, open on the server, or committed with a statement. */
type TransactionState = 'none' | 'deferred' | 'open' | 'committed';

interface Held {
  query: CompiledQuery;
  vet: Vet | undefined;
  settle(result: QueryResult<unknown>): void;
  fail(error: unknown): void;
}

const BEGIN = 'BEGIN';

class MergingConnection implements DatabaseConnection {
  state: TransactionState = 'none';
  begin = BEGIN;
  /** A statement waiting to travel with the next one. */
  private held: Held | undefined;

  constructor(readonly client: pg.PoolClient) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    // It would run on its own, outside the transaction the caller believes it is in.
    if (this.state === 'committed') throw new Error('a statement after the one that ended its transaction');
    if (this.state === 'deferred' && !this.held && travelsWithNext.has(query)) return this.hold<R>(query);
    const ends = this.state !== 'none' && endsItsTransaction.has(query);
    // A held statement's answer decides whether the transaction may commit, so it never travels with the COMMIT.
    if (ends && this.held) await this.sendHeld();
    const held = this.held;
    this.held = undefined;
    if (this.state !== 'deferred' && !ends && !held) return resultOf<R>(await this.client.query(query.sql, [...query.parameters]));
    let results: pg.QueryResult[];
    try {
      // Inside the try: a statement that cannot be inlined fails the held one too, rather than leave it unanswered.
      results = await this.sendMessage([...(held ? [inlined(held.query)] : []), inlined(query), ...(ends ? ['COMMIT'] : [])]);
    } catch (error) {
      held?.fail(error);
      throw error;
    }
    if (ends) this.state = 'committed';
    if (held) {
      const found = resultOf(results[0]!);
      held.settle(found);
      held.vet?.(found);
    }
    return resultOf<R>(results[held ? 1 : 0]!);
  }

  // eslint-disable-next-line require-yield -- nothing streams; Kysely's interface asks for the method
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not used by Gatehouse');
  }

  async end(verb: 'COMMIT' | 'ROLLBACK'): Promise<void> {
    if (this.held) {
      if (verb === 'COMMIT') await this.sendHeld();
      else this.drop(new Error('the transaction was rolled back before the statement was sent'));
    }
    const state = this.state;
    this.state = 'none';
    // A transaction that sent nothing has nothing to end; one committed with its last statement is already over.
    if (state === 'open') await this.client.query(verb);
  }

  reset(): void {
    if (this.held) this.drop(new Error('the connection was released before the statement was sent'));
    this.state = 'none';
  }

  private hold<R>(query: CompiledQuery): QueryResult<R> {
    let settle!: Held['settle'];
    let fail!: Held['fail'];
    const result = new Promise<QueryResult<unknown>>((resolve, reject) => {
      settle = resolve;
      fail = reject;
    });
    // Read only if the caller asks; an unread failure is the statement's that shared its message, reported there.
    result.catch(() => {});
    this.held = { query, vet: travelsWithNext.get(query), settle, fail };
    heldResults.set(query, async () => {
      if (this.held?.query === query) await this.sendHeld();
      return result;
    });
    return { rows: [] };
  }

  /** Sends the held statement on its own (with the BEGIN, if that has not gone yet). */
  private async sendHeld(): Promise<void> {
    const held = this.held!;
    this.held = undefined;
    try {
      const [found] = await this.sendMessage([inlined(held.query)]);
      held.settle(resultOf(found!));
    } catch (error) {
      held.fail(error);
      throw error;
    }
  }

  /** One message of `statements`, after BEGIN if that has not gone yet; their results, in order (BEGIN's left out). */
  private async sendMessage(statements: string[]): Promise<pg.QueryResult[]> {
    const opens = this.state === 'deferred';
    // Open before the round trip: a statement that fails leaves the server's transaction open (and aborted).
    this.state = 'open';
    const results = (await this.client.query((opens ? [this.begin, ...statements] : statements).join(';\n'))) as unknown as pg.QueryResult | pg.QueryResult[];
    const each = Array.isArray(results) ? results : [results];
    return opens ? each.slice(1) : each;
  }

  private drop(error: Error): void {
    this.held?.fail(error);
    this.held = undefined;
  }
}

const inlined = (query: CompiledQuery) => inlineParameters(query.sql, query.parameters);

function resultOf<R>(result: pg.QueryResult): QueryResult<R> {
  const { command, rowCount, rows } = result;
  const changes = command === 'INSERT' || command === 'UPDATE' || command === 'DELETE' || command === 'MERGE';
  return { numAffectedRows: changes ? BigInt(rowCount ?? 0) : undefined, rows: (rows ?? []) as R[] };
}

class MergingPostgresDriver implements Driver {
  private readonly connections = new WeakMap<pg.PoolClient, MergingConnection>();

  constructor(private readonly pool: pg.Pool) {}

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    const client = await this.pool.connect();
    let connection = this.connections.get(client);
    if (!connection) {
      connection = new MergingConnection(client);
      this.connections.set(client, connection);
    }
    return connection;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const merging = connection as MergingConnection;
    merging.begin = [BEGIN, settings.isolationLevel && `ISOLATION LEVEL ${settings.isolationLevel}`, settings.accessMode].filter(Boolean).join(' ');
    merging.state = 'deferred';
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as MergingConnection).end('COMMIT');
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as MergingConnection).end('ROLLBACK');
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    const merging = connection as MergingConnection;
    merging.reset();
    merging.client.release();
  }

  async destroy(): Promise<void> {
    await this.pool.end();
  }
}
