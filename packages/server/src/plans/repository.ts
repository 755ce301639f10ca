import type { Kysely } from 'kysely';
import type { Database, Plan } from '../db/schema.ts';

type Db = Kysely<Database>;

export const listPlans = (db: Db): Promise<Plan[]> => db.selectFrom('plans').selectAll().orderBy('rank').orderBy('name').execute();

export const findPlanByName = (db: Db, name: string): Promise<Plan | undefined> =>
  db.selectFrom('plans').selectAll().where('name', '=', name).executeTakeFirst();

export const findPlanById = (db: Db, id: string): Promise<Plan | undefined> =>
  db.selectFrom('plans').selectAll().where('id', '=', id).executeTakeFirst();

/** Creates a plan, or replaces the rank and features of the plan with that name. */
export const upsertPlan = (db: Db, plan: { name: string; rank: number; features: string[] }): Promise<Plan> =>
  db
    .insertInto('plans')
    .values(plan)
    .onConflict((oc) => oc.column('name').doUpdateSet({ rank: plan.rank, features: plan.features }))
    .returningAll()
    .executeTakeFirstOrThrow();

/** The lowest-ranked plan that has `feature`: what `details.minTier` names (SPEC 2, check 7). */
export const lowestPlanWithFeature = async (db: Db, feature: string): Promise<string | null> => {
  const row = await db
    .selectFrom('plans')
    .select('name')
    .where((eb) => eb(eb.val(feature), '=', eb.fn.any('features')))
    .orderBy('rank')
    .orderBy('name')
    .limit(1)
    .executeTakeFirst();
  return row?.name ?? null;
};
