import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { Tx } from '../db/transaction.ts';
import { readSetting, SETTING_GLOBAL_KILL_SWITCH, writeSetting } from '../db/settings.ts';
import type { InvalidationBus } from './invalidation.ts';

/**
 * The global kill switch, held in memory. It is re-read when the bus says it changed and, because it is the
 * incident-response switch, also polled once a second so that a lost notification cannot delay it.
 */
export class GlobalSwitch {
  private enabled = false;
  /** Bumped by every read that starts and every committed change, so that only the newest one lands. */
  private generation = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly bus: InvalidationBus,
    private readonly pollMs = 1000,
  ) {
    this.unsubscribe = bus.subscribe((event) => {
      if (event.kind === 'global' || event.kind === 'all') void this.refresh().catch(() => {});
    });
  }

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh().catch(() => {}), this.pollMs);
    this.timer.unref();
  }

  get isOn(): boolean {
    return this.enabled;
  }

  async refresh(): Promise<boolean> {
    const started = ++this.generation;
    const enabled = (await readSetting<{ enabled: boolean }>(this.db, SETTING_GLOBAL_KILL_SWITCH))?.enabled === true;
    // A poll that read before a change committed must not undo it when its answer arrives after the change.
    if (started === this.generation) this.enabled = enabled;
    return this.enabled;
  }

  /** Turns the switch on or off in the caller's transaction; this instance and the others follow once it commits. */
  set(tx: Tx, enabled: boolean): Promise<void> {
    tx.afterCommit(async () => {
      this.generation += 1;
      this.enabled = enabled;
      await this.bus.publish({ kind: 'global' });
    });
    return writeSetting(tx.db, SETTING_GLOBAL_KILL_SWITCH, { enabled });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe();
  }
}
