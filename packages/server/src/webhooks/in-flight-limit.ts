/**
 * At most `limit` operations in flight per key on this instance (test pings per organization): past it, a refusal at
 * once instead of one more request held for a receiver's whole timeout.
 */
export class InFlightLimit {
  private readonly counts = new Map<string, number>();

  constructor(readonly limit: number) {}

  /** A release function when there is room for `key`, undefined when it already has `limit` in flight. */
  tryTake(key: string): (() => void) | undefined {
    const count = this.counts.get(key) ?? 0;
    if (count >= this.limit) return undefined;
    this.counts.set(key, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.counts.get(key) ?? 1) - 1;
      if (left > 0) this.counts.set(key, left);
      else this.counts.delete(key);
    };
  }
}
