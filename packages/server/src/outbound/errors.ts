/**
 * Why an outbound call failed, as a code a job or a webhook delivery can store and a client can branch on.
 * `UPSTREAM_HTTP_<status>` is for an answer whose status the caller did not accept.
 */
export type OutboundErrorCode =
  | 'UPSTREAM_TIMEOUT'
  | 'UPSTREAM_TOO_LARGE'
  | 'UPSTREAM_BLOCKED_ADDRESS'
  | 'UPSTREAM_TOO_MANY_REDIRECTS'
  | 'UPSTREAM_INVALID_URL'
  | 'UPSTREAM_INVALID_RESPONSE'
  | 'UPSTREAM_UNREACHABLE'
  | 'UPSTREAM_ABORTED'
  | `UPSTREAM_HTTP_${number}`;

export class OutboundError extends Error {
  constructor(
    readonly code: OutboundErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'OutboundError';
  }
}

/** Node's own error codes for a peer that could not be reached or dropped the connection. */
const UNREACHABLE = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ETIMEDOUT']);

export function toOutboundError(error: unknown): OutboundError {
  if (error instanceof OutboundError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? '';
  if (code.startsWith('HPE_')) return new OutboundError('UPSTREAM_INVALID_RESPONSE', 'The upstream answer is not valid HTTP.', { cause: error });
  if (UNREACHABLE.has(code)) return new OutboundError('UPSTREAM_UNREACHABLE', `The upstream could not be reached (${code}).`, { cause: error });
  if (code.startsWith('ERR_TLS') || code.includes('CERT')) {
    return new OutboundError('UPSTREAM_UNREACHABLE', `The upstream's TLS connection failed (${code}).`, { cause: error });
  }
  return new OutboundError('UPSTREAM_UNREACHABLE', 'The upstream call failed.', { cause: error });
}
