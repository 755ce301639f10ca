import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { addRouteHook } from '../http/route-hooks.ts';
import type { UsageRecording } from './recording.ts';

/**
 * Every /v1 answer is counted (when a verified key asked) and logged, once it has gone out. Routes with an endpoint
 * class get the hook with their pattern and class in its closure; a /v1 path that matched no route is logged by a
 * hook that every request passes with one boolean test.
 */
export function installUsageHooks(app: FastifyInstance, recording: UsageRecording): void {
  addRouteHook(app, 'onResponse', (route) => {
    const endpointClass = route.config?.endpointClass;
    if (!endpointClass) return undefined;
    const pattern = route.url;
    return (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
      recording.record(request.verifiedKey, request, reply, pattern, endpointClass);
      done();
    };
  });

  app.addHook('onResponse', (request, reply, done) => {
    if (request.is404 && request.url.startsWith('/v1/')) recording.record(undefined, request, reply, null, null);
    done();
  });
}
