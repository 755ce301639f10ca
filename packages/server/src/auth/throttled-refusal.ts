import { ApiError } from '../http/errors.ts';
import { secondsUp } from '../limits/headers.ts';
import type { Tarpit } from './tarpit.ts';

/**
 * The 429 to an authentication failure over its throttle (key or admin token), held in the tarpit while it has room;
 * past that it goes out at once and closes the connection, so a guesser with many connections pays for new ones.
 */
export function throttledRefusal(tarpit: Tarpit, retryAfterMs: number, details: Record<string, unknown> = {}): Promise<never> {
  const retryAfter = String(Math.max(1, secondsUp(retryAfterMs)));
  const refusal = (headers: Record<string, string>) =>
    new ApiError('RATE_LIMITED', 'Too many failed authentication attempts. Retry later.', { ...details, retryAfterMs }, headers);
  const held = tarpit.hold();
  if (held) return held.then(() => Promise.reject(refusal({ 'retry-after': retryAfter })));
  return Promise.reject(refusal({ 'retry-after': retryAfter, connection: 'close' }));
}
