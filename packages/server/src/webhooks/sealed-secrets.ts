import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.ts';
import type { DeploymentSecrets } from '../secrets/deployment-secret.ts';
import { openBytes, sealBytes } from '../secrets/aes-gcm.ts';
import { deriveKey } from '../secrets/derive.ts';

/** What the store keeps of an endpoint's signing secret (SPEC 8.6). */
export interface StoredWebhookSecret {
  id: string;
  /** Plain text only on a row made before sealing, until the next start seals it. */
  secret: string | null;
  secret_sealed: Uint8Array | null;
  secret_key_id: string | null;
}

export class WebhookSecretUnreadable extends Error {}

/**
 * Signing secrets sealed with AES-256-GCM under a key derived from the deployment secret, which never enters the
 * store: a copy of the database alone signs nothing. The endpoint's id is the associated data, so a sealed secret
 * copied onto another endpoint's row does not open. Sealed under the current secret; the one being rotated out
 * (GATEHOUSE_SECRET_PREVIOUS) still opens what it sealed until `resealWebhookSecrets` has moved it on.
 */
export class WebhookSecretSealer {
  private readonly keys = new Map<string, Buffer>();
  readonly currentId: string;

  constructor(secrets: DeploymentSecrets) {
    this.currentId = secrets.current.id;
    this.keys.set(secrets.current.id, deriveKey(secrets.current.bytes, 'webhookSecret'));
    if (secrets.previous) this.keys.set(secrets.previous.id, deriveKey(secrets.previous.bytes, 'webhookSecret'));
  }

  seal(endpointId: string, secret: string): { secret: null; secret_sealed: Buffer; secret_key_id: string } {
    const sealed = sealBytes(Buffer.from(secret, 'utf8'), this.keys.get(this.currentId)!, Buffer.from(endpointId));
    return { secret: null, secret_sealed: sealed, secret_key_id: this.currentId };
  }

  /** The plain secret; throws WebhookSecretUnreadable when it was sealed under a secret this instance does not know. */
  open(stored: StoredWebhookSecret): string {
    if (stored.secret_sealed === null) {
      if (stored.secret !== null) return stored.secret;
      throw new WebhookSecretUnreadable('webhook endpoint has no signing secret');
    }
    const key = stored.secret_key_id === null ? undefined : this.keys.get(stored.secret_key_id);
    if (!key) throw new WebhookSecretUnreadable('webhook signing secret sealed under an unknown deployment secret');
    try {
      return openBytes(stored.secret_sealed, key, Buffer.from(stored.id)).toString('utf8');
    } catch {
      throw new WebhookSecretUnreadable('webhook signing secret does not open under its deployment secret');
    }
  }
}

/**
 * At start: seals the rows that still hold a plain secret (made before migration 0019, which cannot seal: it does
 * not hold the deployment secret), and re-seals under the current secret what the previous one sealed (SPEC 11,
 * rotation). Each row is rewritten only if it is still as read, so instances starting together cannot undo each
 * other. Returns how many rows it rewrote.
 */
export async function resealWebhookSecrets(db: Kysely<Database>, sealer: WebhookSecretSealer, logger: Logger): Promise<number> {
  const rows = await db
    .selectFrom('webhook_endpoints')
    .select(['id', 'secret', 'secret_sealed', 'secret_key_id'])
    .where((eb) => eb.or([eb('secret', 'is not', null), eb('secret_key_id', 'is', null), eb('secret_key_id', '!=', sealer.currentId)]))
    .execute();
  let rewritten = 0;
  for (const row of rows) {
    let plain: string;
    try {
      plain = sealer.open(row);
    } catch (error) {
      // Sealed under a secret neither GATEHOUSE_SECRET nor GATEHOUSE_SECRET_PREVIOUS is: left as it is, and said.
      logger.warn({ webhookEndpointId: row.id, reason: (error as Error).message }, 'webhook signing secret could not be re-sealed');
      continue;
    }
    const sealed = sealer.seal(row.id, plain);
    const updated = await db
      .updateTable('webhook_endpoints')
      .set(sealed)
      .where('id', '=', row.id)
      .where(sql<boolean>`secret IS NOT DISTINCT FROM ${row.secret}`)
      .where(sql<boolean>`secret_key_id IS NOT DISTINCT FROM ${row.secret_key_id}`)
      .executeTakeFirst();
    rewritten += Number(updated.numUpdatedRows);
  }
  if (rewritten > 0) logger.info({ count: rewritten }, 'webhook signing secrets sealed under the current deployment secret');
  return rewritten;
}
