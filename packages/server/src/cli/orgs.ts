import type { Command } from 'commander';
import type { Organization, UpdateOrganizationParams } from './client.ts';
import { absoluteInteger, addListOptions, boolean, CliError, planName, positiveAmount, type ListOptions, type Run } from './context.ts';
import { record, table } from './output.ts';
import { addOrgInviteCommand } from './people.ts';

export const organizationRecord = (org: Organization) =>
  record([
    ['id', org.id],
    ['name', org.name],
    ['plan', org.plan ?? 'none'],
    ['tier', org.rateLimitTier],
    ['credits', org.creditBalance],
    ['api access revoked', org.apiAccessRevoked],
    ['low credit threshold', org.lowCreditThreshold ?? 'none'],
    ['created', org.createdAt],
    ['updated', org.updatedAt],
  ]);

interface OrgFields {
  name?: string;
  plan?: string | null;
  tier?: string;
  credits?: number;
  apiAccessRevoked?: boolean;
  lowCreditThreshold?: number | 'none';
}

/** A threshold of credits, or `none` (no credits.low at all); not null, which commander would turn into ''. */
const creditThreshold = (value: string): number | 'none' => (value.trim() === 'none' ? 'none' : absoluteInteger(value));

/** SPEC 10.2: organizations, their plan, tier (rate limits), credits and API access. */
export function registerOrgCommands(program: Command, run: Run): void {
  const orgs = program.command('orgs').alias('organizations').description('organizations: create, list, show, change plan, tier, credits, API access, invite');
  addOrgInviteCommand(orgs, run);

  orgs
    .command('create')
    .description('create an organization')
    .argument('<name>', 'display name')
    .option('--plan <plan>', 'plan name, or none (default: none, so every /v1 call answers 402)', planName)
    .option('--tier <tier>', 'rate-limit tier (default standard)')
    .option('--credits <n>', 'starting credit balance (default 0)', absoluteInteger)
    .action(
      run(async (context, name) => {
        const options = context.options<OrgFields>();
        const org = await context.admin().organizations.create({
          name: name!,
          ...(options.plan !== undefined && { plan: options.plan }),
          ...(options.tier !== undefined && { rateLimitTier: options.tier }),
          ...(options.credits !== undefined && { creditBalance: options.credits }),
        });
        context.emit(org, () => organizationRecord(org));
      }),
    );

  addListOptions(orgs.command('list').description('list organizations, newest first')).action(
    run(async (context) => {
      const options = context.options<ListOptions>();
      const organizations = context.admin().organizations;
      await context.emitList(
        options,
        (cursor) => organizations.page({ limit: options.limit, cursor }),
        () => organizations.list({ limit: options.limit ?? 100 }),
        (rows) =>
          table(rows, [
            ['ID', (o) => o.id],
            ['NAME', (o) => o.name],
            ['PLAN', (o) => o.plan ?? 'none'],
            ['TIER', (o) => o.rateLimitTier],
            ['CREDITS', (o) => o.creditBalance],
            ['REVOKED', (o) => o.apiAccessRevoked],
          ]),
      );
    }),
  );

  orgs
    .command('get')
    .alias('show')
    .description('show one organization')
    .argument('<id>', 'organization id')
    .action(
      run(async (context, id) => {
        const org = await context.admin().organizations.get(id!);
        context.emit(org, () => organizationRecord(org));
      }),
    );

  orgs
    .command('update')
    .description('change an organization (only the options given)')
    .argument('<id>', 'organization id')
    .option('--name <name>', 'display name')
    .option('--plan <plan>', 'plan name, or none', planName)
    .option('--tier <tier>', 'rate-limit tier')
    .option('--credits <n>', 'set the credit balance to n (to add: gatehouse credits add)', absoluteInteger)
    .option('--api-access-revoked <true|false>', "the organization's API access switch", boolean)
    .option('--low-credit-threshold <n|none>', 'credits.low is sent when the balance falls below n; none turns it off', creditThreshold)
    .action(
      run(async (context, id) => {
        const options = context.options<OrgFields>();
        const changes: UpdateOrganizationParams = {};
        if (options.name !== undefined) changes.name = options.name;
        if (options.plan !== undefined) changes.plan = options.plan;
        if (options.tier !== undefined) changes.rateLimitTier = options.tier;
        if (options.credits !== undefined) changes.creditBalance = options.credits;
        if (options.apiAccessRevoked !== undefined) changes.apiAccessRevoked = options.apiAccessRevoked;
        if (options.lowCreditThreshold !== undefined) changes.lowCreditThreshold = options.lowCreditThreshold === 'none' ? null : options.lowCreditThreshold;
        if (Object.keys(changes).length === 0) {
          throw new CliError('nothing to change: give --name, --plan, --tier, --credits, --api-access-revoked or --low-credit-threshold');
        }
        const org = await context.admin().organizations.update(id!, changes);
        context.emit(org, () => organizationRecord(org));
      }),
    );
}

/** Credits: a top-up is added by the server in one statement, never read, summed and written back by the CLI. */
export function registerCreditCommands(program: Command, run: Run): void {
  const credits = program.command('credits').description("an organization's credits: add");

  credits
    .command('add')
    .description('add credits to an organization\'s balance (atomic; audited with the balance before and after)')
    .argument('<organizationId>', 'organization id')
    .argument('<n>', 'credits to add, a whole number above zero')
    .action(
      run(async (context, organizationId, amount) => {
        let parsed: number;
        try {
          parsed = positiveAmount(amount!);
        } catch (error) {
          throw new CliError(`<n>: ${(error as Error).message}`);
        }
        const topUp = await context.admin().organizations.addCredits(organizationId!, parsed);
        context.emit(topUp, () => `added ${topUp.added} credits to ${topUp.organizationId}: ${topUp.creditBalanceBefore} → ${topUp.creditBalance}`);
      }),
    );
}
