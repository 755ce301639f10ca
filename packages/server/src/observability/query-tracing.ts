import type { CompiledQuery, DatabaseConnection, Dialect, Driver, QueryResult, RootOperationNode } from 'kysely';
import { SPAN_KIND, tracing } from './tracing.ts';

type NamedNode = RootOperationNode & {
  from?: { froms?: { table?: { identifier?: { name?: string } } }[] };
  into?: { table?: { identifier?: { name?: string } } };
  table?: { table?: { identifier?: { name?: string } } };
};

/** `SELECT api_keys`, `INSERT audit_entries`, `BEGIN`: the statement's kind and table, never its parameters. */
export function describeStatement(query: CompiledQuery): { operation: string; table: string | undefined } {
  const node = query.query as NamedNode;
  if (node.kind === 'RawNode') return { operation: /^\s*([A-Za-z]+)/.exec(query.sql)?.[1]?.toUpperCase() ?? 'RAW', table: undefined };
  const operation = node.kind.replace(/QueryNode$/, '').replace(/Node$/, '').toUpperCase();
  return { operation, table: node.from?.froms?.[0]?.table?.identifier?.name ?? node.into?.table?.identifier?.name ?? node.table?.table?.identifier?.name };
}

/**
 * Runs one statement inside a CLIENT span when traces are on. The span ends whether the statement succeeds or fails
 * (a Kysely plugin only sees results, so a failed query's span never ended); a failure is marked with its SQLSTATE
 * only, since a database's message can quote the values it was given.
 */
export function traceStatement<T>(system: string, describe: () => { operation: string; table: string | undefined }, run: () => Promise<T>): Promise<T> {
  const traces = tracing.current;
  if (!traces) return run();
  const { operation, table } = describe();
  const span = traces.start(table ? `${operation} ${table}` : operation, {
    kind: SPAN_KIND.client,
    attributes: { 'db.system.name': system, 'db.operation.name': operation, ...(table ? { 'db.collection.name': table } : {}) },
  });
  return run().then(
    (result) => {
      traces.end(span);
      return result;
    },
    (error: unknown) => {
      const code = (error as { code?: unknown } | null)?.code;
      traces.end(span, `database error${typeof code === 'string' ? ` ${code}` : ''}`);
      throw error;
    },
  );
}

/** The description of a statement with no table: a transaction boundary. */
export const fixedStatement = (operation: string) => () => ({ operation, table: undefined });

/**
 * The store's dialect with a span per statement and per transaction boundary. It is always in place and checks
 * `tracing.current` per statement, so a deployment without traces pays one null check.
 */
export function tracedDialect(dialect: Dialect, system: string): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createDriver: () => tracedDriver(dialect.createDriver(), system),
  };
}

function tracedDriver(driver: Driver, system: string): Driver {
  // The driver's own methods get its own connection back (pg's driver releases through a private method of it).
  const inner = new WeakMap<DatabaseConnection, DatabaseConnection>();
  const unwrap = (connection: DatabaseConnection) => inner.get(connection) ?? connection;
  return {
    init: () => driver.init(),
    destroy: () => driver.destroy(),
    async acquireConnection() {
      const connection = await driver.acquireConnection();
      const wrapped: DatabaseConnection = {
        executeQuery: <R>(query: CompiledQuery): Promise<QueryResult<R>> => traceStatement(system, () => describeStatement(query), () => connection.executeQuery<R>(query)),
        streamQuery: <R>(query: CompiledQuery, chunkSize?: number) => connection.streamQuery<R>(query, chunkSize),
      };
      inner.set(wrapped, connection);
      return wrapped;
    },
    releaseConnection: (connection) => driver.releaseConnection(unwrap(connection)),
    beginTransaction: (connection, settings) => traceStatement(system, fixedStatement('BEGIN'), () => driver.beginTransaction(unwrap(connection), settings)),
    commitTransaction: (connection) => traceStatement(system, fixedStatement('COMMIT'), () => driver.commitTransaction(unwrap(connection))),
    rollbackTransaction: (connection) => traceStatement(system, fixedStatement('ROLLBACK'), () => driver.rollbackTransaction(unwrap(connection))),
    ...(driver.savepoint && { savepoint: (connection, name, compile) => driver.savepoint!(unwrap(connection), name, compile) }),
    ...(driver.rollbackToSavepoint && { rollbackToSavepoint: (connection, name, compile) => driver.rollbackToSavepoint!(unwrap(connection), name, compile) }),
    ...(driver.releaseSavepoint && { releaseSavepoint: (connection, name, compile) => driver.releaseSavepoint!(unwrap(connection), name, compile) }),
  };
}
