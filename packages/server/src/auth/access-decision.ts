import { ApiError } from '../http/errors.ts';
import type { Scope } from '../http/route-config.ts';
import { addressInAny, parseClientAddress } from '../net/cidr.ts';
import type { KeyState } from './key-state.ts';

export const API_ACCESS_FEATURE = 'api_access';

export interface AccessContext {
  now: number;
  globalKillSwitch: boolean;
  requiredScope: Scope | null;
  reportsSwitches: boolean;
  /** SPEC 13.4: the request's client address; absent when there is no request to check (an operator's explain). */
  clientAddress?: string | undefined;
  /** The lowest plan with api_access, for BILLING_EXHAUSTED. */
  minTier: () => string | null;
}

export interface AccessCheck {
  /** The check's name, as explain (SPEC 8.9) reports it. */
  name: string;
  /** What a pass means, for explain. */
  passes: string;
  /** The rejection, or null when the request passes this check. */
  run(state: KeyState, context: AccessContext): ApiError | null;
}

/**
 * SPEC 2, checks 2 to 8, in the order of the table: the first that fails answers. Check 1 (the key itself) is the
 * verifier's and check 9 (rate limits) the limiter's. The pipeline and explain both read this one list.
 */
export const ACCESS_CHECKS: readonly AccessCheck[] = [
  {
    name: 'revoked',
    passes: 'The key is not revoked.',
    run: (state) => (state.status === 'revoked' ? new ApiError('UNAUTHENTICATED', 'API key has been revoked.') : null),
  },
  {
    name: 'expired',
    passes: 'The key has not expired.',
    run: (state, context) => (state.expiresAt !== null && state.expiresAt <= context.now ? new ApiError('UNAUTHENTICATED', 'API key has expired.') : null),
  },
  {
    name: 'global_kill_switch',
    passes: 'The platform kill switch is off.',
    run: (_state, context) => (context.globalKillSwitch ? new ApiError('KILL_SWITCH', 'The platform kill switch is on. Do not retry.', { scope: 'global' }) : null),
  },
  {
    name: 'key_kill_switch',
    passes: "The key's kill switch is off, or this route reports it instead of refusing.",
    run: (state, context) =>
      !context.reportsSwitches && state.killSwitch
        ? new ApiError('KILL_SWITCH', 'This API key has been disabled by its kill switch. Do not retry.', { scope: 'key' })
        : null,
  },
  {
    name: 'organization_access',
    passes: "The organization's API access is not revoked, or this route reports it instead of refusing.",
    run: (state, context) =>
      !context.reportsSwitches && state.apiAccessRevoked
        ? new ApiError('KILL_SWITCH', "This organization's API access has been revoked. Do not retry.", { scope: 'organization' })
        : null,
  },
  {
    name: 'client_address',
    passes: 'The key may be used from any address, or the client address is in its allowedCidrs.',
    run: (state, context) =>
      state.allowedRanges === null || context.clientAddress === undefined || addressInAny(parseClientAddress(context.clientAddress), state.allowedRanges)
        ? null
        : new ApiError('FORBIDDEN_IP', 'This API key may not be used from this address.', { clientAddress: context.clientAddress }),
  },
  {
    name: 'plan',
    passes: 'The organization has a plan.',
    run: (state) => (state.planName === null ? new ApiError('PAYMENT_REQUIRED', 'The organization has no plan.') : null),
  },
  {
    name: 'api_access',
    passes: "The organization's plan includes API access.",
    run: (state, context) =>
      state.planFeatures.includes(API_ACCESS_FEATURE)
        ? null
        : new ApiError('BILLING_EXHAUSTED', "The organization's plan does not include API access.", { minTier: context.minTier() }),
  },
  {
    name: 'scope',
    passes: 'The key holds the scope the route needs (or is unrestricted, or the route needs none).',
    run: (state, context) =>
      context.requiredScope !== null && state.scopes.length > 0 && !state.scopes.includes(context.requiredScope)
        ? new ApiError('FORBIDDEN_SCOPE', `This API key lacks the ${context.requiredScope} scope.`, { requiredScope: context.requiredScope })
        : null,
  },
];

/** Returns the first rejection of ACCESS_CHECKS, or null when the request may pass. */
export function decideAccess(state: KeyState, context: AccessContext): ApiError | null {
  for (let i = 0; i < ACCESS_CHECKS.length; i++) {
    const rejection = ACCESS_CHECKS[i]!.run(state, context);
    if (rejection) return rejection;
  }
  return null;
}
