import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { EndpointClass } from '../config.ts';
import type { Deps } from '../deps.ts';
import { lowestPlanWithFeature } from '../plans/repository.ts';
import { presentedCredential } from '../http/credentials.ts';
import { ApiError, UNAUTHENTICATED_MESSAGE } from '../http/errors.ts';
import { addRouteHook } from '../http/route-hooks.ts';
import { enforceRateLimit } from '../limits/enforce.ts';
import { API_ACCESS_FEATURE, decideAccess } from './access-decision.ts';
import type { Verification } from './key-verifier.ts';
import { throttledRefusal } from './throttled-refusal.ts';

/** SPEC 2: X-Api-Key first; Authorization: Bearer only when X-Api-Key is absent, whatever either holds. */
export const presentedKey = (headers: FastifyRequest['headers']): string | undefined => presentedCredential(headers, 'x-api-key');

/** The lowest plan with api_access changes only when plans do; it is remembered until then. */
function minTierMemo(deps: Deps): { get: () => string | null; refresh: () => Promise<void> } {
  let value: string | null = null;
  const refresh = async () => {
    value = await lowestPlanWithFeature(deps.store.db, API_ACCESS_FEATURE);
  };
  deps.bus.subscribe((event) => {
    if (event.kind === 'plans' || event.kind === 'all') void refresh().catch((error) => deps.logger.warn({ err: error }, 'plan refresh failed'));
  });
  return { get: () => value, refresh };
}

/**
 * The key pipeline of SPEC 2, as a hook that every /v1 route gets without opting in. A /v1 route that does not
 * declare its endpoint class and scope fails at registration, so none can be added without them.
 */
export async function installKeyPipeline(app: FastifyInstance, deps: Deps): Promise<void> {
  const minTier = minTierMemo(deps);
  await minTier.refresh();

  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/v1/') || route.config?.public) return;
    if (!route.config?.endpointClass || route.config.scope === undefined) {
      throw new Error(`${route.method} ${route.url}: /v1 routes must declare config.endpointClass and config.scope`);
    }
  });

  addRouteHook(app, 'onRequest', (route) => {
    const endpointClass = route.config?.endpointClass;
    if (!endpointClass) return undefined;
    const requiredScope = route.config?.scope ?? null;
    const reportsSwitches = route.config?.reportsSwitches === true;

    const admit = (request: FastifyRequest, reply: FastifyReply, verification: Verification): Promise<void> | undefined => {
      if (!verification.ok) return refuse(verification, endpointClass);
      const state = verification.state;
      request.verifiedKey = state;
      const rejection = decideAccess(state, {
        now: deps.now(),
        globalKillSwitch: deps.globalSwitch.isOn,
        requiredScope,
        reportsSwitches,
        // Read only for a key that has allowedCidrs: behind trusted proxies it parses X-Forwarded-For.
        clientAddress: state.allowedRanges === null ? undefined : request.ip,
        minTier: minTier.get,
      });
      if (rejection) throw rejection;
      // Set before check 9 so that a 429 is logged and audited against its key.
      request.principal = state;
      const limited = enforceRateLimit(deps, reply, state, endpointClass);
      if (limited) return limited.then(() => deps.usage.record(state.apiKeyId));
      deps.usage.record(state.apiKeyId);
      return undefined;
    };

    // A callback hook, not an async one: a cached key with the in-memory limiter passes without a promise.
    const pipeline = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
      const verification = deps.verifier.verify(presentedKey(request.headers), request.ip);
      if (verification instanceof Promise) {
        verification.then((settled) => admit(request, reply, settled)).then(() => done(), done);
        return;
      }
      const limited = admit(request, reply, verification);
      if (limited) limited.then(() => done(), done);
      else done();
    };
    return pipeline;
  });

  /** Check 1 failed: 401, or 429 for a client or key_id over its failures, held in the tarpit when there is room. */
  function refuse(verification: Exclude<Verification, { ok: true }>, endpointClass: EndpointClass): Promise<never> {
    if (verification.reason !== 'throttled') {
      deps.metrics.authRefusals.inc({ surface: 'v1', outcome: 'unauthenticated' });
      throw new ApiError('UNAUTHENTICATED', UNAUTHENTICATED_MESSAGE);
    }
    deps.metrics.authRefusals.inc({ surface: 'v1', outcome: 'throttled' });
    deps.metrics.rateLimited.inc({ class: endpointClass });
    return throttledRefusal(deps.tarpit, verification.retryAfterMs, { endpointClass });
  }
}

/** For handlers: the principal the pipeline set; a route reached without one is a wiring bug. */
export function principalOf(request: FastifyRequest) {
  if (!request.principal) throw new Error('route reached without an authenticated principal');
  return request.principal;
}
