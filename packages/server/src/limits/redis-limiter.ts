import type { Redis } from 'ioredis';
import type { EndpointClass } from '../config.ts';
import type { LimitDecision } from './gcra.ts';
import type { RateLimiter } from './limiter.ts';

/**
 * gcra.ts in Lua, so a decision is one atomic step on the server and one round trip (EVALSHA) per request.
 * KEYS[1] holds the bucket's TAT in microseconds and expires when the bucket is full again, so an absent key is a
 * full bucket. ARGV[1]: requests per minute; ARGV[2]: the time in microseconds, or '' to use the server's clock.
 *
 * Numbers go out through string.format('%.0f'): a bare Lua number is written with 14 significant digits, too few
 * for a microsecond timestamp.
 */
const CONSUME_SCRIPT = `
local limit = tonumber(ARGV[1])
local now
if ARGV[2] == '' then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000000 + tonumber(time[2])
else
  now = tonumber(ARGV[2])
end
local interval = math.ceil(60000000 / limit)
local window = interval * limit
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local later = tat + interval
local allowed = 0
local kept = tat
if later - now <= window then
  allowed = 1
  kept = later
  redis.call('SET', KEYS[1], string.format('%.0f', later), 'PX', string.format('%.0f', math.ceil((later - now) / 1000)))
end
local ahead = kept - now
local remaining = 0
if ahead < window then remaining = math.floor((window - ahead) / interval) end
local wait = kept + interval - window - now
if wait < 0 then wait = 0 end
return { allowed, remaining, string.format('%.0f', ahead), string.format('%.0f', wait) }
`;

type ScriptReply = [number, number, string, string];
interface WithConsumeScript {
  gatehouseRateLimit(key: string, limit: number, nowUs: string): Promise<ScriptReply>;
}

export interface RedisLimiterOptions {
  /** Prepended to every bucket key; instances that share limits share the prefix. */
  keyPrefix: string;
  /**
   * The clock, for tests only. Without it the script reads Redis TIME: every instance then measures refill on one
   * clock, so a skewed application host cannot admit requests early (SPEC 5: exact across instances).
   */
  now?: () => number;
}

export class RedisLimiter implements RateLimiter {
  readonly shared = true;
  private readonly client: Redis & WithConsumeScript;
  private readonly keyPrefix: string;

  constructor(client: Redis, private readonly options: RedisLimiterOptions) {
    if (!(client as Partial<WithConsumeScript>).gatehouseRateLimit) {
      client.defineCommand('gatehouseRateLimit', { numberOfKeys: 1, lua: CONSUME_SCRIPT });
    }
    this.client = client as Redis & WithConsumeScript;
    this.keyPrefix = options.keyPrefix;
  }

  async consume(apiKeyId: string, endpointClass: EndpointClass, limitPerMinute: number): Promise<LimitDecision> {
    const now = this.options.now ? String(Math.round(this.options.now() * 1000)) : '';
    const [allowed, remaining, aheadUs, waitUs] = await this.client.gatehouseRateLimit(`${this.keyPrefix}${apiKeyId}:${endpointClass}`, limitPerMinute, now);
    return {
      allowed: allowed === 1,
      limit: limitPerMinute,
      remaining,
      resetMs: Math.ceil(Number(aheadUs) / 1000),
      retryAfterMs: Math.ceil(Number(waitUs) / 1000),
    };
  }

  /** The client belongs to whoever created it. */
  async close(): Promise<void> {}
}
