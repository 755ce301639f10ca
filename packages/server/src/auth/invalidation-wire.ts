import type { Invalidation } from './invalidation.ts';

/**
 * The message buses carry between instances: the event and the instance that sent it, so an instance skips its own
 * (it delivered them to itself already, at publish time).
 */
export function encodeInvalidation(origin: string, event: Invalidation): string {
  return JSON.stringify({ o: origin, e: event });
}

const isString = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

/** Anything unreadable becomes `all`: dropping every cached state is always safe, missing one change is not. */
export function decodeInvalidation(message: string): { origin: string | undefined; event: Invalidation } {
  let parsed: { o?: unknown; e?: { kind?: unknown; apiKeyId?: unknown; organizationId?: unknown } };
  try {
    parsed = JSON.parse(message) as typeof parsed;
  } catch {
    return { origin: undefined, event: { kind: 'all' } };
  }
  const origin = isString(parsed?.o) ? parsed.o : undefined;
  const e = parsed?.e;
  switch (e?.kind) {
    case 'key':
      if (isString(e.apiKeyId)) return { origin, event: { kind: 'key', apiKeyId: e.apiKeyId } };
      break;
    case 'organization':
      if (isString(e.organizationId)) return { origin, event: { kind: 'organization', organizationId: e.organizationId } };
      break;
    case 'plans':
    case 'global':
    case 'all':
      return { origin, event: { kind: e.kind } };
  }
  return { origin, event: { kind: 'all' } };
}

/** Publishing must not hold a request for long when the channel is down: the backstop covers a lost message. */
export async function withinMs<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
