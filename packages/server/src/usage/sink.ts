import type { EndpointClass } from '../config.ts';
import type { Env } from '../db/schema.ts';

/** What one instance counted for one key and endpoint class in one minute (SPEC 8.7). */
export interface UsageIncrement {
  organizationId: string;
  apiKeyId: string;
  /** The key's env (SPEC 12): usage is answered per env. */
  env: Env;
  endpointClass: EndpointClass;
  /** The minute's start, in epoch milliseconds (UTC). */
  minute: number;
  requests: number;
  status2xx: number;
  status4xx: number;
  status5xx: number;
  rateLimited: number;
  creditsCharged: number;
}

/** One row of the request log: never a query string, a body or a header (SPEC 8.7). */
export interface RequestLogEntry {
  requestId: string;
  /** Epoch milliseconds. */
  at: number;
  organizationId: string | null;
  apiKeyId: string | null;
  /** The key's env; `live` for an answer to no key (operators alone see those). */
  env: Env;
  method: string;
  /** The route pattern (`/v1/projects/:id`), or null for a path no route matched. */
  route: string | null;
  status: number;
  errorCode: string | null;
  endpointClass: EndpointClass | null;
  durationMs: number;
  clientAddress: string | null;
}

/**
 * Where counted usage and the request log go once they leave memory. Both calls take a batch and must be additive
 * (a usage increment adds to what is stored; request-log entries are new rows, their request ids unique across
 * instances), so any number of instances can write at once. PostgreSQL is the one implementation today
 * (repository.ts); docs/usage.md says how a column store would take its place.
 */
export interface UsageSink {
  addUsage(increments: readonly UsageIncrement[]): Promise<void>;
  appendRequests(entries: readonly RequestLogEntry[]): Promise<void>;
}
