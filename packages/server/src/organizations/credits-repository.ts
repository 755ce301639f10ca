import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';

type Db = Kysely<Database>;

export async function creditBalanceOf(db: Db, organizationId: string): Promise<number> {
  const row = await db.selectFrom('organizations').select('credit_balance').where('id', '=', organizationId).executeTakeFirst();
  return row?.credit_balance ?? 0;
}

/**
 * Takes `credits` from the balance if it holds that many, in one guarded statement: however many charges run at
 * once, the balance never goes below zero. False when the balance is short.
 */
export async function chargeCredits(db: Db, organizationId: string, credits: number): Promise<boolean> {
  const row = await db
    .updateTable('organizations')
    .set({ credit_balance: sql<number>`credit_balance - ${credits}`, updated_at: new Date() })
    .where('id', '=', organizationId)
    .where('credit_balance', '>=', credits)
    .returning('credit_balance')
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Adds `credits` to the balance in one statement (no read-then-write, so concurrent top-ups all count), unless the
 * balance would pass `ceiling`. The balance after, or undefined when there is no such organization or it would. The
 * guard adds in bigint: in integer, a balance of 1.5 billion plus 2 billion more overflowed in the comparison itself
 * (PostgreSQL's 22003, a 500) instead of failing it.
 */
export async function addCredits(db: Db, organizationId: string, credits: number, ceiling: number): Promise<number | undefined> {
  const row = await db
    .updateTable('organizations')
    .set({ credit_balance: sql<number>`credit_balance + ${credits}`, updated_at: new Date() })
    .where('id', '=', organizationId)
    .where(sql<boolean>`credit_balance::bigint + ${credits}::bigint <= ${ceiling}::bigint`)
    .returning('credit_balance')
    .executeTakeFirst();
  return row?.credit_balance;
}
