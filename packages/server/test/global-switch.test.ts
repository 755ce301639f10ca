import type { KyselyPlugin } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GlobalSwitch } from '../src/auth/global-switch.ts';
import { LocalInvalidationBus } from '../src/auth/invalidation.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { inTransaction } from '../src/db/transaction.ts';
import { createTestStore, usingPostgres } from './harness.ts';

/** Holds every query's answer until `release` is called: a read that the database answered but the process has not yet seen. */
function heldAnswers(): { plugin: KyselyPlugin; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  return {
    release,
    plugin: {
      transformQuery: (args) => args.node,
      transformResult: async (args) => {
        await gate;
        return args.result;
      },
    },
  };
}

// A pool is what lets a read overlap a commit; PGlite's one connection runs them one after the other.
describe.runIf(usingPostgres)('the global kill switch in memory', () => {
  let store: Awaited<ReturnType<typeof createTestStore>>;
  beforeAll(async () => {
    store = await createTestStore();
    await migrateToLatest(store.db);
  });
  afterAll(async () => store?.close());

  it('a poll that read before a change committed does not undo the change when its answer arrives later', async () => {
    const held = heldAnswers();
    const globalSwitch = new GlobalSwitch(store.db.withPlugin(held.plugin), new LocalInvalidationBus(), 60_000);
    try {
      const stalePoll = globalSwitch.refresh();
      await inTransaction(store.db, (tx) => globalSwitch.set(tx, true));
      expect(globalSwitch.isOn).toBe(true);
      held.release();
      await stalePoll;
      expect(globalSwitch.isOn).toBe(true);
      // A read that starts after the change sees it, and lands.
      expect(await globalSwitch.refresh()).toBe(true);
    } finally {
      globalSwitch.stop();
      await inTransaction(store.db, (tx) => globalSwitch.set(tx, false));
    }
  });
});
