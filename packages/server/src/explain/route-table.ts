import type { FastifyInstance } from 'fastify';
import FindMyWay, { type HTTPMethod } from 'find-my-way';
import type { EndpointClass } from '../config.ts';
import type { Scope } from '../http/route-config.ts';

export interface PartnerRoute {
  method: string;
  pattern: string;
  endpointClass: EndpointClass;
  requiredScope: Scope | null;
  reportsSwitches: boolean;
  /** What the route answers when it succeeds: the highest 2xx it declares (201 over 200 for a create). */
  successStatus: number;
}

/**
 * The /v1 routes that go through the key pipeline, matched the way Fastify matches them: find-my-way is Fastify's
 * own router, fed the same patterns as they are registered, so explain (SPEC 8.9) finds the route a request would
 * reach without a second copy of any route's class or scope.
 */
export class PartnerRouteTable {
  private readonly router = FindMyWay();

  add(route: PartnerRoute): void {
    try {
      this.router.on(route.method as HTTPMethod, route.pattern, () => undefined, route);
    } catch {
      // Fastify registers HEAD beside GET itself; a route already known is not a second route.
    }
  }

  match(method: string, path: string): PartnerRoute | undefined {
    const queryAt = path.indexOf('?');
    const found = this.router.find(method as HTTPMethod, queryAt === -1 ? path : path.slice(0, queryAt));
    return (found?.store as PartnerRoute | undefined) ?? undefined;
  }
}

function successStatusOf(response: unknown): number {
  const statuses = Object.keys((response as Record<string, unknown> | undefined) ?? {})
    .map(Number)
    .filter((status) => status >= 200 && status < 300);
  return statuses.length > 0 ? Math.max(...statuses) : 200;
}

/** Collects every route registered after this call that declares an endpoint class. */
export function collectPartnerRoutes(app: FastifyInstance): PartnerRouteTable {
  const table = new PartnerRouteTable();
  app.addHook('onRoute', (route) => {
    const endpointClass = route.config?.endpointClass;
    if (!endpointClass) return;
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) {
      table.add({
        method: String(method),
        pattern: route.url,
        endpointClass,
        requiredScope: route.config?.scope ?? null,
        reportsSwitches: route.config?.reportsSwitches === true,
        successStatus: successStatusOf(route.schema?.response),
      });
    }
  });
  return table;
}
