import { ApiError } from '../http/errors.ts';
import { SCOPES } from '../http/route-config.ts';

/**
 * SPEC 9: a restricted key hands out only scopes it holds. An empty list means full organization access, which a
 * restricted key does not hold either, so asking for it is an escalation too. Returns what the grant would add
 * beyond the holder's scopes (empty when only "full access" itself is beyond them), or null when it may pass.
 */
export function scopesBeyondHolder(holderScopes: readonly string[], requestedScopes: readonly string[]): string[] | null {
  if (holderScopes.length === 0) return null;
  const fullAccess = requestedScopes.length === 0;
  const missing = [...new Set((fullAccess ? SCOPES : requestedScopes).filter((scope) => !holderScopes.includes(scope)))];
  return fullAccess || missing.length > 0 ? missing : null;
}

/** Throws 403 FORBIDDEN_SCOPE when a key holding `holderScopes` may not create a key with `requestedScopes`. */
export function assertMayGrant(holderScopes: readonly string[], requestedScopes: readonly string[]): void {
  const missing = scopesBeyondHolder(holderScopes, requestedScopes);
  if (missing === null) return;
  const message =
    requestedScopes.length === 0
      ? 'A key with scopes cannot create a key with full access (an empty scope list). List the scopes the new key needs.'
      : `This API key cannot grant scopes it does not hold: ${missing.join(', ')}.`;
  throw new ApiError('FORBIDDEN_SCOPE', message, { requiredScope: missing[0] ?? null, missingScopes: missing });
}

/**
 * SPEC 9: a restricted key acts (roll, kill, revoke, patch) only on keys whose scopes are within its own, so a key
 * holding `keys:write` cannot switch off the organization's full-access keys. Throws 403 FORBIDDEN_SCOPE otherwise.
 * A key's scopes never change after creation, so a check made before the write cannot go stale.
 */
export function assertMayActOn(holderScopes: readonly string[], targetScopes: readonly string[]): void {
  const missing = scopesBeyondHolder(holderScopes, targetScopes);
  if (missing === null) return;
  const message =
    targetScopes.length === 0
      ? 'A key with scopes cannot act on a key with full access.'
      : `This API key cannot act on a key with scopes it does not hold: ${missing.join(', ')}.`;
  throw new ApiError('FORBIDDEN_SCOPE', message, { requiredScope: missing[0] ?? null, missingScopes: missing });
}
