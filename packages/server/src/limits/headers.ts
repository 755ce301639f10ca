import type { FastifyReply } from 'fastify';
import type { EndpointClass } from '../config.ts';
import type { LimitDecision } from './gcra.ts';
import { CLASS_INDEX } from './limiter.ts';

/** The policy field only changes with the limit, so each (class, limit) text is built once. */
const policyTexts: Map<number, string>[] = [new Map(), new Map(), new Map()];

/** draft-ietf-httpapi-ratelimit-headers-11, section 3: a List of quota policies, each a String with q and w. */
function policyField(endpointClass: EndpointClass, limit: number): string {
  const texts = policyTexts[CLASS_INDEX[endpointClass]]!;
  let text = texts.get(limit);
  if (text === undefined) {
    text = `"${endpointClass}";q=${limit};w=60`;
    texts.set(limit, text);
  }
  return text;
}

export const secondsUp = (ms: number): number => Math.ceil(ms / 1000);

/**
 * SPEC 5's headers on every authenticated response, 429s and later errors included.
 *
 * `RateLimit` (draft section 4) carries r, the requests that would pass now, and t, its effective window. With r
 * above 0, t is the time until the bucket is full (X-RateLimit-Reset); with r at 0 it is the wait until the next
 * request passes, which equals Retry-After on a 429 (the draft: Retry-After not earlier than the end of t).
 */
export function setRateLimitHeaders(reply: FastifyReply, decision: LimitDecision, endpointClass: EndpointClass, tier: string): void {
  const reset = secondsUp(decision.resetMs);
  reply.header('x-ratelimit-limit', decision.limit);
  reply.header('x-ratelimit-remaining', decision.remaining);
  reply.header('x-ratelimit-reset', reset);
  reply.header('x-ratelimit-endpoint-class', endpointClass);
  reply.header('x-ratelimit-tier', tier);
  reply.header('ratelimit-policy', policyField(endpointClass, decision.limit));
  reply.header('ratelimit', `"${endpointClass}";r=${decision.remaining};t=${decision.remaining > 0 ? reset : secondsUp(decision.retryAfterMs)}`);
}
