import type { Command } from 'commander';
import type { Run } from './context.ts';

/** Where the store is, for the output; a DATABASE_URL may carry a password, so only host and database show. */
function describeStore(databaseUrl: string | undefined, dataDir: string): string {
  if (!databaseUrl) return `embedded store in ${dataDir}`;
  try {
    const url = new URL(databaseUrl);
    return `PostgreSQL ${url.host}${url.pathname}`;
  } catch {
    return 'PostgreSQL (DATABASE_URL)';
  }
}

/**
 * `gatehouse migrate`: opens the store of the configuration (DATABASE_URL, else the embedded store) and applies
 * pending migrations. The embedded store refuses (StoreLockedError) while a server holds it.
 */
export function registerMigrateCommand(program: Command, run: Run): void {
  program
    .command('migrate')
    .description('apply pending migrations to the configured store')
    .action(
      run(async (context) => {
        const [{ loadConfig }, { createStore }, { migrateToLatest }] = await Promise.all([
          import('../config.ts'),
          import('../db/create-db.ts'),
          import('../db/migrate.ts'),
        ]);
        const config = loadConfig(context.io.env);
        const where = describeStore(config.databaseUrl, config.dataDir);
        const store = await createStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
        try {
          const applied = await migrateToLatest(store.db);
          context.emit({ store: store.kind, applied }, () =>
            applied.length === 0 ? `${where}: up to date` : `${where}: applied ${applied.length} migration(s): ${applied.join(', ')}`,
          );
        } finally {
          await store.close();
        }
      }),
    );
}
