/**
 * At most `concurrency` pieces of work at once, with a bounded wait list: past it, work is refused with the error
 * `full` makes rather than queued, so a flood cannot build an unbounded backlog (bcrypt in keys/hashing.ts, the
 * throttled bcrypt lanes of auth/serial-lane.ts).
 */
export class BoundedSemaphore {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  peakConcurrency = 0;

  constructor(
    readonly concurrency: number,
    readonly maxWaiting: number,
    private readonly full: () => Error,
  ) {}

  get inFlight(): number {
    return this.running;
  }

  get idle(): boolean {
    return this.running === 0 && this.waiting.length === 0;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxWaiting) throw this.full();
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
