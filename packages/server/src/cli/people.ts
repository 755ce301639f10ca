import type { Command } from 'commander';
import type { IssuedLink } from './client.ts';
import { CliError, type CommandContext, type Run } from './context.ts';
import { record, table } from './output.ts';

const PARTNER_ROLES = ['owner', 'developer', 'viewer'] as const;
const OPERATOR_ROLES = ['operator', 'support'] as const;

function roleOf<T extends string>(allowed: readonly T[]) {
  return (value: string): T => {
    if (!(allowed as readonly string[]).includes(value)) throw new CliError(`role must be one of ${allowed.join(', ')}`);
    return value as T;
  };
}

/** The link, when the server had no SMTP to mail it: shown this once, as SPEC 13.3 says. */
function showLink(context: CommandContext, issued: IssuedLink): void {
  context.emit(issued, () =>
    [
      record([
        ['id', issued.id],
        ['email', issued.email],
        ['role', issued.role],
        ['expires', issued.expiresAt],
      ]),
      issued.mailed
        ? `The one-time link was mailed to ${issued.email}.`
        : `One-time link (valid 72 hours, shown only now; send it to ${issued.email} yourself):\n${issued.link}`,
    ].join('\n'),
  );
}

/** SPEC 10.1 and 13: operator accounts (`gatehouse operators create`, `gatehouse operators list`). */
export function registerOperatorCommands(program: Command, run: Run): void {
  const operators = program.command('operators').description('operator accounts: create (invite), list');

  operators
    .command('create')
    .alias('invite')
    .description('invite an operator: a one-time link to set a password, mailed or printed once')
    .argument('<email>', 'their email address')
    .option('--role <role>', 'operator (everything the admin API does) or support (reads, key and organization switches)', roleOf(OPERATOR_ROLES), 'operator')
    .action(
      run(async (context, email) => {
        const { role } = context.options<{ role: (typeof OPERATOR_ROLES)[number] }>();
        showLink(context, await context.admin().operators.invite({ email: email!, role }));
      }),
    );

  operators
    .command('list', { isDefault: true })
    .description('operator accounts and pending invitations')
    .action(
      run(async (context) => {
        const team = await context.admin().operators.list();
        context.emit(team, () =>
          table(
            [...team.members.map((m) => ({ ...m, state: m.secondFactor ? 'active, 2FA' : 'active' })), ...team.invitations.map((i) => ({ ...i, state: `invited until ${i.expiresAt}` }))],
            [
              ['EMAIL', (row) => row.email],
              ['ROLE', (row) => row.role],
              ['STATE', (row) => row.state],
              ['ID', (row) => row.id],
            ],
          ),
        );
      }),
    );

}

/** `gatehouse orgs invite`, added to the `orgs` command by src/cli/orgs.ts. */
export function addOrgInviteCommand(orgs: Command, run: Run): void {
  orgs
    .command('invite')
    .description("invite a partner user to an organization (an organization's first owner comes this way)")
    .argument('<organizationId>', 'organization id')
    .argument('<email>', 'their email address')
    .option('--role <role>', 'owner, developer or viewer', roleOf(PARTNER_ROLES), 'owner')
    .action(
      run(async (context, organizationId, email) => {
        const { role } = context.options<{ role: (typeof PARTNER_ROLES)[number] }>();
        showLink(context, await context.admin().invitations.create(organizationId!, { email: email!, role }));
      }),
    );
}
