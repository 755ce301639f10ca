import { Worker } from 'node:worker_threads';

export interface EmbeddedResult {
  rows: unknown[];
  affectedRows?: number | undefined;
}

type Task = { kind: 'query'; sql: string; params: readonly unknown[]; begin?: string | undefined } | { kind: 'exec'; sql: string } | { kind: 'copy'; sql: string; text: string } | { kind: 'close' };
type ErrorFields = { message: string; stack?: string } & Record<string, unknown>;
type Reply = { ready: true } | { ready: false; error: ErrorFields } | { id: number; result: EmbeddedResult } | { id: number; error: ErrorFields };

/** An error from the thread with PostgreSQL's fields (code, constraint, severity, …) as the store's callers read them. */
function errorOf(fields: ErrorFields): Error {
  const { message, stack, ...rest } = fields;
  const error = Object.assign(new Error(message), rest);
  if (stack) error.stack = stack;
  return error;
}

/**
 * The embedded store's PGlite, run on a worker thread (db/pglite-thread.js) rather than on the event loop's. PGlite
 * executes a statement synchronously inside its thread (WebAssembly), so on the event loop's thread every statement
 * (a request log insert, a usage write for thousands of keys, a 31-day usage read) was that long a pause for every
 * request in flight. Here the event loop only posts the statement and takes the rows back.
 */
export class PGliteHost {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (result: EmbeddedResult) => void; reject: (error: Error) => void }>();
  private failure: Error | undefined;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: Reply) => {
      if (!('id' in reply)) return;
      const waiting = this.pending.get(reply.id);
      if (!waiting) return;
      this.settled(reply.id);
      if ('error' in reply) waiting.reject(errorOf(reply.error));
      else waiting.resolve(reply.result);
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      for (const [id, waiting] of this.pending) {
        this.settled(id);
        waiting.reject(error);
      }
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the embedded store's thread exited with code ${code}`)));
  }

  /** Opens the store in `dataDir` (or `memory://`) on a new thread; rejects with PGlite's own error if it cannot. */
  static async start(dataDir: string): Promise<PGliteHost> {
    const worker = new Worker(new URL('./pglite-thread.js', import.meta.url), { workerData: { dataDir } });
    const ready = await new Promise<Reply>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the embedded store's thread exited with code ${code} while opening`)));
    });
    if ('ready' in ready && !ready.ready) {
      await worker.terminate();
      throw errorOf(ready.error);
    }
    // No statement waiting: the thread must not keep a process alive that has nothing else to do.
    worker.unref();
    return new PGliteHost(worker);
  }

  /**
   * One statement with parameters (the extended protocol); with `begin`, that transaction-opening statement runs
   * first, in the same trip to the thread.
   */
  query(sql: string, params: readonly unknown[], begin?: string): Promise<EmbeddedResult> {
    return this.send({ kind: 'query', sql, params, begin });
  }

  /** Statements without parameters (the simple protocol, which allows several): the last one's result. */
  exec(sql: string): Promise<EmbeddedResult> {
    return this.send({ kind: 'exec', sql });
  }

  /** `COPY … FROM '/dev/blob'` with `text` as the blob. */
  async copyFrom(sql: string, text: string): Promise<void> {
    await this.send({ kind: 'copy', sql, text });
  }

  async close(): Promise<void> {
    if (!this.failure) await this.send({ kind: 'close' }).catch(() => undefined);
    await this.worker.terminate();
  }

  private send(task: Task): Promise<EmbeddedResult> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...task, id });
    });
  }

  private settled(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker.unref();
  }
}
