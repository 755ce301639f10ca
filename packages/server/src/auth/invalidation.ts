/**
 * What changed, so that every instance drops what it remembers about it (SPEC 7: in force within one second).
 * The in-process bus serves the embedded store; a cluster swaps in a bus that crosses instances.
 */
export type Invalidation =
  | { kind: 'key'; apiKeyId: string }
  | { kind: 'organization'; organizationId: string }
  | { kind: 'plans' }
  | { kind: 'global' }
  /** Sent after a bus reconnects: anything may have changed while messages were being dropped. */
  | { kind: 'all' };

export type InvalidationListener = (event: Invalidation) => void;

export interface InvalidationBus {
  publish(event: Invalidation): Promise<void>;
  subscribe(listener: InvalidationListener): () => void;
  close(): Promise<void>;
}

export class LocalInvalidationBus implements InvalidationBus {
  private readonly listeners = new Set<InvalidationListener>();

  async publish(event: Invalidation): Promise<void> {
    this.deliver(event);
  }

  subscribe(listener: InvalidationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** For buses that receive from elsewhere: hand an event to this instance's listeners. */
  deliver(event: Invalidation): void {
    for (const listener of this.listeners) listener(event);
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }
}
