/** SPEC 4: the server's closed catalog of error codes. */
export type ApiErrorCode =
  | 'BAD_REQUEST'
  | 'UNAUTHENTICATED'
  | 'PAYMENT_REQUIRED'
  | 'BILLING_EXHAUSTED'
  | 'INSUFFICIENT_CREDITS'
  | 'FORBIDDEN_SCOPE'
  | 'FORBIDDEN_IP'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'PAYLOAD_TOO_LARGE'
  | 'VALIDATION_FAILED'
  | 'IDEMPOTENCY_KEY_REUSED'
  | 'RATE_LIMITED'
  | 'INTERNAL'
  | 'KILL_SWITCH'
  | 'UNAVAILABLE';

/**
 * Failures that never reached an answer from Gatehouse: the connection failed (`NETWORK_ERROR`), the attempt
 * ran out of time (`TIMEOUT`), something answered that is not Gatehouse's envelope (`UNEXPECTED_RESPONSE`), or
 * `jobs.wait` gave up (`WAIT_TIMEOUT`). Their `status` is 0, except UNEXPECTED_RESPONSE, which keeps the HTTP status.
 */
export type ClientErrorCode = 'NETWORK_ERROR' | 'TIMEOUT' | 'UNEXPECTED_RESPONSE' | 'WAIT_TIMEOUT';

export type GatehouseErrorCode = ApiErrorCode | ClientErrorCode;

export interface GatehouseErrorInit {
  status: number;
  code: GatehouseErrorCode;
  message: string;
  requestId?: string | null;
  details?: Record<string, unknown>;
  retryAfterMs?: number | null;
  cause?: unknown;
}

/** Every failure of a client call. Branch on `code`, never on `message` (SPEC 4). */
export class GatehouseError extends Error {
  override readonly name = 'GatehouseError';
  readonly status: number;
  readonly code: GatehouseErrorCode;
  /** The server's request id (also its X-Request-Id header); include it when reporting a problem. */
  readonly requestId: string | null;
  readonly details: Record<string, unknown>;
  /** From Retry-After (or details.retryAfterMs) when the server sent one. */
  readonly retryAfterMs: number | null;

  constructor(init: GatehouseErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    this.requestId = init.requestId ?? null;
    this.details = init.details ?? {};
    this.retryAfterMs = init.retryAfterMs ?? null;
  }

  /** A kill switch (global, key or organization) is a hard stop: nothing to retry, a human has to act. */
  get isKillSwitch(): boolean {
    return this.code === 'KILL_SWITCH';
  }
}

export const isGatehouseError = (error: unknown): error is GatehouseError => error instanceof GatehouseError;
