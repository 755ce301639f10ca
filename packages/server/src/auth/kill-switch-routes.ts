import { Type } from '@sinclair/typebox';
import type { Deps } from '../deps.ts';
import type { App } from '../http/typed-app.ts';
import { unitOfWork } from '../http/unit-of-work.ts';

const KillSwitch = Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false });

export function registerKillSwitchRoutes(app: App, deps: Deps): void {
  app.get('/kill-switch', { config: { audit: 'admin.kill_switch.read' }, schema: { response: { 200: KillSwitch } } }, async () => ({
    enabled: await deps.globalSwitch.refresh(),
  }));

  app.put(
    '/kill-switch',
    { config: { audit: 'admin.kill_switch.set' }, schema: { body: KillSwitch, response: { 200: KillSwitch } } },
    async (request, reply) =>
      unitOfWork(request, reply, async (unit) => {
        const { enabled } = request.body;
        unit.audit({ type: 'platform', id: enabled ? 'kill_switch:on' : 'kill_switch:off' });
        await deps.globalSwitch.set(unit, enabled);
        return { body: { enabled } };
      }),
  );
}
