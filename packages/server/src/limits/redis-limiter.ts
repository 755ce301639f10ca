import calculateSlot from 'cluster-key-slot';
import type { Redis } from 'ioredis';
import type { EndpointClass } from '../config.ts';
import { gcra, type LimitDecision } from './gcra.ts';
import type { RateLimiter } from './limiter.ts';
import { SPAN_KIND, tracing } from '../observability/tracing.ts';

/**
 * gcra.ts in Lua, so that decisions are atomic on the server. It takes a batch: the requests that reached the
 * limiter in one turn of the event loop go out as one EVALSHA, and are decided in order, as if one after the other
 * at the same instant (a key may appear several times). Each request still costs exactly one round trip; batching
 * spares Redis a script call and this process a command, a write and a read per request.
 *
 * KEYS[i] holds a bucket's TAT in microseconds and expires when the bucket is full again, so an absent key is a
 * full bucket. ARGV[1]: the time in microseconds, or '' to use the server's clock; ARGV[1 + i]: the limit of
 * KEYS[i], per minute. Replies four integers per key: admitted (0 or 1), remaining, microseconds until full,
 * microseconds until the next request would pass. The TAT is written with string.format('%.0f'): a bare Lua
 * number is written with 14 significant digits, too few for a microsecond timestamp.
 *
 * On Redis Cluster a script may only touch keys of one slot: bucket keys carry the API key id as a hash tag
 * (`{apiKeyId}`), so a key's buckets share a slot, and a batch goes out as one call per slot.
 */
const CONSUME_SCRIPT = `
local now
if ARGV[1] == '' then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000000 + tonumber(time[2])
else
  now = tonumber(ARGV[1])
end
local out = {}
for i = 1, #KEYS do
  local limit = tonumber(ARGV[i + 1])
  local interval = math.ceil(60000000 / limit)
  local window = interval * limit
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  local later = tat + interval
  local allowed = 0
  local kept = tat
  if later - now <= window then
    allowed = 1
    kept = later
    redis.call('SET', KEYS[i], string.format('%.0f', later), 'PX', math.ceil((later - now) / 1000))
  end
  local ahead = kept - now
  local remaining = 0
  if ahead < window then remaining = math.floor((window - ahead) / interval) end
  local wait = kept + interval - window - now
  if wait < 0 then wait = 0 end
  local at = (i - 1) * 4
  out[at + 1] = allowed
  out[at + 2] = remaining
  out[at + 3] = ahead
  out[at + 4] = wait
end
return out
`;

/** Bounds how long one script holds Redis. */
const MAX_BATCH = 256;

interface WithConsumeScript {
  gatehouseRateLimit(...args: (string | number)[]): Promise<number[]>;
}

interface Pending {
  key: string;
  limit: number;
  resolve: (decision: LimitDecision) => void;
  reject: (error: unknown) => void;
}

export interface RedisLimiterOptions {
  /** Prepended to every bucket key; instances that share limits share the prefix. */
  keyPrefix: string;
  /**
   * The clock, for tests only. Without it the script reads Redis TIME: every instance then measures refill on one
   * clock, so a skewed application host cannot admit requests early (SPEC 5: exact across instances).
   */
  now?: () => number;
  /** Redis Cluster: one script call per slot instead of one per batch. */
  cluster?: boolean;
}

/** Where a bucket lives: the hash tag keeps an API key's buckets in one cluster slot. */
export const bucketKey = (keyPrefix: string, apiKeyId: string, endpointClass: EndpointClass): string => `${keyPrefix}{${apiKeyId}}:${endpointClass}`;

/** The cluster slot of an API key's buckets. */
export const slotOfKey = (apiKeyId: string): number => calculateSlot(`{${apiKeyId}}`);

export class RedisLimiter implements RateLimiter {
  readonly shared = true;
  private readonly client: Redis & WithConsumeScript;
  private queue: Pending[] = [];
  private flushScheduled = false;

  constructor(client: Redis, private readonly options: RedisLimiterOptions) {
    if (!(client as Partial<WithConsumeScript>).gatehouseRateLimit) client.defineCommand('gatehouseRateLimit', { lua: CONSUME_SCRIPT });
    this.client = client as Redis & WithConsumeScript;
  }

  consume(apiKeyId: string, endpointClass: EndpointClass, limitPerMinute: number): Promise<LimitDecision> {
    return new Promise((resolve, reject) => {
      this.queue.push({ key: bucketKey(this.options.keyPrefix, apiKeyId, endpointClass), limit: limitPerMinute, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flush);
      }
    });
  }

  /** Reads the bucket and the clock the script uses, and runs the same GCRA step without storing its outcome. */
  async peek(apiKeyId: string, endpointClass: EndpointClass, limitPerMinute: number): Promise<LimitDecision> {
    const key = bucketKey(this.options.keyPrefix, apiKeyId, endpointClass);
    const [stored, time] = await Promise.all([this.client.get(key), this.options.now ? undefined : this.client.time()]);
    const nowUs = this.options.now ? Math.round(this.options.now() * 1000) : Number(time![0]) * 1_000_000 + Number(time![1]);
    return gcra(Number(stored ?? 0), nowUs, limitPerMinute);
  }

  /** The client belongs to whoever created it. */
  async close(): Promise<void> {}

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const queue = this.queue;
    this.queue = [];
    if (!this.options.cluster) return this.sendAll(queue);
    const bySlot = new Map<number, Pending[]>();
    for (const pending of queue) {
      const slot = calculateSlot(pending.key);
      const group = bySlot.get(slot);
      if (group) group.push(pending);
      else bySlot.set(slot, [pending]);
    }
    for (const group of bySlot.values()) this.sendAll(group);
  };

  private sendAll(queue: Pending[]): void {
    for (let start = 0; start < queue.length; start += MAX_BATCH) this.send(queue, start, Math.min(start + MAX_BATCH, queue.length));
  }

  private send(queue: Pending[], start: number, end: number): void {
    const count = end - start;
    const args: (string | number)[] = new Array(2 + 2 * count);
    args[0] = count;
    args[1 + count] = this.options.now ? String(Math.round(this.options.now() * 1000)) : '';
    for (let i = 0; i < count; i++) {
      const pending = queue[start + i]!;
      args[1 + i] = pending.key;
      args[2 + count + i] = pending.limit;
    }
    const traces = tracing.current;
    const span = traces?.start('redis EVALSHA gatehouseRateLimit', { kind: SPAN_KIND.client, attributes: { 'db.system.name': 'redis', 'db.operation.name': 'EVALSHA', 'gatehouse.buckets': count } });
    const call = this.client.gatehouseRateLimit(...args);
    if (span) call.then(() => traces!.end(span), (error: unknown) => traces!.end(span, error));
    call.then(
      (reply) => {
        for (let i = 0; i < count; i++) {
          const pending = queue[start + i]!;
          const at = i * 4;
          pending.resolve({
            allowed: reply[at] === 1,
            limit: pending.limit,
            remaining: reply[at + 1]!,
            resetMs: Math.ceil(reply[at + 2]! / 1000),
            retryAfterMs: Math.ceil(reply[at + 3]! / 1000),
          });
        }
      },
      (error: unknown) => {
        for (let i = start; i < end; i++) queue[i]!.reject(error);
      },
    );
  }
}
