import { sql, type Kysely } from 'kysely';
import type { Database, Tenant, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint } from '../db/schema.ts';
import { olderThan, type KeysetPosition } from '../db/keyset.ts';

type Db = Kysely<Database>;

export interface DeliveryError {
  code: string;
  message: string;
}

/** Timestamps relative to the database clock, so every instance schedules and leases by one clock. */
const msFromNow = (ms: number) => sql<Date>`now() + ${Math.round(ms)}::int * interval '1 millisecond'`;

/** `sealed`: the signing secret as WebhookSecretSealer.seal made it for this `id` (never the plain secret). */
export const insertWebhookEndpoint = (
  db: Db,
  endpoint: { id: string; tenant: Tenant; url: string; events: string[]; sealed: { secret: null; secret_sealed: Uint8Array; secret_key_id: string } },
): Promise<WebhookEndpoint> =>
  db
    .insertInto('webhook_endpoints')
    .values({ id: endpoint.id, organization_id: endpoint.tenant.organizationId, env: endpoint.tenant.env, url: endpoint.url, events: endpoint.events, ...endpoint.sealed })
    .returningAll()
    .executeTakeFirstOrThrow();

export const findWebhookEndpoint = (db: Db, tenant: Tenant, id: string): Promise<WebhookEndpoint | undefined> =>
  db
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('id', '=', id)
    .where('organization_id', '=', tenant.organizationId)
    .where('env', '=', tenant.env)
    .executeTakeFirst();

export function listWebhookEndpoints(db: Db, tenant: Tenant, limit: number, after?: KeysetPosition): Promise<WebhookEndpoint[]> {
  let query = db.selectFrom('webhook_endpoints').selectAll().where('organization_id', '=', tenant.organizationId).where('env', '=', tenant.env);
  if (after) query = query.where(olderThan(after));
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
}

/** Its deliveries go with it (ON DELETE CASCADE); an attempt in flight then finds no row to record into. */
export async function deleteWebhookEndpoint(db: Db, tenant: Tenant, id: string): Promise<boolean> {
  const deleted = await db
    .deleteFrom('webhook_endpoints')
    .where('id', '=', id)
    .where('organization_id', '=', tenant.organizationId)
    .where('env', '=', tenant.env)
    .returning('id')
    .executeTakeFirst();
  return deleted !== undefined;
}

/** A successful test ping proves the receiver is back: the endpoint takes events again. */
export const reenableWebhookEndpoint = (db: Db, id: string): Promise<WebhookEndpoint | undefined> =>
  db
    .updateTable('webhook_endpoints')
    .set({ enabled: true, failing_since: null, disabled_at: null, disabled_reason: null, updated_at: sql`now()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();

export function listWebhookDeliveries(db: Db, endpointId: string, limit: number, after?: KeysetPosition): Promise<WebhookDelivery[]> {
  let query = db.selectFrom('webhook_deliveries').selectAll().where('endpoint_id', '=', endpointId);
  if (after) query = query.where(olderThan(after));
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
}

/** A test ping is sent first and logged after, already final: it is never retried and never claimed. */
export const insertFinishedDelivery = (
  db: Db,
  delivery: {
    organizationId: string;
    endpointId: string;
    webhookId: string;
    eventType: string;
    occurredAt: Date;
    body: string;
    status: Exclude<WebhookDeliveryStatus, 'pending'>;
    statusCode: number | null;
    error: DeliveryError | null;
  },
): Promise<WebhookDelivery> =>
  db
    .insertInto('webhook_deliveries')
    .values({
      organization_id: delivery.organizationId,
      endpoint_id: delivery.endpointId,
      webhook_id: delivery.webhookId,
      event_type: delivery.eventType,
      occurred_at: delivery.occurredAt,
      body: delivery.body,
      status: delivery.status,
      attempts: 1,
      last_status_code: delivery.statusCode,
      last_error: delivery.error ? JSON.stringify(delivery.error) : null,
      last_attempt_at: sql`now()`,
      completed_at: sql`now()`,
    })
    .returningAll()
    .executeTakeFirstOrThrow();

export interface ClaimedDelivery extends WebhookDelivery {
  url: string;
  /** The endpoint's signing secret as stored (sealed-secrets.ts opens it). */
  secret: string | null;
  secret_sealed: Uint8Array | null;
  secret_key_id: string | null;
  endpoint_enabled: boolean;
}

/**
 * Leases up to `limit` due deliveries to the caller under one fresh token and counts the attempt. A delivery is
 * due when it is pending, its next attempt time has come, and nobody holds a live lease on it (an instance that
 * died mid-attempt loses it when the lease runs out). SKIP LOCKED lets instances claim side by side without ever
 * taking the same row, so one attempt is never made twice at once.
 *
 * Organizations are served in turn, not first come first served: each organization's due deliveries are numbered
 * after the attempts it already has in flight (live leases, on any instance), the claim takes turn 1 of every
 * organization before anyone's turn 2, and never a turn past `perOrganization`. So receivers of one organization that
 * never answer hold at most that many slots, and another organization's delivery goes out at the next claim. (Two
 * instances claiming at the same moment may each let an organization reach the cap: bounded by the instance count.)
 */
export async function claimDueDeliveries(
  db: Db,
  claim: { token: string; leaseMs: number; limit: number; perOrganization: number },
): Promise<ClaimedDelivery[]> {
  if (claim.limit <= 0) return [];
  const { rows } = await sql<ClaimedDelivery>`
    WITH in_flight AS (
      SELECT organization_id, count(*)::int AS attempts FROM webhook_deliveries
      WHERE status = 'pending' AND lease_expires_at >= now()
      GROUP BY organization_id
    ), due AS (
      SELECT d.id, d.next_attempt_at,
             row_number() OVER (PARTITION BY d.organization_id ORDER BY d.next_attempt_at, d.id) + coalesce(f.attempts, 0) AS turn
      FROM webhook_deliveries d LEFT JOIN in_flight f ON f.organization_id = d.organization_id
      WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND (d.lease_expires_at IS NULL OR d.lease_expires_at < now())
    ), chosen AS (
      SELECT id FROM due WHERE turn <= ${claim.perOrganization} ORDER BY turn, next_attempt_at LIMIT ${claim.limit}
    )
    UPDATE webhook_deliveries d
    SET lease_token = ${claim.token}, lease_expires_at = ${msFromNow(claim.leaseMs)}, attempts = d.attempts + 1, updated_at = now()
    FROM webhook_endpoints e
    WHERE e.id = d.endpoint_id AND d.id IN (
      SELECT w.id FROM webhook_deliveries w
      WHERE w.id IN (SELECT id FROM chosen) AND w.status = 'pending' AND (w.lease_expires_at IS NULL OR w.lease_expires_at < now())
      FOR UPDATE OF w SKIP LOCKED
    )
    RETURNING d.*, e.url, e.secret, e.secret_sealed, e.secret_key_id, e.enabled AS endpoint_enabled`.execute(db);
  return rows;
}

export interface AttemptRecord {
  status: WebhookDeliveryStatus;
  /** With `pending`: when the next attempt is due. */
  retryInMs?: number;
  statusCode: number | null;
  error: DeliveryError | null;
  /** The body this attempt sent; stored on the first attempt and kept from then on. */
  body: string;
}

/** Writes an attempt's outcome if the caller still holds the lease; undefined means it does not (or the endpoint is gone). */
export async function recordDeliveryAttempt(db: Db, id: string, token: string, record: AttemptRecord): Promise<WebhookDelivery | undefined> {
  const final = record.status !== 'pending';
  const { rows } = await sql<WebhookDelivery>`
    UPDATE webhook_deliveries
    SET status = ${record.status},
        body = coalesce(body, ${record.body}),
        next_attempt_at = ${final ? null : msFromNow(record.retryInMs ?? 0)},
        last_status_code = ${record.statusCode},
        last_error = ${record.error ? JSON.stringify(record.error) : null}::jsonb,
        last_attempt_at = now(),
        completed_at = ${final ? sql`now()` : null},
        lease_token = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE id = ${id} AND lease_token = ${token}
    RETURNING *`.execute(db);
  return rows[0];
}

/** Ends a claimed delivery without making the attempt the claim counted (its endpoint is disabled, say). */
export const abandonDelivery = (db: Db, id: string, token: string, error: DeliveryError): Promise<WebhookDelivery | undefined> =>
  db
    .updateTable('webhook_deliveries')
    .set({
      status: 'failed',
      attempts: sql`greatest(attempts - 1, 0)`,
      next_attempt_at: null,
      last_error: JSON.stringify(error),
      completed_at: sql`now()`,
      lease_token: null,
      lease_expires_at: null,
      updated_at: sql`now()`,
    })
    .where('id', '=', id)
    .where('lease_token', '=', token)
    .returningAll()
    .executeTakeFirst();

/** Shutdown cut the attempt short: it goes back as due now and is not counted. */
export const handBackDelivery = (db: Db, id: string, token: string): Promise<WebhookDelivery | undefined> =>
  db
    .updateTable('webhook_deliveries')
    .set({ attempts: sql`greatest(attempts - 1, 0)`, next_attempt_at: sql`now()`, lease_token: null, lease_expires_at: null, updated_at: sql`now()` })
    .where('id', '=', id)
    .where('lease_token', '=', token)
    .returningAll()
    .executeTakeFirst();

export const markEndpointHealthy = (db: Db, endpointId: string): Promise<unknown> =>
  db.updateTable('webhook_endpoints').set({ failing_since: null }).where('id', '=', endpointId).where('failing_since', 'is not', null).execute();

/**
 * Notes a failed attempt against the endpoint, then disables it when the receiver asked for that (`forceReason`,
 * e.g. 410 Gone) or has failed without a single success for `disableAfterMs`. The `enabled` guard makes exactly
 * one caller the one that disabled it, which is what the answer says. Run it inside the attempt's transaction.
 */
export async function markEndpointFailing(db: Db, endpointId: string, rule: { disableAfterMs: number; forceReason?: string }): Promise<boolean> {
  await db.updateTable('webhook_endpoints').set({ failing_since: sql`coalesce(failing_since, now())` }).where('id', '=', endpointId).execute();
  let disable = db
    .updateTable('webhook_endpoints')
    .set({ enabled: false, disabled_at: sql`now()`, disabled_reason: rule.forceReason ?? 'failing', updated_at: sql`now()` })
    .where('id', '=', endpointId)
    .where('enabled', '=', true);
  if (rule.forceReason === undefined) disable = disable.where('failing_since', '<=', msFromNow(-rule.disableAfterMs));
  return (await disable.returning('id').executeTakeFirst()) !== undefined;
}

/** A disabled endpoint's waiting deliveries end now rather than linger; one in flight is settled by the worker. */
export const failPendingDeliveries = (db: Db, endpointId: string, error: DeliveryError): Promise<unknown> =>
  db
    .updateTable('webhook_deliveries')
    .set({ status: 'failed', next_attempt_at: null, last_error: JSON.stringify(error), completed_at: sql`now()`, updated_at: sql`now()` })
    .where('endpoint_id', '=', endpointId)
    .where('status', '=', 'pending')
    .where('lease_token', 'is', null)
    .execute();
