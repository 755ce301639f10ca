import { sql, type Kysely } from 'kysely';
import { insertAuditEntry } from '../audit/repository.ts';
import type { Logger } from 'pino';
import type { ApiKeyRow, Database } from '../db/schema.ts';
import { presentApiKey } from '../keys/present.ts';
import { Poller } from '../queue/poller.ts';
import { emitKeyEvent } from './lifecycle-events.ts';

/** Keys given their notice per transaction: a bound on one scan's work, the next scan takes the rest. */
const BATCH = 500;

/** How often keys are looked at by default: a notice goes out at most this late. */
export const DEFAULT_EXPIRING_SCAN_MS = 60_000;

/**
 * SPEC 7 `key.expiring`: each active key 24 hours from its `expiresAt` gets the 24-hour notice, and 1 hour from it
 * the 1-hour notice, each once per `expiresAt` (migration 0021 clears `expiring_notice` when the expiry changes). A
 * key first seen within the hour gets only the 1-hour notice: a "24 hours" notice would then be false. `now` is the
 * injected clock.
 *
 * At most once across instances: one guarded UPDATE marks the notice sent and returns the keys it marked, and their
 * events are written in the same transaction. Rows another instance holds are skipped (SKIP LOCKED), and the guard
 * is checked again on the row as committed, so two scans at once never both mark one notice. The number of notices.
 */
export async function sendExpiringNotices(db: Kysely<Database>, keyPrefix: string, now: Date): Promise<number> {
  const at = now.toISOString();
  const oneHour = sql`${at}::timestamptz + interval '1 hour'`;
  const due = sql`status = 'active' AND expires_at > ${at}::timestamptz AND expires_at <= ${at}::timestamptz + interval '24 hours'
    AND (expiring_notice = 0 OR (expiring_notice = 24 AND expires_at <= ${oneHour}))`;
  return db.transaction().execute(async (trx) => {
    const { rows } = await sql<ApiKeyRow>`
      UPDATE api_keys SET expiring_notice = CASE WHEN expires_at <= ${oneHour} THEN 1 ELSE 24 END
      WHERE ${due} AND id IN (SELECT id FROM api_keys WHERE ${due} ORDER BY expires_at LIMIT ${BATCH} FOR UPDATE SKIP LOCKED)
      RETURNING *`.execute(trx);
    for (const row of rows) {
      await emitKeyEvent({ db: trx }, 'key.expiring', presentApiKey(row, keyPrefix), { hoursBefore: row.expiring_notice }, now);
      // SPEC 10.3: every key lifecycle event is audited, this one by the scan that noticed it (no request, no person).
      await insertAuditEntry(trx, {
        organizationId: row.organization_id,
        env: row.env,
        actor: 'gatehouse:expiring-scan',
        action: 'key.expiring',
        targetType: 'api_key',
        targetId: row.id,
        details: { hoursBefore: row.expiring_notice, expiresAt: row.expires_at },
      });
    }
    return rows.length;
  });
}

/** Runs sendExpiringNotices every `intervalMs` on every instance (safe: see there), until stopped. */
export class ExpiringKeyScan {
  private readonly poller: Poller;

  constructor(private readonly options: { db: Kysely<Database>; keyPrefix: string; now: () => number; logger: Logger; intervalMs: number }) {
    this.poller = new Poller(() => this.scan(), options.intervalMs);
  }

  start(): void {
    this.poller.start();
  }

  stop(): Promise<void> {
    return this.poller.stop();
  }

  private async scan(): Promise<void> {
    try {
      // A full batch means more may be due: go again at once rather than wait a whole interval.
      while ((await sendExpiringNotices(this.options.db, this.options.keyPrefix, new Date(this.options.now()))) === BATCH);
    } catch (error) {
      this.options.logger.warn({ err: error }, 'key.expiring scan failed; retrying at the next one');
    }
  }
}
