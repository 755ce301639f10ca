import { Type } from '@sinclair/typebox';
import type { Deps } from '../deps.ts';
import { listPlans, upsertPlan } from './repository.ts';
import type { Plan } from '../db/schema.ts';
import type { App } from '../http/typed-app.ts';
import { unitOfWork } from '../http/unit-of-work.ts';

const PlanSchema = Type.Object({ id: Type.String(), name: Type.String(), rank: Type.Integer(), features: Type.Array(Type.String()) });
const PlanBody = Type.Object(
  {
    name: Type.String({ maxLength: 64, pattern: '^[a-z][a-z0-9_-]{0,63}$' }),
    rank: Type.Integer({ minimum: 0, maximum: 1000 }),
    features: Type.Array(Type.String({ maxLength: 64, pattern: '^[a-z][a-z0-9_:-]{0,63}$' }), { maxItems: 64, uniqueItems: true }),
  },
  { additionalProperties: false },
);

const present = (plan: Plan) => ({ id: plan.id, name: plan.name, rank: plan.rank, features: plan.features });

export function registerPlanRoutes(app: App, deps: Deps): void {
  app.get('/plans', { config: { audit: 'admin.plan.list' }, schema: { response: { 200: Type.Object({ data: Type.Array(PlanSchema) }) } } }, async () => ({
    data: (await listPlans(deps.store.db)).map(present),
  }));

  /** Creates a plan, or redefines the plan with that name; every instance re-reads plans at once. */
  app.post(
    '/plans',
    { config: { audit: 'admin.plan.upsert' }, schema: { body: PlanBody, response: { 201: PlanSchema } } },
    async (request, reply) =>
      unitOfWork(request, reply, async (unit) => {
        const plan = await upsertPlan(unit.db, request.body);
        unit.audit({ type: 'plan', id: plan.id });
        unit.afterCommit(() => deps.bus.publish({ kind: 'plans' }));
        return { status: 201, body: present(plan) };
      }),
  );
}
