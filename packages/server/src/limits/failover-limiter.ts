import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { EndpointClass } from '../config.ts';
import type { LimitDecision } from './gcra.ts';
import type { RateLimiter } from './limiter.ts';
import type { MemoryLimiter } from './memory-limiter.ts';
import type { RedisLimiter } from './redis-limiter.ts';

export interface FailoverLimiterOptions {
  /** Owned: connected by start(), closed by close(). Built with the offline queue off and a short command timeout (create-limiter.ts). */
  client: Redis;
  redis: RedisLimiter;
  memory: MemoryLimiter;
  logger: Logger;
  /** Told every time limits start or stop being shared (the gatehouse_rate_limiter_shared gauge). */
  onSharedChange: (shared: boolean) => void;
  /** How often a tripped circuit asks Redis whether it is back, while the connection looks up. */
  probeIntervalMs?: number;
}

/**
 * Redis while it answers, this process's own buckets the moment it does not (SPEC 5: requests keep being served).
 * The circuit trips on the first failed command or a closed connection, so later requests go straight to memory
 * instead of waiting on a dead connection; it closes again when the connection is ready and a PING answers.
 */
export class FailoverLimiter implements RateLimiter {
  private healthy = false;
  private announced = false;
  private probing: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: FailoverLimiterOptions) {
    const { client } = options;
    client.on('ready', () => void this.probe());
    client.on('close', () => this.setShared(false, 'connection closed'));
    // ioredis reports every failed reconnection attempt here; only changes of state reach the log.
    client.on('error', (error: Error) => this.setShared(false, error));
  }

  /** Connects; shared when Redis answers, on memory (and reconnecting in the background) when it does not. */
  async start(): Promise<void> {
    await this.options.client.connect().catch(() => undefined);
    await this.probe();
    if (!this.announced) this.setShared(false, `connection is ${this.options.client.status}`);
  }

  get shared(): boolean {
    return this.healthy;
  }

  consume(apiKeyId: string, endpointClass: EndpointClass, limitPerMinute: number): LimitDecision | Promise<LimitDecision> {
    if (!this.healthy) return this.options.memory.consume(apiKeyId, endpointClass, limitPerMinute);
    return this.consumeShared(apiKeyId, endpointClass, limitPerMinute);
  }

  peek(apiKeyId: string, endpointClass: EndpointClass, limitPerMinute: number): LimitDecision | Promise<LimitDecision> {
    if (!this.healthy) return this.options.memory.peek(apiKeyId, endpointClass, limitPerMinute);
    return this.options.redis.peek(apiKeyId, endpointClass, limitPerMinute).catch(() => this.options.memory.peek(apiKeyId, endpointClass, limitPerMinute));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopProbing();
    this.options.client.disconnect();
    await this.options.memory.close();
  }

  private async consumeShared(apiKeyId: string, endpointClass: EndpointClass, limitPerMinute: number): Promise<LimitDecision> {
    try {
      return await this.options.redis.consume(apiKeyId, endpointClass, limitPerMinute);
    } catch (error) {
      this.setShared(false, error);
      return this.options.memory.consume(apiKeyId, endpointClass, limitPerMinute);
    }
  }

  private async probe(): Promise<void> {
    if (this.healthy || this.closed || this.options.client.status !== 'ready') return;
    try {
      await this.options.client.ping();
      if (!this.closed) this.setShared(true);
    } catch {
      // Still down; the next probe asks again.
    }
  }

  private setShared(shared: boolean, cause?: unknown): void {
    if (this.closed || (this.announced && shared === this.healthy)) return;
    this.healthy = shared;
    this.announced = true;
    this.options.onSharedChange(shared);
    if (shared) {
      this.stopProbing();
      this.options.logger.info('rate limits are shared through Redis');
    } else {
      this.probing ??= setInterval(() => void this.probe(), this.options.probeIntervalMs ?? 500).unref();
      this.options.logger.warn(
        { reason: cause instanceof Error ? cause.message : String(cause) },
        'Redis is unreachable: rate limits fall back to in-memory buckets, per instance, until it is back',
      );
    }
  }

  private stopProbing(): void {
    if (this.probing) clearInterval(this.probing);
    this.probing = undefined;
  }
}
