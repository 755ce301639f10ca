import { insertAuditEntry } from '../audit/repository.ts';
import type { ApiKeyRow } from '../db/schema.ts';
import type { Tx } from '../db/transaction.ts';
import type { Deps } from '../deps.ts';
import { markApiKeyLeaked } from '../keys/repository.ts';
import { presentApiKey } from '../keys/present.ts';
import { changeApiKey } from '../keys/service.ts';
import { emitKeyEvent } from '../webhooks/lifecycle-events.ts';

/** Where a leaked key was found and who said so: what its `key.leaked` audit entry records. */
export interface LeakReport {
  /** The audit entry's actor: `github:secret-scanning`, or the operator who ran `gatehouse scan --kill`. */
  reportedBy: string;
  /** GitHub's `source` (`content`, `commit`, …) or `gatehouse scan`. */
  source: string;
  /** Where the key was seen (GitHub's `url`); null when the reporter gives none. */
  url: string | null;
  requestId: string;
  clientAddress: string | null;
}

/**
 * SPEC 15, the one home for "kill a leaked key", whoever found it (GitHub's secret scanning, `gatehouse scan --kill`),
 * in the caller's transaction: the kill switch on at once (every instance hears of it through the bus once the
 * transaction commits), an audit entry `key.leaked` saying where it was found, and the `key.leaked` event the first
 * time the key is reported; a later report adds its audit entry only. Which key the report is about is the caller's
 * business: GitHub's token is verified by its secret, the scanner's by its checksum and key_id.
 */
export async function reportLeakedKey(tx: Tx, deps: Pick<Deps, 'bus' | 'now' | 'config'>, apiKeyId: string, report: LeakReport): Promise<{ key: ApiKeyRow; firstReport: boolean }> {
  const key = await changeApiKey(tx, deps, apiKeyId, { kind: 'kill', on: true });
  const firstReport = await markApiKeyLeaked(tx.db, key.id, new Date(deps.now()));
  await insertAuditEntry(tx.db, {
    organizationId: key.organization_id,
    // The leaked key's world (SPEC 12): a test key's leak is listed with the test world's entries.
    env: key.env,
    actor: report.reportedBy,
    action: 'key.leaked',
    targetType: 'api_key',
    targetId: key.id,
    requestId: report.requestId,
    status: 200,
    details: { source: report.source, url: report.url, firstReport },
    clientAddress: report.clientAddress,
  });
  // SPEC 7/15: announced once, with the first report, in this transaction (the kill above, if it flipped the switch,
  // has sent its own key.killed).
  if (firstReport) await emitKeyEvent(tx, 'key.leaked', presentApiKey(key, deps.config.keyPrefix), { source: report.source, url: report.url });
  return { key, firstReport };
}
