import { Worker } from 'node:worker_threads';

type Task = { kind: 'hash'; secret: string; cost: number } | { kind: 'verify'; secret: string; hash: string };
type Reply = { ready: true; threadId: number | null } | { value: string | boolean } | { error: string };

interface Thread {
  worker: Worker;
  /** The Linux thread id (null elsewhere), known once the thread has started and set its own priority. */
  threadId: number | null;
  current?: { resolve: (value: string | boolean) => void; reject: (error: Error) => void };
}

/** Threads of one scheduling priority. */
interface Pool {
  niceness: number;
  idle: Thread[];
  threads: Set<Thread>;
}

/**
 * Worker threads for bcrypt, of two priorities. Verifications (a key with no digest yet, or a flood of wrong secrets
 * for such keys) run on threads of lower scheduling priority (`niceness`, as nice(1)): with a spare core they run at
 * full speed, and when every core is busy the event loop serving verified keys comes first. Hashing a key being
 * issued runs at the event loop's priority: someone waits for it. Threads start on first use; the caller
 * (SecretHasher's semaphore) never gives either pool more than `size` tasks at once.
 */
export class BcryptThreads {
  private readonly urgent: Pool = { niceness: 0, idle: [], threads: new Set() };
  private readonly background: Pool;

  constructor(
    private readonly size: number,
    niceness: number,
  ) {
    this.background = { niceness, idle: [], threads: new Set() };
  }

  hash(secret: string, cost: number): Promise<string> {
    return this.run(this.urgent, { kind: 'hash', secret, cost }) as Promise<string>;
  }

  verify(secret: string, hash: string): Promise<boolean> {
    return this.run(this.background, { kind: 'verify', secret, hash }) as Promise<boolean>;
  }

  /** Linux thread ids of the started threads, by pool (for tests and diagnostics). */
  get threadIds(): { urgent: number[]; background: number[] } {
    const ids = (pool: Pool) => [...pool.threads].flatMap((thread) => (thread.threadId === null ? [] : [thread.threadId]));
    return { urgent: ids(this.urgent), background: ids(this.background) };
  }

  async close(): Promise<void> {
    const threads = [...this.urgent.threads, ...this.background.threads];
    for (const pool of [this.urgent, this.background]) {
      pool.threads.clear();
      pool.idle.length = 0;
    }
    await Promise.all(threads.map((thread) => thread.worker.terminate()));
  }

  private async run(pool: Pool, task: Task): Promise<string | boolean> {
    const thread = pool.idle.pop() ?? (await this.start(pool));
    thread.worker.ref();
    try {
      return await new Promise<string | boolean>((resolve, reject) => {
        thread.current = { resolve, reject };
        thread.worker.postMessage(task);
      });
    } finally {
      thread.current = undefined;
      if (pool.threads.has(thread)) {
        // An idle thread must not keep a process alive that has nothing else to do.
        thread.worker.unref();
        pool.idle.push(thread);
      }
    }
  }

  private start(pool: Pool): Promise<Thread> {
    if (pool.threads.size >= this.size) return Promise.reject(new Error('bcrypt threads: more tasks than threads'));
    const worker = new Worker(new URL('./bcrypt-thread.js', import.meta.url), { workerData: { niceness: pool.niceness } });
    const thread: Thread = { worker, threadId: null };
    pool.threads.add(thread);
    return new Promise((resolve, reject) => {
      // A thread that fails or is terminated takes its task with it; the next task starts a new thread.
      const fail = (error: Error) => {
        this.forget(pool, thread);
        if (thread.current) thread.current.reject(error);
        else reject(error);
      };
      worker.on('error', fail);
      worker.on('exit', (code) => fail(new Error(`bcrypt thread exited with code ${code}`)));
      worker.on('message', (reply: Reply) => {
        if ('ready' in reply) {
          thread.threadId = reply.threadId;
          resolve(thread);
        } else if ('error' in reply) {
          thread.current?.reject(new Error(reply.error));
        } else {
          thread.current?.resolve(reply.value);
        }
      });
    });
  }

  private forget(pool: Pool, thread: Thread): void {
    pool.threads.delete(thread);
    const index = pool.idle.indexOf(thread);
    if (index !== -1) pool.idle.splice(index, 1);
  }
}
