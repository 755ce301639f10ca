import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { SecretSealer } from '../secrets/sealing.ts';
import { listSealedTotpSecrets, replaceSealedTotpSecret } from './repository.ts';

/**
 * SPEC 11 rotation: with GATEHOUSE_SECRET_PREVIOUS set, every TOTP secret still sealed under it is sealed again
 * under the current secret at start, so nobody's second factor depends on the old secret once it is dropped. (A
 * sign-in reseals too, for a secret sealed by an instance still running on the old one.) Returns how many moved.
 */
export async function resealTotpSecrets(db: Kysely<Database>, sealer: SecretSealer): Promise<number> {
  let moved = 0;
  for (const row of await listSealedTotpSecrets(db)) {
    const opened = sealer.open(row.totp_secret_sealed);
    if (!opened.stale) continue;
    await replaceSealedTotpSecret(db, row.id, row.totp_secret_sealed, sealer.seal(opened.plain));
    moved++;
  }
  return moved;
}
