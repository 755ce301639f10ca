import type { Command } from 'commander';
import { integer, list, type Run } from './context.ts';
import { record, table } from './output.ts';

/** SPEC 10.1: plans; `api_access` in a plan's features opens /v1 to its organizations. */
export function registerPlanCommands(program: Command, run: Run): void {
  const plans = program.command('plans').description('plans: list, create or redefine');

  plans
    .command('list')
    .description('list plans by rank')
    .action(
      run(async (context) => {
        const data = await context.admin().plans.list();
        context.emit({ data }, () =>
          table(data, [
            ['NAME', (p) => p.name],
            ['RANK', (p) => p.rank],
            ['FEATURES', (p) => p.features],
          ]),
        );
      }),
    );

  plans
    .command('create')
    .description('create a plan, or redefine the plan of that name')
    .argument('<name>', 'plan name')
    .requiredOption('--rank <n>', 'order among plans (higher is more)', integer)
    .option('--features <list>', 'comma-separated features, e.g. api_access', list, [])
    .action(
      run(async (context, name) => {
        const options = context.options<{ rank: number; features: string[] }>();
        const plan = await context.admin().plans.create({ name: name!, rank: options.rank, features: options.features });
        context.emit(plan, () =>
          record([
            ['name', plan.name],
            ['rank', plan.rank],
            ['features', plan.features],
          ]),
        );
      }),
    );
}
