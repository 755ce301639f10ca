import * as crypto from 'node:crypto';
import { createHash } from 'node:crypto';
import { BcryptThreads } from './bcrypt-threads.ts';

// One-shot crypto.hash (Node 20.12+) builds no Hash object: about a third of createHash's cost, on every request.
const sha256 =
  typeof crypto.hash === 'function'
    ? (text: string) => crypto.hash('sha256', text, 'base64url')
    : (text: string) => createHash('sha256').update(text).digest('base64url');

/** SHA-256 of the full key: the verified-key cache's index, so the plain key is never held as a map key. */
export function fingerprint(fullKey: string): string {
  return sha256(fullKey);
}

export class HashQueueFullError extends Error {}

/**
 * bcrypt runs off the event loop, on worker threads (bcrypt-threads.ts; unproven secrets at lower priority). A
 * semaphore bounds how many run at once, and a bounded wait list refuses work beyond it, so a flood of wrong secrets
 * cannot monopolise the CPU.
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

  /**
   * `priority`: a key verified before goes to the head of the queue, is never refused for a full one, and is hashed
   * at the event loop's priority rather than the flood's.
   */
  verify(secret: string, secretHash: string, priority = false): Promise<boolean> {
    return this.withSlot(() => {
      this.verifications++;
      return this.threads.verify(secret, secretHash, priority);
    }, priority);
  }

  /** Linux thread ids of the hashing threads, urgent and background (bcrypt-threads.ts). */
  get threadIds(): { urgent: number[]; background: number[] } {
    return this.threads.threadIds;
  }

  close(): Promise<void> {
    return this.threads.close();
  }

  get inFlight(): number {
    return this.running;
  }

  private async withSlot<T>(work: () => Promise<T>, priority = false): Promise<T> {
    if (this.running >= this.concurrency) {
      if (!priority && this.waiting.length >= this.maxWaiting) throw new HashQueueFullError('hash queue full');
      await new Promise<void>((resolve) => (priority ? this.waiting.unshift(resolve) : this.waiting.push(resolve)));
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
