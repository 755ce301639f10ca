import { buildApp } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';
import { createDeps } from './deps.ts';
import { StoreLockedError } from './db/store-lock.ts';
import { startTracing, tracing } from './observability/tracing.ts';
import { consoleLines, ensureAdminToken, seedDevelopmentOrganization } from './first-start.ts';

/** config → deps → app → listen; SIGTERM closes in the reverse order. Secrets go to stdout once, never to the log. */
export async function serve(): Promise<void> {
  const started = performance.now();
  const config = loadConfig();
  // Traces only when OTEL_* asks for them; otherwise nothing of OpenTelemetry is loaded.
  await startTracing();
  const deps = await createDeps(config);
  const adminToken = await ensureAdminToken(deps);
  const seeded = config.databaseUrl ? null : await seedDevelopmentOrganization(deps);
  const app = await buildApp(deps);
  const address = await app.listen({ port: config.port, host: config.host });
  const baseUrl = address.replace('[::1]', 'localhost');
  deps.people.useListeningAddress(baseUrl);
  const lines = [`Gatehouse listening on ${baseUrl} (${config.databaseUrl ? 'PostgreSQL' : `embedded store in ${config.dataDir}`}) in ${Math.round(performance.now() - started)} ms`];
  if (adminToken) lines.push('', 'Admin token (shown once; also saved for the local CLI in the data directory):', adminToken);
  if (seeded) {
    lines.push('', 'Development API key (shown once):', seeded.key, '', 'Try it:', `curl -s ${baseUrl}/v1/whoami -H "X-Api-Key: ${seeded.key}"`);
  }
  if (adminToken || seeded) lines.push('', ...consoleLines(deps.people.publicUrl));
  process.stdout.write(`${lines.join('\n')}\n\n`);

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    deps.logger.info({ signal, drainMs: config.drainMs }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 30_000 + config.drainMs);
    force.unref();
    // A rolling restart (SIGTERM): readiness fails and connections close after their response while the load
    // balancer notices, then the listener closes, in-flight requests finish, and running jobs are handed back.
    // Ctrl-C in a terminal has no load balancer to wait for.
    deps.lifecycle.draining = true;
    if (signal === 'SIGTERM' && config.drainMs > 0) await new Promise((resolve) => setTimeout(resolve, config.drainMs));
    await app.close();
    await deps.close();
    await tracing.current?.shutdown();
    deps.logger.flush?.();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

/** `npm start` (bin/start.js): serve, or say why not and exit 1. */
export function startFromCommandLine(): void {
  serve().catch((error: unknown) => {
    if (error instanceof ConfigError) console.error(`configuration error: ${error.message}`);
    else if (error instanceof StoreLockedError) console.error(error.message);
    else console.error(error);
    process.exit(1);
  });
}

if (import.meta.url === `file://${process.argv[1]}`) startFromCommandLine();
