import { randomUUID } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createStore } from '../src/db/create-db.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { insertWebhookEndpoint } from '../src/webhooks/repository.ts';
import { usingPostgres } from './harness.ts';

const parent = mkdtempSync(join(tmpdir(), 'gatehouse-modes-'));
afterAll(() => rmSync(parent, { recursive: true, force: true }));

/** Every path under `root` whose permission bits are not the owner-only ones, with its mode. */
function looseEntries(root: string): string[] {
  const loose: string[] = [];
  const visit = (path: string) => {
    const stat = lstatSync(path);
    const mode = stat.mode & 0o777;
    if (stat.isDirectory()) {
      if (mode !== 0o700) loose.push(`${path} ${mode.toString(8)}`);
      for (const name of readdirSync(path)) visit(join(path, name));
    } else if (stat.isFile() && mode !== 0o600) {
      loose.push(`${path} ${mode.toString(8)}`);
    }
  };
  visit(root);
  return loose;
}

// The embedded store only: PostgreSQL keeps its own files.
describe.runIf(!usingPostgres)('the embedded store is the server user’s alone (issue 13, finding 6)', () => {
  it('keeps its directory 0700 and its files 0600 under umask 022, open and closed', async () => {
    const previous = process.umask(0o022);
    try {
      // A directory made beforehand, world-readable (one PGlite start takes seconds, so one directory serves).
      const dataDir = join(parent, 'data');
      mkdirSync(dataDir, { mode: 0o755 });
      {
        const store = await createStore({ dataDir });
        try {
          await migrateToLatest(store.db);
          const organization = await store.db.insertInto('organizations').values({ name: 'Modes' }).returning('id').executeTakeFirstOrThrow();
          await insertWebhookEndpoint(store.db, {
            id: randomUUID(),
            tenant: { organizationId: organization.id, env: 'live' },
            url: 'https://example.com/hook',
            events: ['job.succeeded'],
            sealed: { secret: null, secret_sealed: Buffer.from('sealed bytes'), secret_key_id: 'test' },
          });
          expect(readdirSync(dataDir).length).toBeGreaterThan(5);
          expect(looseEntries(dataDir)).toEqual([]);
        } finally {
          await store.close();
        }
        expect(looseEntries(dataDir)).toEqual([]);
      }
    } finally {
      process.umask(previous);
    }
  });
});
