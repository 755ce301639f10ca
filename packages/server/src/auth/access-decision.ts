import { ApiError } from '../http/errors.ts';
import type { Scope } from '../http/route-config.ts';
import type { KeyState } from './key-state.ts';

export const API_ACCESS_FEATURE = 'api_access';

export interface AccessContext {
  now: number;
  globalKillSwitch: boolean;
  requiredScope: Scope | null;
  reportsSwitches: boolean;
  /** The lowest plan with api_access, for BILLING_EXHAUSTED. */
  minTier: () => string | null;
}

/**
 * SPEC 2, checks 2 to 8, in the order of the table: the first that fails answers. Check 1 (the key itself) is the
 * verifier's and check 9 (rate limits) the limiter's. Returns the rejection, or null when the request may pass.
 */
export function decideAccess(state: KeyState, context: AccessContext): ApiError | null {
  if (state.status === 'revoked') return new ApiError('UNAUTHENTICATED', 'API key has been revoked.');
  if (state.expiresAt !== null && state.expiresAt <= context.now) return new ApiError('UNAUTHENTICATED', 'API key has expired.');
  if (context.globalKillSwitch) {
    return new ApiError('KILL_SWITCH', 'The platform kill switch is on. Do not retry.', { scope: 'global' });
  }
  if (!context.reportsSwitches) {
    if (state.killSwitch) return new ApiError('KILL_SWITCH', 'This API key has been disabled by its kill switch. Do not retry.', { scope: 'key' });
    if (state.apiAccessRevoked) {
      return new ApiError('KILL_SWITCH', "This organization's API access has been revoked. Do not retry.", { scope: 'organization' });
    }
  }
  if (state.planName === null) return new ApiError('PAYMENT_REQUIRED', 'The organization has no plan.');
  if (!state.planFeatures.includes(API_ACCESS_FEATURE)) {
    return new ApiError('BILLING_EXHAUSTED', "The organization's plan does not include API access.", { minTier: context.minTier() });
  }
  if (context.requiredScope !== null && state.scopes.length > 0 && !state.scopes.includes(context.requiredScope)) {
    return new ApiError('FORBIDDEN_SCOPE', `This API key lacks the ${context.requiredScope} scope.`, { requiredScope: context.requiredScope });
  }
  return null;
}
