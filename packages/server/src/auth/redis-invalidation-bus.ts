import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { LocalInvalidationBus, type Invalidation, type InvalidationBus, type InvalidationListener } from './invalidation.ts';
import { decodeInvalidation, encodeInvalidation, withinMs } from './invalidation-wire.ts';
import { connectRedis } from '../redis/connect.ts';
import { SPAN_KIND, tracing } from '../observability/tracing.ts';

export interface RedisBusOptions {
  url: string;
  /** `url` lists the seed nodes of a Redis Cluster (GATEHOUSE_REDIS_CLUSTER). */
  cluster?: boolean;
  logger: Logger;
  /** Pub/sub channels are global to a Redis server; tests give each bus pair a channel of its own. */
  channel?: string;
  /** The subscriber connection's CLIENT SETNAME, so an operator (or a test) can find it in CLIENT LIST. */
  connectionName?: string;
  /** How long start() waits for the first subscription before serving anyway (resync happens when it comes). */
  startTimeoutMs?: number;
  publishTimeoutMs?: number;
  /** How often the subscriber is pinged: a connection that died silently (no reset) is noticed within two periods. */
  heartbeatMs?: number;
}

export const DEFAULT_REDIS_CHANNEL = 'gatehouse:invalidation';

/** Reconnect quickly: while the subscriber is away, this instance depends on the cache backstop. */
const retryStrategy = (attempt: number): number => Math.min(attempt * 100, 500);

/**
 * Invalidations across instances through Redis pub/sub. Publishing needs its own connection: a connection in
 * subscriber mode accepts nothing but (un)subscribe commands. Pub/sub keeps nothing for a disconnected subscriber, so
 * every (re)subscription delivers `all` locally: the instance forgets everything it cached and re-reads the store.
 */
export class RedisInvalidationBus implements InvalidationBus {
  private readonly local = new LocalInvalidationBus();
  private readonly origin = randomUUID();
  private readonly channel: string;
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly logger: Logger;
  private readonly publishTimeoutMs: number;
  private subscribed = false;
  private closed = false;
  private firstSubscription: () => void = () => {};
  private readonly heartbeat: NodeJS.Timeout;
  /** Resolves on the first subscription. */
  readonly ready: Promise<void>;

  static async start(options: RedisBusOptions): Promise<RedisInvalidationBus> {
    const bus = new RedisInvalidationBus(options);
    if ((await withinMs(bus.ready, options.startTimeoutMs ?? 5000)) === 'timeout') {
      options.logger.warn('invalidation bus: Redis not reachable yet; serving on the cache backstop until it is');
    }
    return bus;
  }

  constructor(options: RedisBusOptions) {
    this.channel = options.channel ?? DEFAULT_REDIS_CHANNEL;
    this.logger = options.logger;
    this.publishTimeoutMs = options.publishTimeoutMs ?? 1000;
    this.ready = new Promise((resolve) => (this.firstSubscription = resolve));
    const target = { url: options.url, cluster: options.cluster === true };
    this.publisher = connectRedis(target, { retryStrategy, maxRetriesPerRequest: 2 });
    this.subscriber = connectRedis(target, {
      retryStrategy,
      // Subscribing is done on every `ready` below, so the resync can follow it in order.
      autoResubscribe: false,
      connectionName: options.connectionName,
      // A connection dropped for silence would otherwise wait 2 s for a goodbye that a dead peer never sends.
      disconnectTimeout: 250,
    });
    this.publisher.on('error', () => {});
    this.subscriber.on('error', () => {});
    if (target.cluster) this.resyncOnNodeLoss();
    this.subscriber.on('ready', () => void this.subscribeToChannel());
    this.subscriber.on('close', () => {
      if (!this.subscribed || this.closed) return;
      this.subscribed = false;
      this.logger.warn('invalidation bus: Redis subscriber disconnected; changes from other instances wait for the reconnect or the cache backstop');
    });
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      const { origin, event } = decodeInvalidation(message);
      if (origin !== this.origin) this.local.deliver(event);
    });
    const heartbeatMs = options.heartbeatMs ?? 5000;
    this.heartbeat = setInterval(() => void this.checkAlive(heartbeatMs), heartbeatMs);
    this.heartbeat.unref();
  }

  /**
   * Redis Cluster: PUBLISH on any node reaches subscribers on every node, and when the node this subscription is
   * on goes away, the cluster client subscribes again on another one. What was published in between is lost, so a
   * node that stops answering empties the caches now and once more a second later, after the move.
   */
  private resyncOnNodeLoss(): void {
    let pending: NodeJS.Timeout | undefined;
    this.subscriber.on('node error', () => {
      if (pending || this.closed || !this.subscribed) return;
      this.local.deliver({ kind: 'all' });
      pending = setTimeout(() => {
        pending = undefined;
        if (!this.closed) this.local.deliver({ kind: 'all' });
      }, 1000);
      pending.unref();
    });
  }

  /** A subscriber that stopped answering is dropped, so that the reconnect (and its resync) happens. */
  private async checkAlive(timeoutMs: number): Promise<void> {
    if (!this.subscribed || this.closed) return;
    const pong = await withinMs(
      this.subscriber.ping().catch(() => 'failed'),
      timeoutMs,
    );
    if ((pong === 'timeout' || pong === 'failed') && this.subscribed && !this.closed) {
      this.subscribed = false;
      this.logger.warn('invalidation bus: Redis subscriber stopped answering; reconnecting');
      this.subscriber.disconnect(true);
    }
  }

  private async subscribeToChannel(): Promise<void> {
    try {
      await this.subscriber.subscribe(this.channel);
    } catch {
      return; // the connection dropped again; the next `ready` retries
    }
    this.subscribed = true;
    // Only after SUBSCRIBE is acknowledged: a change committed from here on arrives as a message, and one
    // committed before is read from the store once the caches are empty.
    this.local.deliver({ kind: 'all' });
    this.logger.info({ channel: this.channel }, 'invalidation bus: subscribed to Redis; caches resynchronised');
    this.firstSubscription();
  }

  get connected(): boolean {
    return this.subscribed;
  }

  async publish(event: Invalidation): Promise<void> {
    this.local.deliver(event);
    const traces = tracing.current;
    const span = traces?.start('redis PUBLISH', { kind: SPAN_KIND.client, attributes: { 'db.system.name': 'redis', 'db.operation.name': 'PUBLISH', 'gatehouse.invalidation': event.kind } });
    const sent = this.publisher.publish(this.channel, encodeInvalidation(this.origin, event));
    const outcome = await withinMs(
      sent.catch((error: unknown) => error as Error),
      this.publishTimeoutMs,
    );
    if (span) traces!.end(span, outcome === 'timeout' ? new Error('publish timed out') : outcome instanceof Error ? outcome : undefined);
    if (outcome === 'timeout' || outcome instanceof Error) {
      this.logger.warn({ event, err: outcome === 'timeout' ? undefined : outcome }, 'invalidation bus: publish to Redis failed; other instances rely on the cache backstop');
    }
  }

  subscribe(listener: InvalidationListener): () => void {
    return this.local.subscribe(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.heartbeat);
    await withinMs(Promise.allSettled([this.publisher.quit(), this.subscriber.quit()]), 1000);
    this.publisher.disconnect();
    this.subscriber.disconnect();
    await this.local.close();
  }
}
