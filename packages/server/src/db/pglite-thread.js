// The embedded store's database (PGlite) on a worker thread of its own, for db/pglite-host.ts: one task at a time,
// answered by id. Plain JavaScript: a worker thread starts without the TypeScript loader.
import { Blob } from 'node:buffer';
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';

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

async function run(pglite, task) {
  if (task.kind === 'exec') return lastResult(await pglite.exec(task.sql));
  if (task.kind === 'copy') {
    await pglite.query(task.sql, [], { blob: new Blob([task.text]) });
    return NO_ROWS;
  }
  if (task.begin) await pglite.exec(task.begin);
  const result = await pglite.query(task.sql, task.params);
  return { rows: result.rows, affectedRows: result.affectedRows };
}

let pglite;
try {
  pglite = await PGlite.create(workerData.dataDir, { parsers: { [INT8_OID]: (value) => Number(value) } });
  parentPort.postMessage({ ready: true });
} catch (error) {
  parentPort.postMessage({ ready: false, error: describe(error) });
}

parentPort.on('message', async (task) => {
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
});
