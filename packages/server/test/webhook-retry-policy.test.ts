import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_POLICY, nextStep, retryAfterMs, retryDelayMs, type AttemptResult } from '../src/webhooks/retry-policy.ts';

const HOUR = 60 * 60_000;
const failure = (statusCode: number | null, extra: Partial<Extract<AttemptResult, { delivered: false }>> = {}): AttemptResult => ({
  delivered: false,
  statusCode,
  latencyMs: 5,
  error: { code: 'X', message: 'x' },
  ...extra,
});

describe('retry policy', () => {
  it('retries first within 10 seconds and spreads 8 attempts over about a day, whatever the jitter', () => {
    for (const random of [() => 0, () => 0.5, () => 0.999999]) {
      const delays = Array.from({ length: DEFAULT_RETRY_POLICY.maxAttempts - 1 }, (_, i) => retryDelayMs(i + 1, DEFAULT_RETRY_POLICY, random));
      expect(delays[0]).toBeGreaterThanOrEqual(4_000);
      expect(delays[0]).toBeLessThanOrEqual(10_000);
      for (let i = 1; i < delays.length - 1; i++) expect(delays[i]).toBeGreaterThan(delays[i - 1]!);
      const total = delays.reduce((sum, delay) => sum + delay, 0);
      expect(total).toBeGreaterThan(19 * HOUR);
      expect(total).toBeLessThan(31 * HOUR);
    }
  });

  it('jitters each delay within ±20% of its nominal value', () => {
    const samples = Array.from({ length: 200 }, () => retryDelayMs(3, DEFAULT_RETRY_POLICY));
    const nominal = 5_000 * 6 ** 2;
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(nominal * 0.8);
    expect(Math.max(...samples)).toBeLessThanOrEqual(nominal * 1.2);
    expect(new Set(samples).size).toBeGreaterThan(1);
  });

  it('decides delivered, retry, give up, and give up for good on 410 Gone', () => {
    expect(nextStep(1, { delivered: true, statusCode: 200, latencyMs: 3 }, DEFAULT_RETRY_POLICY)).toEqual({ status: 'delivered' });
    expect(nextStep(1, failure(500), DEFAULT_RETRY_POLICY, () => 0.5)).toEqual({ status: 'pending', retryInMs: 5_000 });
    expect(nextStep(1, failure(null), DEFAULT_RETRY_POLICY, () => 0.5)).toEqual({ status: 'pending', retryInMs: 5_000 });
    expect(nextStep(DEFAULT_RETRY_POLICY.maxAttempts, failure(500), DEFAULT_RETRY_POLICY)).toEqual({ status: 'failed' });
    expect(nextStep(1, failure(410), DEFAULT_RETRY_POLICY)).toEqual({ status: 'failed', disableEndpoint: 'gone' });
  });

  it('lets Retry-After push the next attempt later, never earlier and never past the longest backoff', () => {
    expect(nextStep(1, failure(503, { retryAfterMs: 60_000 }), DEFAULT_RETRY_POLICY, () => 0.5)).toEqual({ status: 'pending', retryInMs: 60_000 });
    expect(nextStep(1, failure(503, { retryAfterMs: 1_000 }), DEFAULT_RETRY_POLICY, () => 0.5)).toEqual({ status: 'pending', retryInMs: 5_000 });
    expect(nextStep(1, failure(429, { retryAfterMs: 48 * HOUR }), DEFAULT_RETRY_POLICY, () => 0.5)).toEqual({ status: 'pending', retryInMs: 12 * HOUR });
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(retryAfterMs('120', now)).toBe(120_000);
    expect(retryAfterMs('Wed, 01 Jan 2025 00:01:00 GMT', now)).toBe(60_000);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });
});
