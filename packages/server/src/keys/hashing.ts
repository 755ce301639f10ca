import { BcryptThreads } from './bcrypt-threads.ts';

export class HashQueueFullError extends Error {}

/**
 * bcrypt, the record of a key's secret (SPEC 1.1): hashed when a key is issued, and verified only for a key with no
 * digest this instance can check (SPEC 2: once per key per deployment). It runs off the event loop, on worker
 * threads (bcrypt-threads.ts; verifications at lower priority). A semaphore bounds how many run at once, and a
 * bounded wait list refuses work beyond it, so a flood of wrong secrets cannot monopolise the CPU.
 */
export class SecretHasher {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  verifications = 0;
  peakConcurrency = 0;

  private readonly threads: BcryptThreads;

  constructor(
    readonly cost: number,
    readonly concurrency: number,
    /** How much lower than the event loop the hashing threads run (0 to 19, as nice(1)). */
    niceness = 0,
    readonly maxWaiting = 256,
  ) {
    this.threads = new BcryptThreads(concurrency, niceness);
  }

  hash(secret: string): Promise<string> {
    return this.withSlot(() => this.threads.hash(secret, this.cost));
  }

  verify(secret: string, secretHash: string): Promise<boolean> {
    return this.withSlot(() => {
      this.verifications++;
      return this.threads.verify(secret, secretHash);
    });
  }

  /** Linux thread ids of the hashing threads, for issuing and for verifying (bcrypt-threads.ts). */
  get threadIds(): { urgent: number[]; background: number[] } {
    return this.threads.threadIds;
  }

  close(): Promise<void> {
    return this.threads.close();
  }

  get inFlight(): number {
    return this.running;
  }

  private async withSlot<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxWaiting) throw new HashQueueFullError('hash queue full');
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    this.peakConcurrency = Math.max(this.peakConcurrency, this.running);
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter, so `running` never dips and lets a newcomer jump the queue.
      if (next) next();
      else this.running--;
    }
  }
}
