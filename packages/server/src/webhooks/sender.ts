import { OutboundError } from '../outbound/errors.ts';
import { httpStatusError, safeFetch, type SafeFetchOptions } from '../outbound/safe-fetch.ts';
import { retryAfterMs, type AttemptResult } from './retry-policy.ts';
import { webhookHeaders } from './signing.ts';

export interface SendSettings {
  /** The whole attempt: connect, request and answer. A receiver that hangs is cut here. */
  timeoutMs: number;
  /** config.upstreams.allowPrivate: the same address rule as every other outbound call. */
  allowPrivate: boolean;
  /** Replaces the address rule (tests); see SafeFetchOptions. */
  isAddressAllowed?: SafeFetchOptions['isAddressAllowed'];
  now?: () => number;
}

/** A receiver's answer is read only to finish the exchange; its size is capped so a large one cannot cost memory. */
const MAX_ANSWER_BYTES = 256 * 1024;

/**
 * One signed attempt. Redirects are never followed (Standard Webhooks: a 3xx is a failure, the URL should be
 * updated instead), internal addresses are refused after name resolution unless allowed, and every failure comes
 * back as a value with a code, never as a throw.
 */
export async function sendWebhook(
  target: { url: string; secret: string },
  message: { webhookId: string; body: string },
  settings: SendSettings,
  signal?: AbortSignal,
): Promise<AttemptResult> {
  const now = settings.now ?? Date.now;
  const started = performance.now();
  const latency = () => Math.round(performance.now() - started);
  try {
    const response = await safeFetch(target.url, {
      method: 'POST',
      headers: webhookHeaders(target.secret, message.webhookId, message.body, now()),
      body: message.body,
      timeoutMs: settings.timeoutMs,
      allowPrivate: settings.allowPrivate,
      ...(settings.isAddressAllowed ? { isAddressAllowed: settings.isAddressAllowed } : {}),
      maxRedirects: 0,
      maxBytes: MAX_ANSWER_BYTES,
      ...(signal ? { signal } : {}),
    });
    if (response.ok) return { delivered: true, statusCode: response.status, latencyMs: latency() };
    const retryAfter = retryAfterMs(headerText(response.headers['retry-after']), now());
    const refused = httpStatusError(response);
    return {
      delivered: false,
      statusCode: response.status,
      latencyMs: latency(),
      error: { code: refused.code, message: refused.message },
      ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter }),
    };
  } catch (error) {
    const outbound = error instanceof OutboundError ? error : new OutboundError('UPSTREAM_UNREACHABLE', 'The endpoint could not be reached.');
    const failure =
      outbound.code === 'UPSTREAM_TOO_MANY_REDIRECTS'
        ? { code: 'REDIRECT_NOT_FOLLOWED', message: 'The endpoint answered with a redirect; webhook deliveries do not follow redirects.' }
        : { code: outbound.code, message: outbound.message };
    return { delivered: false, statusCode: null, latencyMs: latency(), error: failure };
  }
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
