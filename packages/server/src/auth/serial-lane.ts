export class LaneFullError extends Error {}

/** Work run one at a time, with a bounded wait list: past it, work is refused (LaneFullError) rather than queued. */
class SerialLane {
  private running = false;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly maxWaiting: number) {}

  get idle(): boolean {
    return !this.running && this.waiting.length === 0;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running) {
      if (this.waiting.length >= this.maxWaiting) throw new LaneFullError('lane full');
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running = true;
    }
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      // Handed straight to the next waiter, so a newcomer cannot slip in between.
      if (next) next();
      else this.running = false;
    }
  }
}

/**
 * Named serial lanes (key-verifier.ts: bcrypt for a throttled key_id, or from throttled addresses). A lane exists only
 * while it has work, so the map holds no more entries than there are requests in flight.
 */
export class SerialLanes {
  private readonly lanes = new Map<string, SerialLane>();

  constructor(private readonly maxWaiting: number) {}

  async run<T>(name: string, work: () => Promise<T>): Promise<T> {
    let lane = this.lanes.get(name);
    if (!lane) {
      lane = new SerialLane(this.maxWaiting);
      this.lanes.set(name, lane);
    }
    try {
      return await lane.run(work);
    } finally {
      if (lane.idle && this.lanes.get(name) === lane) this.lanes.delete(name);
    }
  }

  get size(): number {
    return this.lanes.size;
  }
}
