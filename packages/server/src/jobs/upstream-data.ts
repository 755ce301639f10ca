import { httpStatusError, type OutboundResponse } from '../outbound/safe-fetch.ts';
import { JobFailure } from './kinds.ts';

/** Small readers for JSON an upstream sent: anything unexpected reads as absent, never as a crash. */
export const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
export const stringOf = (value: unknown): string | null => (typeof value === 'string' && value.trim() !== '' ? value.trim() : null);
export const numberOf = (value: unknown): number | null => {
  const number = typeof value === 'string' ? Number(value) : value;
  return typeof number === 'number' && Number.isFinite(number) ? number : null;
};
export const stringsOf = (value: unknown): string[] => (Array.isArray(value) ? value.map(stringOf).filter((item): item is string => item !== null) : []);

export const invalidResponse = (what: string): JobFailure => new JobFailure('UPSTREAM_INVALID_RESPONSE', `The upstream answer is not ${what}.`);

/** 404 is the thing not existing (a clear UPSTREAM_NOT_FOUND); any other non-2xx is UPSTREAM_HTTP_<status>. */
export function requireOk(response: OutboundResponse, notFoundMessage: string): void {
  if (response.status === 404) throw new JobFailure('UPSTREAM_NOT_FOUND', notFoundMessage);
  if (!response.ok) throw httpStatusError(response);
}
