import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

/**
 * A transaction and the effects to run once it has committed: what a service that changes something and then tells
 * the world (a bus publish, a nudge) takes first. The HTTP unit of work (http/unit-of-work.ts) is one; `inTransaction`
 * makes one for callers outside a request (first start, benchmarks).
 */
export interface Tx {
  readonly db: Kysely<Database>;
  afterCommit(effect: () => unknown): void;
}

/** Runs `work` in one transaction, then its after-commit effects, in order. */
export async function inTransaction<T>(db: Kysely<Database>, work: (tx: Tx) => Promise<T>): Promise<T> {
  const effects: Array<() => unknown> = [];
  const result = await db.transaction().execute((trx) => work({ db: trx, afterCommit: (effect) => effects.push(effect) }));
  for (const effect of effects) await effect();
  return result;
}
