import { ACCESS_CHECKS, API_ACCESS_FEATURE, type AccessContext } from '../auth/access-decision.ts';
import type { KeyState } from '../auth/key-state.ts';
import { lowestPlanWithFeature } from '../plans/repository.ts';
import type { Deps } from '../deps.ts';
import type { ApiError } from '../http/errors.ts';
import { limitOf, rateLimitRefusal } from '../limits/enforce.ts';
import type { PartnerRouteTable } from './route-table.ts';

export type CheckOutcome = 'pass' | 'fail' | 'skipped';

export interface Explanation {
  route: string | null;
  endpointClass: string | null;
  requiredScope: string | null;
  checks: { check: string; outcome: CheckOutcome; detail: string }[];
  wouldAnswer: { status: number; code: string | null };
}

const SKIPPED = 'Not reached: an earlier check answers.';
const LATER_CHECKS = ['key', ...ACCESS_CHECKS.map((check) => check.name), 'rate_limit'];

/**
 * SPEC 8.9: the checks of SPEC 2 for `key` against `method path`, without running the route. Checks 2 to 8 are the
 * pipeline's own list (auth/access-decision.ts); check 9 reads the key's bucket without taking a request from it.
 * `keyDetail` says how check 1 was passed (the caller's verified secret, or an operator naming the key).
 */
export async function explain(
  deps: Deps,
  routes: PartnerRouteTable,
  key: KeyState,
  method: string,
  path: string,
  keyDetail: string,
  clientAddress?: string,
): Promise<Explanation> {
  const route = routes.match(method, path);
  if (!route) {
    return {
      route: null,
      endpointClass: null,
      requiredScope: null,
      checks: [{ check: 'route', outcome: 'fail', detail: `No partner API route matches ${method} ${path.split('?')[0]}.` }, ...LATER_CHECKS.map((check) => ({ check, outcome: 'skipped' as const, detail: SKIPPED }))],
      wouldAnswer: { status: 404, code: 'NOT_FOUND' },
    };
  }
  const checks: Explanation['checks'] = [
    { check: 'route', outcome: 'pass', detail: `${route.method} ${route.pattern}` },
    { check: 'key', outcome: 'pass', detail: keyDetail },
  ];
  const minTier = await lowestPlanWithFeature(deps.store.db, API_ACCESS_FEATURE);
  const context: AccessContext = {
    now: deps.now(),
    globalKillSwitch: deps.globalSwitch.isOn,
    requiredScope: route.requiredScope,
    reportsSwitches: route.reportsSwitches,
    clientAddress,
    minTier: () => minTier,
  };
  let failure: ApiError | null = null;
  for (const check of ACCESS_CHECKS) {
    if (failure) {
      checks.push({ check: check.name, outcome: 'skipped', detail: SKIPPED });
      continue;
    }
    failure = check.run(key, context);
    checks.push(failure ? { check: check.name, outcome: 'fail', detail: failure.message } : { check: check.name, outcome: 'pass', detail: check.passes });
  }
  if (failure) {
    checks.push({ check: 'rate_limit', outcome: 'skipped', detail: SKIPPED });
  } else {
    const { tier, limit } = limitOf(deps, key, route.endpointClass);
    const decision = await deps.limiter.peek(key.apiKeyId, route.endpointClass, limit);
    if (decision.allowed) {
      checks.push({ check: 'rate_limit', outcome: 'pass', detail: `${decision.remaining + 1} of ${limit} ${route.endpointClass} requests per minute left (tier ${tier}).` });
    } else {
      failure = rateLimitRefusal(decision, route.endpointClass);
      checks.push({ check: 'rate_limit', outcome: 'fail', detail: failure.message });
    }
  }
  return {
    route: route.pattern,
    endpointClass: route.endpointClass,
    requiredScope: route.requiredScope,
    checks,
    wouldAnswer: failure ? { status: failure.status, code: failure.code } : { status: route.successStatus, code: null },
  };
}
