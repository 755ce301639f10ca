import { sql, type Kysely } from 'kysely';
import type { Database, Env } from '../db/schema.ts';
import type { ApiKeyView } from '../keys/present.ts';
import { eventBody, type KeyEventType, type OrganizationEventType } from './events.ts';
import { newWebhookId } from './signing.ts';

/** What an event is written with: the transaction of the change that causes it (a unit of work, a Tx). */
export interface EventTx {
  readonly db: Kysely<Database>;
}

/**
 * A key as every lifecycle event shows it: ids and the display prefix, picked field by field from the key's record.
 * Picked rather than spread, so the plain key that a create or a roll carries beside the record can never ride along.
 */
export function keyEventSubject(key: ApiKeyView) {
  return {
    id: key.id,
    keyId: key.keyId,
    displayPrefix: key.displayPrefix,
    organizationId: key.organizationId,
    name: key.name,
    env: key.env,
    status: key.status,
    killSwitch: key.killSwitch,
    expiresAt: key.expiresAt,
    createdAt: key.createdAt,
    revokedAt: key.revokedAt,
  };
}

export type KeyEventSubject = ReturnType<typeof keyEventSubject>;

/**
 * Writes one event for every enabled endpoint of the organization, in `env`, that subscribes to `type`: rows of
 * webhook_deliveries in the caller's transaction, so the event exists exactly when the change that causes it commits,
 * and the delivery worker sends it signed and retried like a job event. One webhook-id per event, shared by its
 * endpoints. The number of deliveries written.
 */
async function enqueueEvent(db: Kysely<Database>, event: { organizationId: string; env: Env; type: string; occurredAt: Date; data: Record<string, unknown> }): Promise<number> {
  // SPEC 12: every event carries its env, first among its data.
  const body = eventBody(event.type, event.occurredAt, { env: event.env, ...event.data });
  const result = await sql`
    INSERT INTO webhook_deliveries (organization_id, endpoint_id, env, webhook_id, event_type, occurred_at, body, next_attempt_at)
    SELECT e.organization_id, e.id, e.env, ${newWebhookId()}, ${event.type}, ${event.occurredAt}, ${body}, now()
    FROM webhook_endpoints e
    WHERE e.organization_id = ${event.organizationId} AND e.env = ${event.env} AND e.enabled AND ${event.type} = ANY (e.events)`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

/**
 * A key's lifecycle event (SPEC 7), for the organization's endpoints of the key's env only (SPEC 12: a test key's
 * events never reach a live receiver). `key` is the record as presentApiKey shows it; `extra` joins the event's data
 * beside `apiKey` (a leak report's `url` and `source`, a roll's `previousKey`) and must hold no secret. Call it inside
 * the transaction of the change, e.g. `emitKeyEvent(unit, 'key.leaked', presentApiKey(row, prefix), { url, source })`.
 */
export function emitKeyEvent(tx: EventTx, type: KeyEventType, key: ApiKeyView, extra: Record<string, unknown> = {}, occurredAt: Date = new Date()): Promise<number> {
  const data = { organizationId: key.organizationId, apiKey: keyEventSubject(key), ...extra };
  return enqueueEvent(tx.db, { organizationId: key.organizationId, env: key.env, type, occurredAt, data });
}

/**
 * An event about the organization rather than one key, written once per env in `envs`, each copy carrying the env
 * of the endpoints it goes to. Which envs is the caller's decision (see where each is emitted).
 */
export async function emitOrganizationEvent(
  tx: EventTx,
  type: OrganizationEventType,
  organizationId: string,
  envs: readonly Env[],
  data: Record<string, unknown>,
  occurredAt: Date = new Date(),
): Promise<number> {
  let written = 0;
  for (const env of envs) written += await enqueueEvent(tx.db, { organizationId, env, type, occurredAt, data: { organizationId, ...data } });
  return written;
}
