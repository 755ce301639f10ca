import { Command, CommanderError } from 'commander';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../config.ts';
import { registerAuditCommands } from './audit.ts';
import { CommandContext, describeError, type CliIo, type Run } from './context.ts';
import { registerKeyCommands } from './keys.ts';
import { registerKillSwitchCommands } from './kill-switch.ts';
import { registerMigrateCommand } from './migrate.ts';
import { registerCreditCommands, registerOrgCommands } from './orgs.ts';
import { registerOperatorCommands } from './people.ts';
import { registerPlanCommands } from './plans.ts';
import { registerScanCommand } from './scan.ts';
import { registerServeCommand } from './serve.ts';
import { registerUsageCommands } from './usage.ts';
import { registerWhoamiCommand } from './whoami.ts';

const processIo = (): CliIo => ({
  stdout: (text) => process.stdout.write(`${text}\n`),
  stderr: (text) => process.stderr.write(`${text}\n`),
  env: process.env,
});

/**
 * The `gatehouse` program (SPEC 10.2). Remote commands (orgs, plans, keys, kill-switch, audit) go through the
 * admin API with GatehouseAdmin, `whoami` through the partner API; only `serve` and `migrate` open the store.
 * `status.code` receives the exit status of the command that ran.
 */
export function buildProgram(io: CliIo, status: { code: number }): Command {
  const program = new Command('gatehouse')
    .description('Gatehouse: a self-hostable partner API platform')
    .option('--url <url>', 'server base URL (default: GATEHOUSE_URL, then http://127.0.0.1:8787)')
    .option('--token <token>', 'admin token (default: GATEHOUSE_ADMIN_TOKEN, then <GATEHOUSE_DATA_DIR>/admin-token)')
    .option('--json', 'machine-readable output')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout(text.trimEnd()), writeErr: (text) => io.stderr(text.trimEnd()) });

  const run: Run = (handler) => async (...args: unknown[]) => {
    const command = args.at(-1) as Command;
    const context = new CommandContext(command, io);
    // Commander passes positional arguments first, then the options object and the command.
    const positional = args.slice(0, -2).flatMap((value) => (Array.isArray(value) ? (value as string[]) : [value as string]));
    try {
      status.code = (await handler(context, ...positional)) ?? 0;
    } catch (error) {
      status.code = 1;
      io.stderr(error instanceof ConfigError ? `configuration error: ${error.message}` : describeError(error, context.json, context.credentialSource));
    }
  };

  registerServeCommand(program, run);
  registerMigrateCommand(program, run);
  registerWhoamiCommand(program, run);
  registerOrgCommands(program, run);
  registerCreditCommands(program, run);
  registerPlanCommands(program, run);
  registerKeyCommands(program, run);
  registerKillSwitchCommands(program, run);
  registerAuditCommands(program, run);
  registerUsageCommands(program, run);
  registerOperatorCommands(program, run);

  registerScanCommand(program, run);

  return program;
}

/** Runs one command line (`argv` as in process.argv) and resolves with its exit status. */
export async function runCli(argv: readonly string[] = process.argv, io: CliIo = processIo()): Promise<number> {
  const status = { code: 0 };
  const program = buildProgram(io, status);
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    throw error;
  }
  return status.code;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runCli();
}
