import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import { LocalInvalidationBus, type Invalidation, type InvalidationBus, type InvalidationListener } from './invalidation.ts';
import { decodeInvalidation, encodeInvalidation, withinMs } from './invalidation-wire.ts';

export interface PgBusOptions {
  /** Publishes through the store's pool (NOTIFY needs no connection of its own). */
  pool: pg.Pool;
  /** The LISTEN connection, held for the bus's lifetime outside the pool; the pool's own settings by default. */
  clientConfig?: pg.ClientConfig;
  logger: Logger;
  channel?: string;
  startTimeoutMs?: number;
  publishTimeoutMs?: number;
  /** How often the listener is queried: a connection that died silently (no reset) is noticed within two periods. */
  heartbeatMs?: number;
}

export const DEFAULT_PG_CHANNEL = 'gatehouse_invalidation';
const CHANNEL_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Invalidations across instances through PostgreSQL LISTEN/NOTIFY, for clusters without Redis. NOTIFY reaches only
 * sessions listening at that moment, so every (re)connection of the listener delivers `all` locally.
 */
export class PgInvalidationBus implements InvalidationBus {
  private readonly local = new LocalInvalidationBus();
  private readonly origin = randomUUID();
  private readonly channel: string;
  private readonly clientConfig: pg.ClientConfig;
  private listener: pg.Client | undefined;
  private dropListener: (() => void) | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private attempts = 0;
  private closed = false;
  private firstListen: () => void = () => {};
  private readonly heartbeat: NodeJS.Timeout;
  readonly ready: Promise<void>;

  static async start(options: PgBusOptions): Promise<PgInvalidationBus> {
    const bus = new PgInvalidationBus(options);
    bus.connect();
    if ((await withinMs(bus.ready, options.startTimeoutMs ?? 5000)) === 'timeout') {
      options.logger.warn('invalidation bus: PostgreSQL LISTEN not established yet; serving on the cache backstop until it is');
    }
    return bus;
  }

  constructor(private readonly options: PgBusOptions) {
    this.channel = options.channel ?? DEFAULT_PG_CHANNEL;
    // LISTEN takes an identifier, not a parameter: the name is checked, never quoted from input.
    if (!CHANNEL_PATTERN.test(this.channel)) throw new Error(`invalid NOTIFY channel name ${this.channel}`);
    this.clientConfig = options.clientConfig ?? (options.pool.options as pg.ClientConfig);
    this.ready = new Promise((resolve) => (this.firstListen = resolve));
    const heartbeatMs = options.heartbeatMs ?? 5000;
    this.heartbeat = setInterval(() => void this.checkAlive(heartbeatMs), heartbeatMs);
    this.heartbeat.unref();
  }

  /** A listener that stopped answering is dropped, so that the reconnect (and its resync) happens. */
  private async checkAlive(timeoutMs: number): Promise<void> {
    const client = this.listener;
    if (!client) return;
    const answer = await withinMs(
      client.query('SELECT 1').catch(() => 'failed'),
      timeoutMs,
    );
    if ((answer === 'timeout' || answer === 'failed') && this.listener === client) this.dropListener?.();
  }

  get connected(): boolean {
    return this.listener !== undefined;
  }

  private connect(): void {
    if (this.closed) return;
    const client = new pg.Client({
      connectionTimeoutMillis: 5000,
      ...this.clientConfig,
      keepAlive: true,
      application_name: 'gatehouse-invalidation',
    });
    let lost = false;
    const onLost = () => {
      if (lost) return;
      lost = true;
      void client.end().catch(() => {});
      if (this.listener === client) {
        this.listener = undefined;
        if (!this.closed) this.options.logger.warn('invalidation bus: PostgreSQL listener disconnected; changes from other instances wait for the reconnect or the cache backstop');
      }
      this.scheduleReconnect();
    };
    client.on('error', onLost);
    client.on('end', onLost);
    client.on('notification', (message) => {
      if (message.channel !== this.channel || message.payload === undefined) return;
      const { origin, event } = decodeInvalidation(message.payload);
      if (origin !== this.origin) this.local.deliver(event);
    });
    client
      .connect()
      .then(() => client.query(`LISTEN ${this.channel}`))
      .then(() => {
        if (lost || this.closed) return;
        const reconnected = this.attempts > 0;
        this.attempts = 0;
        this.listener = client;
        this.dropListener = onLost;
        // After LISTEN is in place: what was committed before it is read from the store once the caches are empty.
        this.local.deliver({ kind: 'all' });
        this.options.logger.info({ channel: this.channel, reconnected }, 'invalidation bus: listening on PostgreSQL; caches resynchronised');
        this.firstListen();
      })
      .catch(onLost);
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    this.attempts++;
    this.reconnectTimer = setTimeout(
      () => {
        this.reconnectTimer = undefined;
        this.connect();
      },
      Math.min(this.attempts * 100, 500),
    );
    this.reconnectTimer.unref();
  }

  async publish(event: Invalidation): Promise<void> {
    this.local.deliver(event);
    const sent = this.options.pool.query('SELECT pg_notify($1, $2)', [this.channel, encodeInvalidation(this.origin, event)]);
    const outcome = await withinMs(
      sent.catch((error: unknown) => error as Error),
      this.options.publishTimeoutMs ?? 1000,
    );
    if (outcome === 'timeout' || outcome instanceof Error) {
      this.options.logger.warn(
        { event, err: outcome === 'timeout' ? undefined : outcome },
        'invalidation bus: NOTIFY failed; other instances rely on the cache backstop',
      );
    }
  }

  subscribe(listener: InvalidationListener): () => void {
    return this.local.subscribe(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.heartbeat);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const client = this.listener;
    this.listener = undefined;
    if (client) await withinMs(client.end().catch(() => {}), 1000);
    await this.local.close();
  }
}
