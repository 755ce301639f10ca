import { CompiledQuery, sql, type Kysely } from 'kysely';
import type { Database, Env, IdempotencyEntry } from '../db/schema.ts';
import { auditValues, type AuditRecord } from '../audit/repository.ts';
import { endingTransaction, travelingWithNext } from '../db/postgres-driver.ts';

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

// The two statements every idempotent request runs are written out once: building them with Kysely on each request
// cost more than sending them.
const CLAIM = `SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS locked, kept.*
  FROM (SELECT 1) AS one
  LEFT JOIN idempotency_keys AS kept ON kept.api_key_id = $2 AND kept.method = $3 AND kept.path = $4 AND kept.idempotency_key = $5`;

/**
 * The claim, inside the unit's own transaction: a transaction-scoped advisory lock on the scope, and the answer
 * already kept under it, in one statement. `locked: false` means another transaction holds the key right now (409);
 * the lock goes with that transaction's commit or rollback, and with its connection if the process dies. The
 * statement travels with the transaction's next one (db/postgres-driver.ts): what it found is read through the
 * function returned, and `vet` sees it as soon as it is back (what it throws, that next statement throws).
 */
export async function startClaim(trx: Db, scope: IdempotencyScope, vet?: (claimed: Claimed) => void): Promise<() => Promise<Claimed>> {
  const query = CompiledQuery.raw(CLAIM, [lockName(scope), scope.apiKeyId, scope.method, scope.path, scope.key]);
  const read = await travelingWithNext<IdempotencyEntry & { locked: boolean }>(trx, query, vet && ((result) => vet(claimedOf(result.rows))));
  return async () => claimedOf((await read()).rows);
}

function claimedOf(rows: Array<IdempotencyEntry & { locked: boolean }>): Claimed {
  const { locked, ...entry } = rows[0]!;
  return { locked, entry: entry.request_id ? (entry as IdempotencyEntry) : undefined };
}

export interface Claimed {
  locked: boolean;
  entry: IdempotencyEntry | undefined;
}

/** The claim, read at once. */
export const claimInTransaction = async (trx: Db, scope: IdempotencyScope): Promise<Claimed> => (await startClaim(trx, scope))();

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
 * Keeps the answer and writes the audit entry in one statement (one round trip), as the last statement of the unit's
 * transaction. Where the claim found no entry, a plain insert that ends the transaction (it travels with the COMMIT,
 * db/postgres-driver.ts); a kept answer appearing meanwhile fails it on the primary key. Where the claim found an
 * expired entry (or a claim left "running" by an earlier version whose lease ran out), it is replaced, unless a live
 * one took its place meanwhile. Either way false means another request answered the key between this transaction's
 * read and its write, and the caller rolls back and replays that one.
 */
export async function keepAnswer(trx: Db, answer: KeptAnswer, audit: AuditRecord | null, replacing: boolean): Promise<boolean> {
  const { scope } = answer;
  const auditTarget = answer.auditTarget ? JSON.stringify(answer.auditTarget) : null;
  // In KEPT_COLUMNS' order, then AUDIT_COLUMNS'.
  const values = [
    ...[scope.apiKeyId, scope.env ?? 'live', scope.method, scope.path, scope.key, answer.fingerprint, 'done', null, null, answer.requestId],
    ...[answer.status, answer.contentType, answer.body, auditTarget, answer.now, answer.expiresAt],
    ...(audit ? Object.values(auditValues(audit)) : []),
  ];
  if (!replacing) {
    try {
      await trx.executeQuery(endingTransaction(CompiledQuery.raw(audit ? KEEP_WITH_AUDIT : KEEP, values)));
      return true;
    } catch (error) {
      if (isKeptMeanwhile(error)) return false;
      throw error;
    }
  }
  const { rows } = await trx.executeQuery(CompiledQuery.raw(`${audit ? KEEP_WITH_AUDIT : KEEP}${REPLACING_EXPIRED(values.length + 1)}`, [...values, answer.now]));
  return rows.length > 0;
}

/** unique_violation on the kept answers' primary key. */
const isKeptMeanwhile = (error: unknown) =>
  (error as { code?: unknown } | null)?.code === '23505' && (error as { constraint?: unknown }).constraint === 'idempotency_keys_pkey';

const KEPT_COLUMNS = [
  'api_key_id', 'env', 'method', 'path', 'idempotency_key', 'fingerprint', 'state', 'owner', 'locked_until', 'request_id',
  'response_status', 'response_content_type', 'response_body', 'audit_target', 'created_at', 'expires_at',
];
const AUDIT_COLUMNS = Object.keys(auditValues({ actor: '', action: '' }));
const placeholders = (from: number, count: number) => Array.from({ length: count }, (_, index) => `$${from + index}`).join(', ');
const KEEP = `INSERT INTO idempotency_keys (${KEPT_COLUMNS.join(', ')}) VALUES (${placeholders(1, KEPT_COLUMNS.length)})`;
const KEEP_WITH_AUDIT = `WITH audit AS (INSERT INTO audit_entries (${AUDIT_COLUMNS.join(', ')}) VALUES (${placeholders(KEPT_COLUMNS.length + 1, AUDIT_COLUMNS.length)})) ${KEEP}`;
/** What replaces an expired entry; `nowAt` is the number of the parameter that holds the time now. */
const REPLACING_EXPIRED = (nowAt: number) => `
  ON CONFLICT (api_key_id, method, path, idempotency_key) DO UPDATE SET
    ${KEPT_COLUMNS.slice(5).map((column) => `${column} = excluded.${column}`).join(', ')}
    WHERE idempotency_keys.expires_at <= $${nowAt} OR (idempotency_keys.state = 'running' AND idempotency_keys.locked_until <= $${nowAt})
  RETURNING request_id`;

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
