import type { FastifyInstance, RouteOptions } from 'fastify';

export type RouteHookName = 'onRequest' | 'preValidation' | 'preHandler' | 'onSend' | 'onResponse';
/** One hook of the kind a route option takes, which is either one hook or a list of them. */
export type RouteHook<N extends RouteHookName> = Exclude<NonNullable<RouteOptions[N]>, readonly unknown[]>;

/**
 * Attaches a hook only to the routes that need it, built once per route with the route's options in hand. A route
 * the builder passes over (health checks, the admin API for partner-key hooks) pays nothing for it per request, and
 * the hook reads its route's config from its closure rather than from `request.routeOptions`, which Fastify builds
 * anew on every read. Route hooks run after the application's own, in the order they were attached.
 */
export function addRouteHook<N extends RouteHookName>(app: FastifyInstance, name: N, build: (route: RouteOptions) => RouteHook<N> | undefined): void {
  app.addHook('onRoute', (route) => {
    const hook = build(route);
    if (hook === undefined) return;
    const existing: unknown = route[name];
    const hooks = existing === undefined ? [] : Array.isArray(existing) ? existing : [existing];
    (route as Record<N, unknown>)[name] = [...hooks, hook];
  });
}
