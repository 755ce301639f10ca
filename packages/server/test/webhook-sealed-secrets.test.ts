import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../src/db/create-db.ts';
import { secretIdOf } from '../src/secrets/derive.ts';
import { partnerWithKey, withKey } from './factories.ts';
import { createTestStore, startTestApp, TEST_SECRET } from './harness.ts';

/** SPEC 8.6 and 11 (issue 20): signing secrets sealed at rest, rows made before sealing converted, rotation re-seals. */
describe('sealed webhook signing secrets', () => {
  let store: Store;
  beforeAll(async () => {
    store = await createTestStore();
  });
  afterAll(async () => store.close());

  it('seals a new secret, converts a plain row at start, and re-seals everything under a rotated deployment secret', async () => {
    const first = await startTestApp({ store });
    const { key } = await partnerWithKey(first.app);
    const created = await first.app.inject({ method: 'POST', url: '/v1/webhook-endpoints', headers: withKey(key.key), payload: { url: 'https://example.com/hooks', events: ['job.succeeded'] } });
    expect(created.statusCode).toBe(201);
    const { id, secret } = created.json() as { id: string; secret: string };
    const sealedRow = await store.db.selectFrom('webhook_endpoints').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(sealedRow.secret).toBeNull();
    expect(sealedRow.secret_key_id).toBe(secretIdOf(Buffer.from(TEST_SECRET, 'base64url')));
    expect(Buffer.from(sealedRow.secret_sealed!).toString('latin1')).not.toContain(secret.slice(6));
    expect(first.deps.webhookSecrets.open(sealedRow)).toBe(secret);

    // A row as a store made before migration 0019 kept it: the secret in plain text.
    const plainId = randomUUID();
    const plainSecret = `whsec_${randomBytes(24).toString('base64')}`;
    await store.db
      .insertInto('webhook_endpoints')
      .values({ id: plainId, organization_id: sealedRow.organization_id, url: 'https://example.com/old', events: ['job.failed'], secret: plainSecret })
      .execute();
    await first.close();

    // The next start rotates the deployment secret: the old one is only GATEHOUSE_SECRET_PREVIOUS now.
    const rotated = randomBytes(32).toString('base64url');
    const second = await startTestApp({ store, config: { secret: rotated, secretPrevious: TEST_SECRET } });
    try {
      const rows = await store.db.selectFrom('webhook_endpoints').selectAll().where('id', 'in', [id, plainId]).orderBy('url').execute();
      for (const row of rows) {
        expect(row.secret).toBeNull();
        expect(row.secret_key_id).toBe(secretIdOf(Buffer.from(rotated, 'base64url')));
      }
      expect(second.deps.webhookSecrets.open(rows.find((row) => row.id === id)!)).toBe(secret);
      expect(second.deps.webhookSecrets.open(rows.find((row) => row.id === plainId)!)).toBe(plainSecret);
      // A sealed secret moved onto another endpoint's row does not open (the endpoint id is bound to it).
      expect(() => second.deps.webhookSecrets.open({ ...rows[0]!, id: rows[1]!.id })).toThrow();
    } finally {
      await second.close();
    }
    // Without the previous secret any more, an instance still opens everything: it was all moved on.
    const third = await startTestApp({ store, config: { secret: rotated } });
    try {
      const row = await store.db.selectFrom('webhook_endpoints').selectAll().where('id', '=', plainId).executeTakeFirstOrThrow();
      expect(third.deps.webhookSecrets.open(row)).toBe(plainSecret);
    } finally {
      await third.close();
    }
  });
});
