import type { Command } from 'commander';
import { Gatehouse, GatehouseError, type Whoami } from './client.ts';
import { CliError, type Run } from './context.ts';

/**
 * SPEC 10.2 and the seeds' boot check: exit status 0 only for 200 with neither the key's kill switch nor the
 * organization's apiAccessRevoked on. Everything else (401, 402, 503, a switch, no answer) exits 1.
 */
export function registerWhoamiCommand(program: Command, run: Run): void {
  program
    .command('whoami')
    .description("boot check of a partner key: exit status 0 only when it is healthy")
    .option('--key <key>', 'the partner key (default: GATEHOUSE_API_KEY, then LAYERS_API_KEY)')
    .action(
      run(async (context) => {
        const sources: [string, string | undefined][] = [
          ['--key', context.options<{ key?: string }>().key],
          ['GATEHOUSE_API_KEY', context.io.env.GATEHOUSE_API_KEY],
          ['LAYERS_API_KEY', context.io.env.LAYERS_API_KEY],
        ];
        const [source, apiKey] = sources.find(([, value]) => value) ?? [];
        if (!apiKey) throw new CliError('no API key: pass --key or set GATEHOUSE_API_KEY (or LAYERS_API_KEY)');
        context.credentialSource = `the partner key from ${source}`;
        const client = new Gatehouse({ apiKey, baseUrl: context.baseUrl });
        try {
          const me = await client.assertKeyHealthy();
          context.emit(me, () => `key healthy — org=${me.organizationId} name=${me.organizationName} tier=${me.rateLimitTier} env=${me.env} credits=${me.creditBalance}`);
          return 0;
        } catch (error) {
          const me = error instanceof GatehouseError && error.status === 200 ? (error.details.whoami as Whoami | undefined) : undefined;
          if (!me) throw error;
          // A switch is on: whoami still answered, so show what it said and which switch stops the key.
          context.emit(me, () => `access blocked — killSwitch=${me.killSwitch} apiAccessRevoked=${me.apiAccessRevoked} (org=${me.organizationId} name=${me.organizationName}); refusing to start`);
          return 1;
        }
      }),
    );
}
