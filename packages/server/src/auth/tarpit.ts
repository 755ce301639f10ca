/**
 * Holds the answers to throttled authentication failures for a while before they go out. A guesser that waits for
 * each answer before sending the next (as most clients and floods do) is slowed to one request per hold per
 * connection, so its 429s stop taking event-loop time from verified keys. The held answers are bounded: past the
 * bound a refusal goes out at once and closes its connection, so a guesser with many connections pays a new one
 * each time instead.
 */
export class Tarpit {
  private held = 0;

  constructor(
    private readonly holdMs: number,
    private readonly maxHeld = 1024,
  ) {}

  /** Resolves when the hold is over; undefined when holding is off or every place is taken (answer now). */
  hold(): Promise<void> | undefined {
    if (this.holdMs <= 0 || this.held >= this.maxHeld) return undefined;
    this.held++;
    return new Promise((resolve) =>
      setTimeout(() => {
        this.held--;
        resolve();
      }, this.holdMs),
    );
  }

  /** Answers being held now. */
  get size(): number {
    return this.held;
  }
}
