import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify';
import type { Deps } from '../deps.ts';
import { readSetting, SETTING_ADMIN_TOKEN_HASH } from '../db/settings.ts';
import { presentedCredential, tokenDigest, tokenMatches } from '../http/credentials.ts';
import { ApiError } from '../http/errors.ts';
import { FailureThrottle } from '../auth/failure-throttle.ts';
import { throttledRefusal } from '../auth/throttled-refusal.ts';

/**
 * Whether a route belongs to the admin API, by the path it was registered with. Case and repeated slashes are
 * ignored so that a route registered under an odd spelling of /admin is still taken for one.
 */
export function isAdminRoutePath(url: string): boolean {
  const path = url.toLowerCase().replace(/\/{2,}/g, '/');
  return path === '/admin' || path.startsWith('/admin/');
}

type OnRequestHook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;

const routeHooks = (hooks: unknown): unknown[] => (hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks]);

/** The admin token check (constant time), also for the one console route that takes the token (SPEC 13.2: the first operator). */
export async function adminTokenChecker(deps: Pick<Deps, 'config' | 'store'>): Promise<(token: string | undefined) => boolean> {
  const expectedHash = deps.config.adminToken
    ? tokenDigest(deps.config.adminToken)
    : Buffer.from((await readSetting<string>(deps.store.db, SETTING_ADMIN_TOKEN_HASH)) ?? '', 'base64url');
  return (token) => tokenMatches(token, expectedHash);
}

/**
 * SPEC 10.1: the admin API takes the operator token only, never a partner key. The configured token, or the hash
 * kept in the store when it was generated on first start; compared in constant time.
 *
 * The check is attached to every admin route itself, as the first of its own onRequest hooks, the way the key
 * pipeline is attached to every /v1 route: whatever spelling of the URL the router accepted (percent-encoded
 * letters, an absolute-form target), the route it reached authenticates. A check on the raw URL cannot promise
 * that, because the router decodes what the check compared. Must be installed before any route is registered:
 * when the app is ready, an admin route that does not start with this hook fails the start-up.
 */
export async function installAdminAuth(app: FastifyInstance, deps: Deps): Promise<void> {
  const isAdminToken = await adminTokenChecker(deps);

  // Per client address, like failed keys (SPEC 10.1), so the token cannot be guessed at the speed of the socket.
  const failures = new FailureThrottle(deps.config.authFailuresPerMinute, deps.now);

  const authenticateAdmin: OnRequestHook = (request, _reply, done) => {
    const token = presentedCredential(request.headers, 'x-admin-token');
    // Checked first: the right token is never refused because of other requests' failures.
    if (isAdminToken(token)) {
      request.adminActor = 'admin';
      return done();
    }
    const blockedMs = failures.refuseFailure(`ip:${request.ip}`);
    const outcome = blockedMs > 0 ? 'throttled' : 'unauthenticated';
    deps.metrics.authRefusals.inc({ surface: 'admin', outcome });
    // Never the token itself: whether one was sent is enough to tell a guesser from a misconfigured client.
    request.log.warn({ requestId: request.id, clientAddress: request.ip, tokenPresented: token !== undefined, outcome }, 'admin token refused');
    if (blockedMs === 0) return done(new ApiError('UNAUTHENTICATED', 'A valid admin token is required.'));
    throttledRefusal(deps.tarpit, blockedMs).catch(done);
  };

  const adminRoutes: RouteOptions[] = [];
  app.addHook('onRoute', (route) => {
    if (!isAdminRoutePath(route.url)) return;
    // First, before any hook of the route's own: nothing about an admin route runs for an anonymous caller.
    route.onRequest = [authenticateAdmin, ...routeHooks(route.onRequest)] as RouteOptions['onRequest'];
    adminRoutes.push(route);
  });
  // Route options are read again when the route is built, so a later onRoute hook could still take the check
  // away; the start-up refuses to serve if one did.
  app.addHook('onReady', (done) => {
    const unguarded = adminRoutes.filter((route) => routeHooks(route.onRequest)[0] !== authenticateAdmin);
    if (unguarded.length === 0) return done();
    const names = unguarded.map((route) => `${String(route.method)} ${route.url}`).join(', ');
    done(new Error(`admin routes without admin authentication: ${names}`));
  });
}

export const hashAdminToken = (token: string): string => tokenDigest(token).toString('base64url');
