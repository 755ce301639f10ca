/**
 * Runs `drain` every `intervalMs` and whenever nudged, never two at once: a nudge that arrives during a drain
 * makes it run once more right after, so work enqueued meanwhile never waits for the next tick. The shape a
 * database-polling worker needs (the webhook delivery worker, the job runner).
 */
export class Poller {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  private again = false;
  private active = false;

  constructor(
    private readonly drain: () => Promise<void>,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    if (this.active) return;
    this.active = true;
    this.timer = setInterval(() => this.nudge(), this.intervalMs);
    this.timer.unref();
    this.nudge();
  }

  nudge(): void {
    if (!this.active) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => {
      this.running = null;
    });
  }

  /** No drain starts after this; resolves once the one under way (if any) has finished. */
  async stop(): Promise<void> {
    this.active = false;
    clearInterval(this.timer);
    await this.running;
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      await this.drain();
    } while (this.again && this.active);
  }
}
