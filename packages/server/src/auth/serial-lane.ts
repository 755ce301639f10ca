import { BoundedSemaphore } from '../queue/bounded-semaphore.ts';

export class LaneFullError extends Error {}

/**
 * Named serial lanes (key-verifier.ts: bcrypt for a throttled key_id, or from throttled addresses). A lane exists only
 * while it has work, so the map holds no more entries than there are requests in flight.
 */
export class SerialLanes {
  private readonly lanes = new Map<string, BoundedSemaphore>();

  constructor(private readonly maxWaiting: number) {}

  async run<T>(name: string, work: () => Promise<T>): Promise<T> {
    let lane = this.lanes.get(name);
    if (!lane) {
      lane = new BoundedSemaphore(1, this.maxWaiting, () => new LaneFullError('lane full'));
      this.lanes.set(name, lane);
    }
    try {
      return await lane.run(work);
    } finally {
      if (lane.idle && this.lanes.get(name) === lane) this.lanes.delete(name);
    }
  }
}
