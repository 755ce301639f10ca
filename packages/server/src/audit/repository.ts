import type { Kysely } from 'kysely';
import type { AuditEntry, Database, Env } from '../db/schema.ts';
import { olderThan, type KeysetPosition } from '../db/keyset.ts';

type Db = Kysely<Database>;

export interface AuditRecord {
  organizationId?: string | null;
  apiKeyId?: string | null;
  /** The acting key's env (SPEC 12). */
  env?: Env | null;
  actor: string;
  action: string;
  targetType?: string | null;
  targetId?: string | null;
  requestId?: string | null;
  status?: number | null;
  details?: Record<string, unknown> | null;
  clientAddress?: string | null;
}

/** The row an audit record becomes (also written by the idempotency statement that keeps an answer with its entry). */
export const auditValues = (record: AuditRecord) => ({
  organization_id: record.organizationId ?? null,
  api_key_id: record.apiKeyId ?? null,
  env: record.env ?? null,
  actor: record.actor,
  action: record.action,
  target_type: record.targetType ?? null,
  target_id: record.targetId ?? null,
  request_id: record.requestId ?? null,
  status: record.status ?? null,
  details: record.details ? JSON.stringify(record.details) : null,
  client_address: record.clientAddress ?? null,
});

export async function insertAuditEntry(db: Db, record: AuditRecord): Promise<void> {
  await db.executeQuery(auditInsertQuery(db, record));
}

/** The audit entry's insert, compiled, for a caller that sends it its own way (as a transaction's last statement). */
export const auditInsertQuery = (db: Db, record: AuditRecord) => db.insertInto('audit_entries').values(auditValues(record)).compile();

export interface AuditFilter {
  organizationId?: string | undefined;
  /** A partner key's view: its own env's entries and those that concern no env (SPEC 12). */
  env?: Env | undefined;
  apiKeyId?: string | undefined;
  action?: string | undefined;
  /** Leave out reads: actions named `<thing>.read` or `<thing>.list` (the audit hook holds routes to that naming). */
  changesOnly?: boolean | undefined;
}

/** Newest first; `after` is the (occurred_at, id) of the last entry of the previous page. */
export function listAuditEntries(db: Db, filter: AuditFilter, limit: number, after?: KeysetPosition): Promise<AuditEntry[]> {
  let query = db.selectFrom('audit_entries').selectAll();
  if (filter.organizationId) query = query.where('organization_id', '=', filter.organizationId);
  if (filter.env) {
    const env = filter.env;
    query = query.where((eb) => eb.or([eb('env', '=', env), eb('env', 'is', null)]));
  }
  if (filter.apiKeyId) query = query.where('api_key_id', '=', filter.apiKeyId);
  if (filter.action) query = query.where('action', '=', filter.action);
  if (filter.changesOnly) query = query.where('action', 'not like', '%.read').where('action', 'not like', '%.list');
  if (after) query = query.where(olderThan(after, 'occurred_at'));
  return query.orderBy('occurred_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
}
