import type { Command } from 'commander';
import type { Run } from './context.ts';

/** `gatehouse serve`: the server of `npm start`; the options are shorthands for PORT, HOST, GATEHOUSE_DATA_DIR. */
export function registerServeCommand(program: Command, run: Run): void {
  program
    .command('serve')
    .description('start the server (configuration from the environment, SPEC 11)')
    .option('--port <port>', 'PORT')
    .option('--host <host>', 'HOST')
    .option('--data-dir <dir>', 'GATEHOUSE_DATA_DIR (the embedded store)')
    .action(
      run(async (context) => {
        const options = context.options<{ port?: string; host?: string; dataDir?: string }>();
        if (options.port !== undefined) process.env.PORT = options.port;
        if (options.host !== undefined) process.env.HOST = options.host;
        if (options.dataDir !== undefined) process.env.GATEHOUSE_DATA_DIR = options.dataDir;
        // Loaded here, not at the top: remote commands should not pay for the server's modules.
        const { serve } = await import('../main.ts');
        try {
          await serve();
        } catch (error) {
          // A failed start may leave the store or timers open; like `npm start`, end the process here.
          context.io.stderr(error instanceof Error ? `error: ${error.message}` : String(error));
          process.exit(1);
        }
      }),
    );
}
