import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import type { Deps } from '../deps.ts';
import { ApiError, forbidden } from '../http/errors.ts';
import { addRouteHook } from '../http/route-hooks.ts';
import { mayAccess, type ConsoleAccess } from './roles.ts';
import { resolveSession, sessionTokenOf, type SignedIn } from './sessions.ts';

export const CONSOLE_API = '/console/api';
/** The admin API's routes, mounted a second time for operators signed in to the console (src/admin/index.ts). */
export const CONSOLE_OPERATOR_API = `${CONSOLE_API}/ops`;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call a console route (src/people/roles.ts); every /console/api route declares it. */
    console?: ConsoleAccess;
    /**
     * For the admin API's routes, what an operator signed in to the console needs: `read` (the default for GET),
     * `switch` (support may too) or `write` (the default otherwise).
     */
    operatorAccess?: 'read' | 'switch' | 'write';
    /** With `operatorAccess: 'switch'`: the only body fields a `support` operator may send (SPEC 13.2). */
    supportFields?: readonly string[];
  }
  interface FastifyRequest {
    /** The signed-in person, on a console route. */
    person?: SignedIn;
    /** The session cookie's token, when the request carried one of our shape. */
    sessionToken?: string;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function consoleAccessOf(route: Pick<RouteOptions, 'url' | 'method' | 'config'>): ConsoleAccess | undefined {
  const declared = route.config?.console;
  if (declared) return declared;
  if (!route.url.startsWith(`${CONSOLE_OPERATOR_API}/`)) return undefined;
  const method = [route.method].flat()[0] ?? 'GET';
  return { who: 'operator', may: route.config?.operatorAccess ?? (SAFE_METHODS.has(method) ? 'read' : 'write') };
}

/**
 * SPEC 13.5 for every /console/api route: a state change must come from the console's own origin (`Origin` equal to
 * the public URL's) and, once signed in, carry the session's CSRF token; then the session, then the role. Only the
 * gh_session cookie opens the console API: an API key or the admin token there is ignored, so it is a 401.
 */
export function installConsoleAuth(app: FastifyInstance, deps: Deps): void {
  app.addHook('onRoute', (route) => {
    if (route.url.startsWith(`${CONSOLE_API}/`) && !consoleAccessOf(route)) {
      throw new Error(`${String(route.method)} ${route.url}: /console/api routes must declare config.console`);
    }
  });

  addRouteHook(app, 'onRequest', (route) => {
    if (!route.url.startsWith(`${CONSOLE_API}/`)) return undefined;
    const access = consoleAccessOf(route)!;
    const changesState = !SAFE_METHODS.has([route.method].flat()[0] ?? 'GET');
    return async (request: FastifyRequest) => {
      if (changesState && request.headers.origin !== deps.people.publicOrigin) {
        deps.metrics.authRefusals.inc({ surface: 'console', outcome: 'origin' });
        throw forbidden('origin', 'This request must come from the console (its Origin does not match the public URL).');
      }
      const token = sessionTokenOf(request.headers.cookie);
      if (token) request.sessionToken = token;
      if (access.who === 'anyone') return;
      const found = token ? await resolveSession(deps, token) : undefined;
      if (!found || !token) {
        deps.metrics.authRefusals.inc({ surface: 'console', outcome: 'unauthenticated' });
        throw new ApiError('UNAUTHENTICATED', 'Sign in to continue.');
      }
      const csrf = request.headers['x-csrf-token'];
      if (changesState && (typeof csrf !== 'string' || !deps.people.sessions.csrfMatches(csrf, token))) {
        deps.metrics.authRefusals.inc({ surface: 'console', outcome: 'csrf' });
        throw forbidden('csrf', 'The X-CSRF-Token header is missing or does not belong to this session.');
      }
      request.person = found;
      if (!mayAccess(found, access)) throw forbidden('role', 'Your role does not allow this.');
      if (access.who === 'partner' && found.require_second_factor && !found.totp_enabled) {
        throw forbidden('second_factor_required', 'Your organization requires a second factor: set one up under Account first.');
      }
    };
  });

  addRouteHook(app, 'preValidation', (route) => {
    const fields = route.config?.supportFields;
    if (!fields || !route.url.startsWith(`${CONSOLE_API}/`)) return undefined;
    return async (request: FastifyRequest) => {
      if (request.person?.role !== 'support') return;
      const body = request.body;
      const sent = body && typeof body === 'object' ? Object.keys(body) : [];
      if (sent.some((field) => !fields.includes(field))) throw forbidden('role', `Support may change only ${fields.join(', ')} here.`);
    };
  });
}
