import type { Command } from 'commander';
import type { EndpointClass, ExplainMethod, UsageGranularity } from './client.ts';
import { CliError, type Run } from './context.ts';
import { record, table } from './output.ts';

const GRANULARITIES: readonly UsageGranularity[] = ['minute', 'hour', 'day'];
const METHODS: readonly ExplainMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];

/** SPEC 8.7 and 8.9 for operators: usage, a request-log row by its X-Request-Id, and explain. */
export function registerUsageCommands(program: Command, run: Run): void {
  program
    .command('usage')
    .description('usage per organization, or per key and endpoint class with --org or --key (at most 31 days)')
    .option('--org <organizationId>', 'one organization, per key and class')
    .option('--key <apiKeyId>', 'one key (UUID)')
    .option('--from <time>', 'ISO 8601 start (default: 24 hours before --to)')
    .option('--to <time>', 'ISO 8601 end, exclusive (default: now)')
    .option('--granularity <granularity>', 'minute, hour or day', 'hour')
    .option('--class <endpointClass>', 'read-light, write-light or long-running')
    .action(
      run(async (context) => {
        const options = context.options<{ org?: string; key?: string; from?: string; to?: string; granularity: string; class?: string }>();
        if (!GRANULARITIES.includes(options.granularity as UsageGranularity)) throw new CliError(`--granularity must be one of ${GRANULARITIES.join(', ')}`);
        const rows = await context.admin().usage.get({
          organizationId: options.org,
          apiKeyId: options.key,
          from: options.from,
          to: options.to,
          granularity: options.granularity as UsageGranularity,
          endpointClass: options.class as EndpointClass | undefined,
        });
        context.emit({ data: rows }, () =>
          table(rows, [
            ['TIME', (row) => row.time],
            ['ORGANIZATION', (row) => row.organizationId],
            ['ENV', (row) => row.env],
            ['KEY', (row) => row.apiKeyId],
            ['CLASS', (row) => row.endpointClass],
            ['REQUESTS', (row) => row.requests],
            ['2XX', (row) => row.status2xx],
            ['4XX', (row) => row.status4xx],
            ['5XX', (row) => row.status5xx],
            ['429', (row) => row.rateLimited],
            ['CREDITS', (row) => row.creditsCharged],
          ]),
        );
      }),
    );

  program
    .command('requests')
    .description('the request log')
    .command('show <requestId>')
    .description('one request, by the X-Request-Id a partner quotes (any organization)')
    .action(
      run(async (context, requestId) => {
        const entry = await context.admin().requests.get(requestId!);
        context.emit(entry, () =>
          record([
            ['request', entry.requestId],
            ['time', entry.time],
            ['organization', entry.organizationId],
            ['env', entry.env],
            ['key', entry.apiKeyId],
            ['route', `${entry.method} ${entry.route ?? '(no route)'}`],
            ['class', entry.endpointClass],
            ['status', entry.status],
            ['error', entry.errorCode],
            ['duration ms', entry.durationMs],
            ['client', entry.clientAddress],
          ]),
        );
      }),
    );

  program
    .command('explain <apiKeyId> <method> <path>')
    .description("run a key's access checks against a route, without running it or using a rate-limit token")
    .action(
      run(async (context, apiKeyId, method, path) => {
        const upper = method!.toUpperCase() as ExplainMethod;
        if (!METHODS.includes(upper)) throw new CliError(`method must be one of ${METHODS.join(', ')}`);
        const explanation = await context.admin().explain({ apiKeyId: apiKeyId!, method: upper, path: path! });
        context.emit(explanation, () => {
          const answer = `would answer ${explanation.wouldAnswer.status}${explanation.wouldAnswer.code ? ` ${explanation.wouldAnswer.code}` : ''}`;
          const route = explanation.route ? `${explanation.route} (${explanation.endpointClass}, scope ${explanation.requiredScope ?? 'none'})` : 'no route';
          return `${route}: ${answer}\n\n${table(explanation.checks, [
            ['CHECK', (check) => check.check],
            ['OUTCOME', (check) => check.outcome],
            ['DETAIL', (check) => check.detail],
          ])}`;
        });
        return explanation.wouldAnswer.status < 300 ? 0 : 1;
      }),
    );
}
