import { BoundedSemaphore } from '../queue/bounded-semaphore.ts';
import { BcryptThreads } from './bcrypt-threads.ts';

export class HashQueueFullError extends Error {}

/**
 * bcrypt, the record of a key's secret (SPEC 1.1): hashed when a key is issued, and verified only for a key with no
 * digest this instance can check (SPEC 2: once per key per deployment). It runs off the event loop, on worker
 * threads (bcrypt-threads.ts; verifications at lower priority). A semaphore bounds how many run at once, and a
 * bounded wait list refuses work beyond it, so a flood of wrong secrets cannot monopolise the CPU.
 */
export class SecretHasher {
  verifications = 0;

  private readonly threads: BcryptThreads;
  private readonly slots: BoundedSemaphore;

  constructor(
    readonly cost: number,
    readonly concurrency: number,
    /** How much lower than the event loop the hashing threads run (0 to 19, as nice(1)). */
    niceness = 0,
    readonly maxWaiting = 256,
  ) {
    this.threads = new BcryptThreads(concurrency, niceness);
    this.slots = new BoundedSemaphore(concurrency, maxWaiting, () => new HashQueueFullError('hash queue full'));
  }

  hash(secret: string): Promise<string> {
    return this.slots.run(() => this.threads.hash(secret, this.cost));
  }

  verify(secret: string, secretHash: string): Promise<boolean> {
    return this.slots.run(() => {
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
    return this.slots.inFlight;
  }

  get peakConcurrency(): number {
    return this.slots.peakConcurrency;
  }
}
