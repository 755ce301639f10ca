import { sql, type Kysely } from 'kysely';
import type { Database, Env, IdempotencyEntry } from '../db/schema.ts';
import { auditValues, type AuditRecord } from '../audit/repository.ts';

type Db = Kysely<Database>;

/** SPEC 6: an entry is scoped by the key that sent it, the method and the path, and then by the Idempotency-Key. */
export interface IdempotencyScope {
  apiKeyId: string;
  /** The key's env (SPEC 12), kept on the entry; the key alone already separates the worlds. */
  env?: Env | undefined;
  method: string;
  path: string;
  /** The Idempotency-Key's digest, never the key itself (see sealed-replay.ts). */
  key: string;
}

const inScope = (scope: IdempotencyScope) =>
  ({ api_key_id: scope.apiKeyId, method: scope.method, path: scope.path, idempotency_key: scope.key }) as const;

const lockName = (scope: IdempotencyScope) => `idempotency ${scope.apiKeyId} ${scope.method} ${scope.path} ${scope.key}`;

export const findIdempotencyEntry = (db: Db, scope: IdempotencyScope): Promise<IdempotencyEntry | undefined> =>
  db.selectFrom('idempotency_keys').selectAll().where((eb) => eb.and(inScope(scope))).executeTakeFirst();

/**
 * The claim, inside the unit's own transaction: a transaction-scoped advisory lock on the scope, and the answer
 * already kept under it, in one round trip. `locked: false` means another transaction holds the key right now (409);
 * the lock goes with that transaction's commit or rollback, and with its connection if the process dies.
 */
export async function claimInTransaction(trx: Db, scope: IdempotencyScope): Promise<{ locked: boolean; entry: IdempotencyEntry | undefined }> {
  const { rows } = await sql<IdempotencyEntry & { locked: boolean }>`
    SELECT pg_try_advisory_xact_lock(hashtextextended(${lockName(scope)}, 0)) AS locked, kept.*
    FROM (SELECT 1) AS one
    LEFT JOIN idempotency_keys AS kept
      ON kept.api_key_id = ${scope.apiKeyId} AND kept.method = ${scope.method} AND kept.path = ${scope.path} AND kept.idempotency_key = ${scope.key}`.execute(trx);
  const row = rows[0]!;
  const { locked, ...entry } = row;
  return { locked, entry: entry.request_id ? (entry as IdempotencyEntry) : undefined };
}

export interface KeptAnswer {
  scope: IdempotencyScope;
  fingerprint: string;
  requestId: string;
  status: number;
  contentType: string | null;
  /** Sealed (sealed-replay.ts). */
  body: Uint8Array;
  auditTarget: { type: string; id: string; organizationId?: string } | null;
  now: Date;
  expiresAt: Date;
}

/**
 * Keeps the answer and writes the audit entry in one statement (one round trip), inside the unit's transaction.
 * An expired entry under the same key is replaced (and a claim left "running" by an earlier version whose lease ran
 * out); a live one is not, and then this returns false: another request
 * answered the key between this transaction's read and its write, and the caller rolls back and replays that one.
 */
export async function keepAnswer(trx: Db, answer: KeptAnswer, audit: AuditRecord | null): Promise<boolean> {
  const fields = {
    fingerprint: answer.fingerprint,
    state: 'done',
    owner: null,
    locked_until: null,
    request_id: answer.requestId,
    response_status: answer.status,
    response_content_type: answer.contentType,
    response_body: answer.body,
    audit_target: answer.auditTarget ? JSON.stringify(answer.auditTarget) : null,
    created_at: answer.now,
    expires_at: answer.expiresAt,
  };
  const columns = Object.keys(fields);
  const values = Object.values(fields);
  const { scope } = answer;
  const auditCte = audit ? auditInsert(audit) : null;
  const { rows } = await sql<{ request_id: string }>`
    ${auditCte ? sql`WITH audit AS (${auditCte}) ` : sql``}INSERT INTO idempotency_keys (api_key_id, env, method, path, idempotency_key, ${sql.join(columns.map((column) => sql.ref(column)))})
    VALUES (${scope.apiKeyId}, ${scope.env ?? 'live'}, ${scope.method}, ${scope.path}, ${scope.key}, ${sql.join(values)})
    ON CONFLICT (api_key_id, method, path, idempotency_key) DO UPDATE SET
      ${sql.join(columns.map((column) => sql`${sql.ref(column)} = excluded.${sql.ref(column)}`))}
      WHERE idempotency_keys.expires_at <= ${answer.now}
        OR (idempotency_keys.state = 'running' AND idempotency_keys.locked_until <= ${answer.now})
    RETURNING request_id`.execute(trx);
  return rows.length > 0;
}

function auditInsert(record: AuditRecord) {
  const values = auditValues(record);
  return sql`INSERT INTO audit_entries (${sql.join(Object.keys(values).map((column) => sql.ref(column)))}) VALUES (${sql.join(Object.values(values))})`;
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
