import type { Command } from 'commander';
import type { ApiKey, CreatedApiKey, GatehouseAdmin, KeyEnv, Scope } from './client.ts';
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
    ['allowed from', key.allowedCidrs.length === 0 ? 'any address' : key.allowedCidrs],
    ['status', key.status],
    ['kill switch', key.killSwitch ? 'ON' : 'off'],
    ['expires', key.expiresAt],
    ['created', key.createdAt],
    ['last used', key.lastUsedAt],
    ['revoked', key.revokedAt],
  ]);

/**
 * A key is named by its UUID (the `apiKeyId` of whoami and the audit log), its public key_id, or its display prefix
 * (`lp_live_<key_id>`, what a log line or `gatehouse scan` shows). The key_id of the last two, or null.
 */
function keyIdOf(reference: string): string | null {
  const candidate = reference.split('_').length >= 3 ? reference.split('_')[2]! : reference;
  return KEY_ID.test(candidate) ? candidate : null;
}

const KEY_REFERENCE = 'key id (UUID), key_id, or display prefix';

/** The key's UUID, looking a key_id or display prefix up through the admin API. */
async function keyUuid(admin: GatehouseAdmin, reference: string): Promise<string> {
  if (UUID.test(reference)) return reference;
  const keyId = keyIdOf(reference);
  if (keyId === null) throw new CliError(`${reference} is neither a key UUID nor a key_id / display prefix`);
  return (await admin.keys.getByKeyId(keyId)).id;
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
    .argument('<key>', KEY_REFERENCE)
    .action(
      run(async (context, reference) => {
        const admin = context.admin();
        const key = await admin.keys.get(await keyUuid(admin, reference!));
        context.emit(key, () => keyRecord(key));
      }),
    );

  keys
    .command('allow')
    .description('set the addresses a key may be used from (IPv4/IPv6 addresses or CIDRs; replaces the list); --any lifts the restriction')
    .argument('<key>', KEY_REFERENCE)
    .argument('[cidrs...]', 'addresses or CIDRs, e.g. 203.0.113.0/24 2001:db8::/32')
    .option('--any', 'allow every address (empties the list)')
    .action(
      run(async (context, reference, ...list) => {
        const options = context.options<{ any?: boolean }>();
        if (options.any === true && list.length > 0) throw new CliError('give either CIDRs or --any, not both');
        if (options.any !== true && list.length === 0) throw new CliError('give at least one address or CIDR, or --any');
        const admin = context.admin();
        const key = await admin.keys.update(await keyUuid(admin, reference!), { allowedCidrs: list });
        context.emit(key, () => keyRecord(key));
      }),
    );

  const switches = [
    ['kill', "turn a key's kill switch on: every call with it answers 503 KILL_SWITCH", 'killed'],
    ['unkill', "turn a key's kill switch off", 'unkilled'],
    ['revoke', 'revoke a key, immediately and permanently', 'revoked'],
  ] as const;
  for (const [name, description, done] of switches) {
    keys
      .command(name)
      .description(description)
      .argument('<key>', KEY_REFERENCE)
      .action(
        run(async (context, reference) => {
          const admin = context.admin();
          const key = await admin.keys[name](await keyUuid(admin, reference!));
          context.emit(key, () => `${done} ${key.displayPrefix} (${key.id})`);
        }),
      );
  }
}
