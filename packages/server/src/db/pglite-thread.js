// The embedded store's database (PGlite) on a worker thread of its own, for db/pglite-host.ts: one task at a time,
// answered by id. Plain JavaScript: a worker thread starts without the TypeScript loader.
import { Blob, Buffer } from 'node:buffer';
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, parse, protocol } from '@electric-sql/pglite';
import { prepareValue } from 'pg/lib/utils.js';

/** bigint columns (count(*), balances) read as numbers, as node-postgres's are by the PostgreSQL store's setup. */
const INT8_OID = 20;

/**
 * An error as plain fields: structured cloning keeps an Error's message and stack but not PostgreSQL's fields (code,
 * constraint, severity, …), which the store's callers read. Only primitive fields go: parameters stay on this side.
 */
function describe(error) {
  const fields = { message: error instanceof Error ? error.message : String(error) };
  if (error instanceof Error) {
    fields.stack = error.stack;
    for (const [name, value] of Object.entries(error)) {
      if (name !== 'params' && (value === null || ['string', 'number', 'boolean'].includes(typeof value))) fields[name] = value;
    }
  }
  return fields;
}

/** What a statement that returns no rows answers (COPY, close, an empty exec). */
const NO_ROWS = { rows: [], affectedRows: 0 };

/** The last statement's result (exec runs several), as the pool hands it to Kysely. */
function lastResult(results) {
  const result = results.at(-1);
  return result ? { rows: result.rows, affectedRows: result.affectedRows } : NO_ROWS;
}

/**
 * Statements kept prepared, by their SQL text, least recently used first. PGlite's own query() parses and describes
 * a statement every time, in six calls into PostgreSQL, before it binds the parameters as the description says; a
 * prepared statement is bound, planned for its values and run in one call, in half to two thirds of the time (an
 * insert of a project 180 µs against 360, a page of 20 rows 290 against 445). Bounded: a text seen once (an IN list
 * of another length) only takes the oldest one's place.
 */
const PREPARED_LIMIT = 128;
const prepared = new Map();
let closing = [];
let nextName = 0;

/**
 * DDL can change what a prepared statement returns, and PostgreSQL then refuses to run it ("cached plan must not
 * change result type"): a schema change forgets them all.
 */
const CHANGES_SCHEMA = /\b(create|alter|drop|truncate)\s/i;

function forgetPrepared() {
  closing.push(...prepared.values());
  prepared.clear();
}

/**
 * One statement with parameters, in one call: Parse (the first time its text is seen), Bind, Describe, Execute and
 * Sync. Parameters become what node-postgres sends for them (pg's own prepareValue, with types left for PostgreSQL
 * to infer), so a value means the same on both stores.
 */
async function preparedQuery(pglite, sql, params) {
  const { serialize } = protocol;
  const parts = closing.map((name) => serialize.close({ type: 'S', name }));
  closing = [];
  let name = prepared.get(sql);
  const known = name !== undefined;
  if (known) {
    prepared.delete(sql);
  } else {
    name = `gatehouse_${nextName++}`;
    parts.push(serialize.parse({ name, text: sql }));
  }
  parts.push(serialize.bind({ statement: name, values: params.map(prepareValue) }), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync());
  const { messages } = await pglite.execProtocol(Buffer.concat(parts), { throwOnError: false });
  // Kept (as the most recently used) if PostgreSQL has it: a statement that failed to parse does not exist.
  if (known || messages.some((message) => message.name === 'parseComplete')) {
    prepared.set(sql, name);
    if (prepared.size > PREPARED_LIMIT) {
      const [oldest, oldestName] = prepared.entries().next().value;
      prepared.delete(oldest);
      closing.push(oldestName);
    }
  }
  const failure = messages.find((message) => message.name === 'error');
  if (failure) {
    if (failure.code === '0A000') forgetPrepared();
    throw failure;
  }
  const [result] = parse.parseResults(messages, parsers);
  return { rows: result?.rows ?? [], affectedRows: result?.affectedRows };
}

async function run(pglite, task) {
  if (task.kind === 'exec') {
    if (CHANGES_SCHEMA.test(task.sql)) forgetPrepared();
    return lastResult(await pglite.exec(task.sql));
  }
  if (task.kind === 'copy') {
    await pglite.query(task.sql, [], { blob: new Blob([task.text]) });
    return NO_ROWS;
  }
  if (task.begin) await pglite.exec(task.begin);
  return preparedQuery(pglite, task.sql, task.params);
}

let pglite;
/** PGlite's parsers for each type (its array types included), as its own query() uses them. */
let parsers;
try {
  pglite = await PGlite.create(workerData.dataDir, { parsers: { [INT8_OID]: (value) => Number(value) } });
  // A prepared statement is planned for its parameters every time, as node-postgres's unnamed statements are on
  // PostgreSQL: after five runs PostgreSQL may settle on a generic plan, blind to the values, and for a request-log
  // search by key and status over a million rows that plan took twice as long.
  await pglite.exec('SET plan_cache_mode = force_custom_plan');
  parsers = pglite.parsers;
  parentPort.postMessage({ ready: true });
} catch (error) {
  parentPort.postMessage({ ready: false, error: describe(error) });
}

async function answer(task) {
  try {
    if (task.kind === 'close') {
      await pglite?.close();
      parentPort.postMessage({ id: task.id, result: NO_ROWS });
      parentPort.close();
      return;
    }
    parentPort.postMessage({ id: task.id, result: await run(pglite, task) });
  } catch (error) {
    parentPort.postMessage({ id: task.id, error: describe(error) });
  }
}

// One task at a time, in the order they came: a task is several calls into PostgreSQL (BEGIN and a statement, or
// closing evicted statements before one), and another task's calls must not come between them.
let queue = Promise.resolve();
parentPort.on('message', (task) => {
  queue = queue.then(() => answer(task));
});
