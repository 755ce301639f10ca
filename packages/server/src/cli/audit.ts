import type { Command } from 'commander';
import { addListOptions, type ListOptions, type Run } from './context.ts';
import { table } from './output.ts';

/** SPEC 10.3: the audit log, newest first. */
export function registerAuditCommands(program: Command, run: Run): void {
  const audit = program.command('audit').description('the audit log');

  addListOptions(
    audit
      .command('list', { isDefault: true })
      .description('audit entries, newest first')
      .option('--org <organizationId>', 'only this organization')
      .option('--key <apiKeyId>', 'only calls made with this key (UUID)')
      .option('--action <action>', 'only this action, e.g. admin.key.kill')
      .option('--changes-only', 'leave out reads (actions ending in .read or .list)'),
  ).action(
    run(async (context) => {
      const options = context.options<ListOptions & { org?: string; key?: string; action?: string; changesOnly?: boolean }>();
      const filters = { organizationId: options.org, apiKeyId: options.key, action: options.action, ...(options.changesOnly && { changesOnly: true }) };
      const entries = context.admin().audit;
      await context.emitList(
        options,
        (cursor) => entries.page({ ...filters, limit: options.limit, cursor }),
        () => entries.list({ ...filters, limit: options.limit ?? 100 }),
        (rows) =>
          table(rows, [
            ['TIME', (e) => e.occurredAt],
            ['ACTOR', (e) => e.actor],
            ['ENV', (e) => e.env],
            ['ACTION', (e) => e.action],
            ['TARGET', (e) => (e.targetType ? `${e.targetType}:${e.targetId ?? ''}` : e.targetId)],
            ['STATUS', (e) => e.status],
            ['REQUEST', (e) => e.requestId],
            ['CHANGE', (e) => (e.details ? JSON.stringify(e.details) : null)],
          ]),
      );
    }),
  );
}
