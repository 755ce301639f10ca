import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { principalOf } from '../auth/pipeline.ts';

export const WhoamiSchema = Type.Object({
  organizationId: Type.String({ format: 'uuid' }),
  workspaceId: Type.String({ format: 'uuid' }),
  organizationName: Type.String(),
  scopes: Type.Array(Type.String()),
  rateLimitTier: Type.String(),
  killSwitch: Type.Boolean(),
  apiAccessRevoked: Type.Boolean(),
  apiKeyId: Type.String({ format: 'uuid' }),
  creditBalance: Type.Integer(),
  env: Type.Union([Type.Literal('live'), Type.Literal('test')]),
}, { title: 'Whoami' });

/** SPEC 3: the boot check. Served entirely from the pipeline's cached key state. */
export function registerWhoami(app: FastifyInstance): void {
  app.get(
    '/v1/whoami',
    {
      config: { endpointClass: 'read-light', scope: null, reportsSwitches: true },
      schema: { summary: 'The key, its organization and its switches', tags: ['whoami'], response: { 200: WhoamiSchema } },
    },
    async (request) => {
      const key = principalOf(request);
      return {
        organizationId: key.organizationId,
        workspaceId: key.organizationId,
        organizationName: key.organizationName,
        scopes: key.scopes,
        rateLimitTier: key.rateLimitTier,
        killSwitch: key.killSwitch,
        apiAccessRevoked: key.apiAccessRevoked,
        apiKeyId: key.apiKeyId,
        creditBalance: key.creditBalance,
        env: key.env,
      };
    },
  );
}
