import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Deps } from '../deps.ts';

const KillSwitch = Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false });

export function registerKillSwitchRoutes(app: FastifyInstance, deps: Deps): void {
  app.get('/admin/v1/kill-switch', { config: { audit: 'admin.kill_switch.read' }, schema: { response: { 200: KillSwitch } } }, async () => ({
    enabled: await deps.globalSwitch.refresh(),
  }));

  app.put(
    '/admin/v1/kill-switch',
    { config: { audit: 'admin.kill_switch.set' }, schema: { body: KillSwitch, response: { 200: KillSwitch } } },
    async (request) => {
      const { enabled } = request.body as typeof KillSwitch.static;
      request.auditTarget = { type: 'platform', id: enabled ? 'kill_switch:on' : 'kill_switch:off' };
      await deps.globalSwitch.set(enabled);
      return { enabled };
    },
  );
}
