import { sql, type Kysely } from 'kysely';
import type { Database, IdempotencyEntry } from '../db/schema.ts';

type Db = Kysely<Database>;

/** SPEC 6: an entry is scoped by the key that sent it, the method and the path, and then by the Idempotency-Key. */
export interface IdempotencyScope {
  apiKeyId: string;
  method: string;
  path: string;
  /** The Idempotency-Key's digest, never the key itself (see sealed-replay.ts). */
  key: string;
}

export interface Claim extends IdempotencyScope {
  fingerprint: string;
  /** A token of this run; only the run holding it may store or release the entry. */
  owner: string;
  requestId: string;
  now: Date;
  leaseUntil: Date;
  expiresAt: Date;
}

const inScope = (scope: IdempotencyScope) =>
  ({ api_key_id: scope.apiKeyId, method: scope.method, path: scope.path, idempotency_key: scope.key }) as const;

/**
 * One statement decides who runs: the insert wins on a free key; on a taken one it wins only when the entry has
 * expired, or when it is still "running" for the same body but its lease ran out (the instance that ran it died).
 * Returns true when this run holds the claim.
 */
export async function claimIdempotencyKey(db: Db, claim: Claim): Promise<boolean> {
  const fresh = {
    fingerprint: claim.fingerprint,
    state: 'running' as const,
    owner: claim.owner,
    locked_until: claim.leaseUntil,
    request_id: claim.requestId,
    response_status: null,
    response_content_type: null,
    response_body: null,
    audit_target: null,
    created_at: claim.now,
    expires_at: claim.expiresAt,
  };
  const row = await db
    .insertInto('idempotency_keys')
    .values({ api_key_id: claim.apiKeyId, method: claim.method, path: claim.path, idempotency_key: claim.key, ...fresh })
    .onConflict((conflict) =>
      conflict
        .columns(['api_key_id', 'method', 'path', 'idempotency_key'])
        .doUpdateSet(fresh)
        .where((eb) =>
          eb.or([
            eb('idempotency_keys.expires_at', '<=', claim.now),
            eb.and([
              eb('idempotency_keys.state', '=', 'running'),
              eb('idempotency_keys.locked_until', '<=', claim.now),
              eb('idempotency_keys.fingerprint', '=', claim.fingerprint),
            ]),
          ]),
        ),
    )
    .returning('owner')
    .executeTakeFirst();
  return row?.owner === claim.owner;
}

export const findIdempotencyEntry = (db: Db, scope: IdempotencyScope): Promise<IdempotencyEntry | undefined> =>
  db.selectFrom('idempotency_keys').selectAll().where((eb) => eb.and(inScope(scope))).executeTakeFirst();

export interface StoredResponse {
  status: number;
  contentType: string | null;
  body: Uint8Array;
  auditTarget: { type: string; id: string; organizationId?: string } | null;
}

/** Stores the answer, if this run still holds the claim (a run whose lease was taken over stores nothing). */
export async function completeIdempotencyEntry(db: Db, scope: IdempotencyScope, owner: string, response: StoredResponse): Promise<boolean> {
  const result = await db
    .updateTable('idempotency_keys')
    .set({
      state: 'done',
      owner: null,
      locked_until: null,
      response_status: response.status,
      response_content_type: response.contentType,
      response_body: response.body,
      audit_target: response.auditTarget ? JSON.stringify(response.auditTarget) : null,
    })
    .where((eb) => eb.and(inScope(scope)))
    .where('owner', '=', owner)
    .where('state', '=', 'running')
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Frees the key so a retry runs again (a 5xx, or an answer that could not be kept). */
export async function releaseIdempotencyEntry(db: Db, scope: IdempotencyScope, owner: string): Promise<void> {
  await db.deleteFrom('idempotency_keys').where((eb) => eb.and(inScope(scope))).where('owner', '=', owner).execute();
}

/** Extends a running claim's lease; false when the claim is no longer this run's. */
export async function renewIdempotencyLease(db: Db, scope: IdempotencyScope, owner: string, leaseUntil: Date): Promise<boolean> {
  const result = await db
    .updateTable('idempotency_keys')
    .set({ locked_until: leaseUntil })
    .where((eb) => eb.and(inScope(scope)))
    .where('owner', '=', owner)
    .where('state', '=', 'running')
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Deletes expired entries in bounded batches, so one sweep never holds a long lock. Returns how many went. */
export async function sweepExpiredIdempotencyKeys(db: Db, now: Date, batchSize = 1000): Promise<number> {
  let total = 0;
  for (;;) {
    // The outer expiry test is not redundant: a key re-claimed between the subquery and the delete has a new
    // expiry, and PostgreSQL re-checks the outer condition (not the subquery) on the row version it finally locks.
    const result = await sql`
      DELETE FROM idempotency_keys WHERE (api_key_id, method, path, idempotency_key) IN (
        SELECT api_key_id, method, path, idempotency_key FROM idempotency_keys WHERE expires_at <= ${now} LIMIT ${batchSize}
      ) AND expires_at <= ${now}`.execute(db);
    const deleted = Number(result.numAffectedRows ?? 0n);
    total += deleted;
    if (deleted < batchSize) return total;
  }
}
