import type { Command } from 'commander';
import type { KillSwitchState } from './client.ts';
import type { CommandContext, Run } from './context.ts';

const show = (context: CommandContext, state: KillSwitchState) =>
  context.emit(state, () => `global kill switch: ${state.enabled ? 'ON (every /v1 call answers 503 KILL_SWITCH)' : 'off'}`);

/** SPEC 7: the global kill switch. Key switches are under `keys`, the organization's under `orgs update`. */
export function registerKillSwitchCommands(program: Command, run: Run): void {
  const killSwitch = program.command('kill-switch').description('the global kill switch: get, on, off');

  killSwitch
    .command('get', { isDefault: true })
    .description('show the global kill switch')
    .action(run(async (context) => show(context, await context.admin().killSwitch.get())));

  killSwitch
    .command('on')
    .description('stop every /v1 call (503 KILL_SWITCH)')
    .action(run(async (context) => show(context, await context.admin().killSwitch.set(true))));

  killSwitch
    .command('off')
    .description('let /v1 calls through again')
    .action(run(async (context) => show(context, await context.admin().killSwitch.set(false))));
}
