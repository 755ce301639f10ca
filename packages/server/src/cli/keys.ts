import type { Command } from 'commander';
import type { ApiKey, CreatedApiKey, KeyEnv, Scope } from './client.ts';
import { addListOptions, CliError, list, type ListOptions, type Run } from './context.ts';
import { record, table } from './output.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const KEY_ID = /^[0-9A-HJKMNP-TV-Z]{16}$/;

export const keyRecord = (key: ApiKey) =>
  record([
    ['id', key.id],
    ['key id', key.keyId],
    ['display prefix', key.displayPrefix],
    ['organization', key.organizationId],
    ['name', key.name],
    ['env', key.env],
    ['scopes', key.scopes.length === 0 ? 'all (organization-level)' : key.scopes],
    ['status', key.status],
    ['kill switch', key.killSwitch ? 'ON' : 'off'],
    ['expires', key.expiresAt],
    ['created', key.createdAt],
    ['last used', key.lastUsedAt],
    ['revoked', key.revokedAt],
  ]);

/**
 * A key is named by its UUID (the `apiKeyId` of whoami and the audit log), or by its public key_id / display
 * prefix (what a log line or `gatehouse scan` shows), for kill only.
 */
function keyIdOf(reference: string): string | null {
  const candidate = reference.split('_').length >= 3 ? reference.split('_')[2]! : reference;
  return KEY_ID.test(candidate) ? candidate : null;
}

/** SPEC 10.1: issuing keys and their switches: kill and unkill (reversible), revoke (permanent). */
export function registerKeyCommands(program: Command, run: Run): void {
  const keys = program.command('keys').description("API keys: issue, list, show, kill, unkill, revoke");

  keys
    .command('issue')
    .description("issue a key for an organization; the full key is printed once")
    .argument('<organizationId>', 'organization id')
    .requiredOption('--name <name>', 'what the key is for')
    .option('--env <env>', 'live or test (default live)')
    .option('--scopes <list>', 'comma-separated scopes (default none: full organization access)', list)
    .option('--expires-at <time>', 'ISO 8601 expiry')
    .action(
      run(async (context, organizationId) => {
        const options = context.options<{ name: string; env?: string; scopes?: string[]; expiresAt?: string }>();
        if (options.env !== undefined && options.env !== 'live' && options.env !== 'test') throw new CliError('--env must be live or test');
        const created: CreatedApiKey = await context.admin().keys.issue(organizationId!, {
          name: options.name,
          ...(options.env !== undefined && { env: options.env as KeyEnv }),
          ...(options.scopes !== undefined && { scopes: options.scopes as Scope[] }),
          ...(options.expiresAt !== undefined && { expiresAt: options.expiresAt }),
        });
        context.emit(created, () => `${keyRecord(created)}\n\nKey (shown once; store it now, it cannot be recovered):\n${created.key}`);
      }),
    );

  addListOptions(keys.command('list').description("an organization's keys (display prefixes only)").argument('<organizationId>', 'organization id')).action(
    run(async (context, organizationId) => {
      const options = context.options<ListOptions>();
      const admin = context.admin();
      await context.emitList(
        options,
        (cursor) => admin.keys.page(organizationId!, { limit: options.limit, cursor }),
        () => admin.keys.list(organizationId!, { limit: options.limit ?? 100 }),
        (rows) =>
          table(rows, [
            ['ID', (k) => k.id],
            ['DISPLAY PREFIX', (k) => k.displayPrefix],
            ['NAME', (k) => k.name],
            ['STATUS', (k) => k.status],
            ['KILLED', (k) => k.killSwitch],
            ['SCOPES', (k) => k.scopes],
            ['LAST USED', (k) => k.lastUsedAt],
          ]),
      );
    }),
  );

  keys
    .command('get')
    .alias('show')
    .description('show one key')
    .argument('<id>', 'key id (UUID)')
    .action(
      run(async (context, id) => {
        const key = await context.admin().keys.get(id!);
        context.emit(key, () => keyRecord(key));
      }),
    );

  keys
    .command('kill')
    .description("turn a key's kill switch on: every call with it answers 503 KILL_SWITCH")
    .argument('<key>', 'key id (UUID), key_id, or display prefix')
    .action(
      run(async (context, reference) => {
        const admin = context.admin();
        const keyId = UUID.test(reference!) ? null : keyIdOf(reference!);
        if (!UUID.test(reference!) && keyId === null) throw new CliError(`${reference} is neither a key UUID nor a key_id / display prefix`);
        const key = keyId === null ? await admin.keys.kill(reference!) : await admin.keys.killByKeyId(keyId);
        context.emit(key, () => `killed ${key.displayPrefix} (${key.id})`);
      }),
    );

  keys
    .command('unkill')
    .description("turn a key's kill switch off")
    .argument('<id>', 'key id (UUID)')
    .action(
      run(async (context, id) => {
        const key = await context.admin().keys.unkill(id!);
        context.emit(key, () => `unkilled ${key.displayPrefix} (${key.id})`);
      }),
    );

  keys
    .command('revoke')
    .description('revoke a key, immediately and permanently')
    .argument('<id>', 'key id (UUID)')
    .action(
      run(async (context, id) => {
        const key = await context.admin().keys.revoke(id!);
        context.emit(key, () => `revoked ${key.displayPrefix} (${key.id})`);
      }),
    );
}
