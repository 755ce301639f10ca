import { Worker } from 'node:worker_threads';

type Task = { kind: 'hash'; secret: string; cost: number } | { kind: 'verify'; secret: string; hash: string };
type Reply = { ready: true; threadId: number | null } | { value: string | boolean } | { error: string };

interface Thread {
  worker: Worker;
  /** The Linux thread id, once the thread has lowered its own priority; null where it could not. */
  threadId: number | null;
  current?: { resolve: (value: string | boolean) => void; reject: (error: Error) => void };
}

/**
 * Worker threads that run bcrypt at a lower scheduling priority (`niceness`, as nice(1)). When the machine has a
 * spare core they hash at full speed; when every core is busy, the event loop serving verified keys comes first and
 * a flood of wrong secrets waits. Started on first use, at most `size` of them; the caller (SecretHasher's
 * semaphore) never gives them more than `size` tasks at once.
 */
export class BcryptThreads {
  private readonly idle: Thread[] = [];
  private readonly threads = new Set<Thread>();

  constructor(
    private readonly size: number,
    private readonly niceness: number,
  ) {}

  hash(secret: string, cost: number): Promise<string> {
    return this.run({ kind: 'hash', secret, cost }) as Promise<string>;
  }

  verify(secret: string, hash: string): Promise<boolean> {
    return this.run({ kind: 'verify', secret, hash }) as Promise<boolean>;
  }

  /** Linux thread ids of the started threads that lowered their priority (for tests and diagnostics). */
  get niceThreadIds(): number[] {
    return [...this.threads].flatMap((thread) => (thread.threadId === null ? [] : [thread.threadId]));
  }

  async close(): Promise<void> {
    const threads = [...this.threads];
    this.threads.clear();
    this.idle.length = 0;
    await Promise.all(threads.map((thread) => thread.worker.terminate()));
  }

  private async run(task: Task): Promise<string | boolean> {
    const thread = this.idle.pop() ?? (await this.start());
    thread.worker.ref();
    try {
      return await new Promise<string | boolean>((resolve, reject) => {
        thread.current = { resolve, reject };
        thread.worker.postMessage(task);
      });
    } finally {
      thread.current = undefined;
      if (this.threads.has(thread)) {
        // An idle thread must not keep a process alive that has nothing else to do.
        thread.worker.unref();
        this.idle.push(thread);
      }
    }
  }

  private start(): Promise<Thread> {
    if (this.threads.size >= this.size) return Promise.reject(new Error('bcrypt threads: more tasks than threads'));
    const worker = new Worker(new URL('./bcrypt-thread.js', import.meta.url), { workerData: { niceness: this.niceness } });
    const thread: Thread = { worker, threadId: null };
    this.threads.add(thread);
    return new Promise((resolve, reject) => {
      // A thread that fails or is terminated takes its task with it; the next task starts a new thread.
      const fail = (error: Error) => {
        this.forget(thread);
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

  private forget(thread: Thread): void {
    this.threads.delete(thread);
    const index = this.idle.indexOf(thread);
    if (index !== -1) this.idle.splice(index, 1);
  }
}
