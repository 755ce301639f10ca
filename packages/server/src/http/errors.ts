/** SPEC 4: the closed catalog of error codes and the status each one answers with. */
export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  UNAUTHENTICATED: 401,
  PAYMENT_REQUIRED: 402,
  BILLING_EXHAUSTED: 402,
  INSUFFICIENT_CREDITS: 402,
  FORBIDDEN_SCOPE: 403,
  FORBIDDEN_IP: 403,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  VALIDATION_FAILED: 422,
  IDEMPOTENCY_KEY_REUSED: 422,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  KILL_SWITCH: 503,
  UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

/** What each code means to the caller, and what to do about it (the OpenAPI document and docs/errors.md show these). */
export const ERROR_MEANINGS: Record<ErrorCode, string> = {
  BAD_REQUEST: 'The request could not be read: malformed JSON, a non-JSON body, a bad cursor or a malformed Idempotency-Key.',
  UNAUTHENTICATED: 'No API key, or one that is malformed, unknown, revoked or expired.',
  PAYMENT_REQUIRED: 'The organization has no plan.',
  BILLING_EXHAUSTED: "The organization's plan does not include API access (details.minTier names the lowest plan that does).",
  INSUFFICIENT_CREDITS: 'The organization has fewer credits than the job costs (details.required, details.creditBalance).',
  FORBIDDEN_SCOPE: 'The key is restricted and lacks the scope this operation needs (details.requiredScope).',
  FORBIDDEN_IP: 'The key has allowedCidrs and the client address (details.clientAddress, behind the deployment’s trusted proxies) is in none of them.',
  FORBIDDEN: 'Console only: the signed-in person’s role does not allow this, or the CSRF token or Origin is missing or wrong (details.reason).',
  NOT_FOUND: 'No such resource in this organization (another organization’s resource answers the same).',
  CONFLICT: 'The resource is in a state that refuses this change (details.reason), or a request with this Idempotency-Key is still running.',
  PAYLOAD_TOO_LARGE: 'The body is over the server’s limit (1 MiB by default).',
  VALIDATION_FAILED: 'The request does not match the schema: details.issues lists each field and what is wrong with it.',
  IDEMPOTENCY_KEY_REUSED: 'This Idempotency-Key was already used with a different body.',
  RATE_LIMITED: 'The rate limit of the key’s endpoint class is spent: wait Retry-After seconds.',
  INTERNAL: 'An unexpected failure; the request id finds it in the server log.',
  KILL_SWITCH: 'A kill switch is on (details.scope: global, organization or key). Do not retry.',
  UNAVAILABLE: 'A dependency is unavailable or the resource is changing state: retry after Retry-After seconds.',
};

export const UNAUTHENTICATED_MESSAGE = 'A valid API key is required.';

export interface ErrorBody {
  error: { code: ErrorCode; message: string; requestId: string; details?: Record<string, unknown> };
}

/** An expected failure with a catalog code; the central handler turns it into the envelope. */
export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.status = ERROR_STATUS[code];
  }
}

export const notFound = (what = 'Resource'): ApiError => new ApiError('NOT_FOUND', `${what} not found.`);
/** SPEC 4: a signed-in person without the role, or a failed CSRF or Origin check (SPEC 13.5). */
export const forbidden = (reason: string, message: string): ApiError => new ApiError('FORBIDDEN', message, { reason });
export const conflict = (reason: string, message: string): ApiError => new ApiError('CONFLICT', message, { reason });

export function errorBody(code: ErrorCode, message: string, requestId: string, details?: Record<string, unknown>): ErrorBody {
  return { error: details === undefined ? { code, message, requestId } : { code, message, requestId, details } };
}
