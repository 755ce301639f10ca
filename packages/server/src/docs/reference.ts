import { DEFAULT_RATE_LIMITS, ENDPOINT_CLASSES, type RateLimitTable } from '../config.ts';
import { API_ACCESS_FEATURE } from '../auth/access-decision.ts';
import { ERROR_MEANINGS, ERROR_STATUS, type ErrorCode } from '../http/errors.ts';
import { SCOPES } from '../http/route-config.ts';
import { JOB_COSTS, type JobKind } from '../jobs/kinds.ts';
import { FIXTURE_ORIGIN, FIXTURE_PAGES, TEST_MODE_SLOW_MS } from '../jobs/test-mode.ts';
import { JOB_EVENT_TYPES, KEY_EVENT_TYPES, TEST_EVENT_TYPE, type KeyEventType } from '../webhooks/events.ts';

const KEY_EVENT_MEANINGS: Record<KeyEventType, string> = {
  'key.created': 'a key is issued (partner API, admin API, CLI, console)',
  'key.revoked': 'a key is revoked',
  'key.rolled': 'a key is rolled',
  'key.killed': "a key's kill switch is turned on",
  'key.unkilled': "an operator turns a key's kill switch off",
  'key.expiring': 'an active key is 24 hours, then 1 hour, from its `expiresAt` (each notice once per `expiresAt`)',
  'key.leaked': 'a leaked-key report names the key (SPEC 15)',
};
const KEY_EVENT_DATA: Record<KeyEventType, string> = {
  'key.created': '`{ env, organizationId, apiKey }`',
  'key.revoked': '`{ env, organizationId, apiKey }`',
  'key.rolled': '`{ env, organizationId, apiKey, previousKey }` (`apiKey` the new key)',
  'key.killed': '`{ env, organizationId, apiKey }`',
  'key.unkilled': '`{ env, organizationId, apiKey }`',
  'key.expiring': '`{ env, organizationId, apiKey, hoursBefore }` (24 or 1)',
  'key.leaked': '`{ env, organizationId, apiKey, url, source }`',
};

/**
 * docs/reference.md, rendered from what the server itself runs on: the error catalog, the scopes, the tier table,
 * the default plans, job costs, event types and the OpenAPI document (operations, classes, scopes, ingest bodies).
 * `npm run docs` writes it; test/docs-reference.test.ts fails when the file and this rendering differ.
 */

type Json = Record<string, unknown>;
interface Operation {
  operationId: string;
  summary?: string;
  requestBody?: { content?: { 'application/json'?: { schema?: Json } } };
  'x-gatehouse-endpoint-class': string;
  'x-gatehouse-scope': string | null;
  /** Another service's call (GitHub's secret scanning): no key, no class, no scope. */
  'x-gatehouse-hook'?: boolean;
}
export interface ReferenceInputs {
  /** The served /v1/openapi.json. */
  document: { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Json> } };
  /** The plans a new store starts with (GET /admin/v1/plans). */
  plans: { name: string; rank: number; features: string[] }[];
  rateLimits?: RateLimitTable;
}

const cell = (value: unknown): string => String(value).replace(/\|/g, '\\|').replace(/\n/g, ' ');
const table = (head: string[], rows: unknown[][]): string =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`)].join('\n');
const code = (text: string) => `\`${text}\``;

function operations(document: ReferenceInputs['document']) {
  return Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({ path, route: `${method.toUpperCase()} ${path}`, ...operation })),
  ).sort((a, b) => a.path.localeCompare(b.path) || a.route.localeCompare(b.route));
}

function resolve(document: ReferenceInputs['document'], schema: Json | undefined): Json | undefined {
  const ref = schema?.$ref;
  return typeof ref === 'string' ? resolve(document, document.components.schemas[ref.replace('#/components/schemas/', '')]) : schema;
}

/** One line per constraint a field carries, as a reader needs it. */
function constraints(schema: Json): string {
  const parts: string[] = [];
  if (Array.isArray(schema.enum)) parts.push(`one of ${schema.enum.map((value) => code(String(value))).join(', ')}`);
  if (schema.format) parts.push(`format ${schema.format}`);
  if (schema.pattern) parts.push(`pattern ${code(String(schema.pattern))}`);
  if (schema.minimum !== undefined) parts.push(`≥ ${schema.minimum}`);
  if (schema.maximum !== undefined) parts.push(`≤ ${schema.maximum}`);
  if (schema.maxLength !== undefined) parts.push(`at most ${schema.maxLength} characters`);
  if (schema.maxItems !== undefined) parts.push(`at most ${schema.maxItems} items`);
  if (schema.default !== undefined) parts.push(`default ${code(JSON.stringify(schema.default))}`);
  if (schema.description) parts.push(String(schema.description));
  return parts.join('; ');
}

function bodyTable(document: ReferenceInputs['document'], schema: Json): string {
  const resolved = resolve(document, schema) ?? {};
  const branches = (resolved.anyOf as Json[] | undefined) ?? [resolved];
  const properties = (branches[0]?.properties ?? {}) as Record<string, Json>;
  const requiredEverywhere = new Set(
    Object.keys(properties).filter((name) => branches.every((branch) => ((branch.required as string[] | undefined) ?? []).includes(name))),
  );
  const rows = Object.entries(properties).map(([name, field]) => [code(name), field.type ?? 'any', requiredEverywhere.has(name) ? 'yes' : 'no', constraints(field)]);
  const oneOf =
    branches.length > 1 ? `\n\nAt least one of ${branches.map((branch) => code(((branch.required as string[]) ?? []).join(' + '))).join(' or ')} is required.` : '';
  return table(['field', 'type', 'required', 'constraints'], rows) + oneOf;
}

export function renderReference({ document, plans, rateLimits = DEFAULT_RATE_LIMITS }: ReferenceInputs): string {
  const ops = operations(document).filter((op) => !op['x-gatehouse-hook']);
  const hooks = operations(document).filter((op) => op['x-gatehouse-hook']);
  const sections: string[] = [];
  sections.push(`# Gatehouse reference

Generated by \`npm run docs\` from the code (the error catalog, scopes, tiers, default plans, job costs, event types
and the OpenAPI document at \`/v1/openapi.json\`); a test fails when this file and the code disagree, so edit the code
and run \`npm run docs\` rather than editing here.`);

  sections.push(`## Plans and rate-limit tiers

An organization has a **plan** and a **rate-limit tier**, set apart (\`gatehouse orgs create --plan … --tier …\`).
The plan decides *whether* the organization may call \`/v1\` at all: only a plan with the \`${API_ACCESS_FEATURE}\` feature
may (no plan answers 402 \`PAYMENT_REQUIRED\`, a plan without the feature 402 \`BILLING_EXHAUSTED\`). The tier decides
*how fast*: requests per minute for each endpoint class. \`partner\` is the name of both a plan and a tier; they are
different settings, and an organization on the \`partner\` plan is on the \`standard\` tier unless given another.

Default plans (operators add or change them with \`gatehouse plans\`):

${table(
  ['plan', 'rank', 'features', '/v1 access'],
  [...plans].sort((a, b) => a.rank - b.rank).map((plan) => [code(plan.name), plan.rank, plan.features.map(code).join(', ') || '—', plan.features.includes(API_ACCESS_FEATURE) ? 'yes' : 'no (402)']),
)}

Rate-limit tiers, requests per minute per API key and endpoint class (replaced or extended by \`GATEHOUSE_RATE_LIMITS\`):

${table(['tier', ...ENDPOINT_CLASSES.map(code)], Object.entries(rateLimits).map(([tier, limits]) => [code(tier), ...ENDPOINT_CLASSES.map((name) => limits[name])]))}`);

  sections.push(`## Operations

Every \`/v1\` operation, its endpoint class (which rate limit it counts against) and the scope a restricted key needs
(a key created without scopes has full access to its organization). Ids are the OpenAPI \`operationId\`s.

${table(['operation', 'operationId', 'class', 'scope', 'what it does'], ops.map((op) => [code(op.route), code(op.operationId), op['x-gatehouse-endpoint-class'], op['x-gatehouse-scope'] ? code(op['x-gatehouse-scope']) : 'none', op.summary ?? '']))}`);

  sections.push(`## Hooks

Calls another service makes, not partners: no API key, no rate limit, each authenticated its own way (see the README).

${table(['operation', 'operationId', 'what it does'], hooks.map((op) => [code(op.route), code(op.operationId), op.summary ?? '']))}`);

  sections.push(`## Scopes

${table(
  ['scope', 'operations it opens'],
  SCOPES.map((scope) => [code(scope), ops.filter((op) => op['x-gatehouse-scope'] === scope).map((op) => code(op.route)).join(', ') || '— (reserved)']),
)}`);

  sections.push(`## Error codes

Every failure answers \`{ "error": { "code", "message", "requestId", "details"? } }\` with one of these codes; the
response's \`X-Request-Id\` equals \`error.requestId\`.

${table(['code', 'status', 'meaning'], (Object.keys(ERROR_STATUS) as ErrorCode[]).map((name) => [code(name), ERROR_STATUS[name], ERROR_MEANINGS[name]]))}`);

  const ingest = ops.filter((op) => op.route.includes('/ingest/'));
  const kindOf = (route: string) => `ingest_${route.split('/').at(-1)}` as JobKind;
  sections.push(`## Ingest bodies

Each ingest answers 202 with a job id at once; the job is charged its credits when it first starts (never when it is
canceled while queued). Follow it with \`GET /v1/jobs/{jobId}\`, or subscribe a webhook to its end.

${ingest
  .map((op) => `### ${code(op.route)}: ${op.summary ?? ''}\n\nCosts ${JOB_COSTS[kindOf(op.route)]} credits.\n\n${bodyTable(document, op.requestBody?.content?.['application/json']?.schema ?? {})}`)
  .join('\n\n')}`);

  sections.push(`## Webhook events

Deliveries are signed the Standard Webhooks way (\`webhook-id\`, \`webhook-timestamp\`, \`webhook-signature\`) and
carry \`{ "type", "timestamp", "data" }\`; \`verifyWebhook\` in \`@gatehouse/client\` checks them. Every event's \`data\`
carries \`env\`; a key's events go to the endpoints of the key's env only. A key appears in events as
\`{ id, keyId, displayPrefix, organizationId, name, env, status, killSwitch, expiresAt, createdAt, revokedAt }\`, never
with its secret. Each event is written in the transaction of the change that causes it, and sent once per endpoint.

${table(
  ['type', 'sent when', 'data'],
  [
    ...JOB_EVENT_TYPES.map((type) => [code(type), `a job ends ${type.replace('job.', '')}`, 'the job, as `GET /v1/jobs/{jobId}` shows it']),
    ...KEY_EVENT_TYPES.map((type) => [code(type), KEY_EVENT_MEANINGS[type], KEY_EVENT_DATA[type]]),
    [code('credits.low'), "the balance falls below the organization's `lowCreditThreshold`, once per crossing; live endpoints only", '`{ env, organizationId, creditBalance, lowCreditThreshold }`'],
    [code('organization.access_changed'), "an operator flips the organization's `apiAccessRevoked`; sent to the endpoints of both envs", '`{ env, organizationId, apiAccessRevoked }`'],
    [code(TEST_EVENT_TYPE), '`POST /v1/webhook-endpoints/{id}/test` only (nobody subscribes to it)', '`{ webhookEndpointId, env, message }`'],
  ],
)}`);

  sections.push(`## Test-mode keys

A key's \`env\` (\`live\` or \`test\`, in the key itself: \`lp_test_…\`) chooses one of two worlds of its organization
(SPEC 12). Everything a key makes carries its \`env\`, and a key reads, lists and changes only its own env's resources:
another env's id answers 404 \`NOT_FOUND\`, as a missing one. Usage, the request log and the audit log are per env. A
test key manages and creates test keys only. Test-mode jobs make no outbound call and charge nothing (\`creditsCharged: 0\`,
no \`INSUFFICIENT_CREDITS\`); their events go to test-mode endpoints only, and every event carries \`env\`. The plan gate,
switches, scopes, allowed addresses and rate limits apply to test keys unchanged.

Test-mode ingest answers from fixtures made from the input alone (the same input, the same result; \`result.testMode\`
is \`true\`; fixture URLs under \`${FIXTURE_ORIGIN}/\`, never fetched). An input containing \`fail\` ends \`failed\` with
\`UPSTREAM_NOT_FOUND\`; one containing \`slow\` runs ${TEST_MODE_SLOW_MS / 1000} s first, so a cancel finds it running.

${table(
  ['kind', 'what a test-mode job finds'],
  [
    [code('ingest_appstore'), 'one `appstore_ios` source per `iosBundleId`, one `appstore_android` per `androidPackageName`'],
    [code('ingest_website'), `up to ${FIXTURE_PAGES.length} \`website_page\` sources (the start URL, then ${FIXTURE_PAGES.slice(1).map((path) => code(`/${path}`)).join(' and ')}), at most \`maxPages\``],
    [code('ingest_github'), 'one `github_repo` source for `repo`'],
  ],
)}`);
  return `${sections.join('\n\n')}\n`;
}

/** The inputs, read from a running app the way a client would (the served document, the admin API's plans). */
export async function referenceInputsFrom(
  app: { inject: (options: { url: string; headers?: Record<string, string> }) => Promise<{ json: () => unknown }> },
  adminToken: string,
): Promise<ReferenceInputs> {
  const document = (await app.inject({ url: '/v1/openapi.json' })).json() as ReferenceInputs['document'];
  const plans = ((await app.inject({ url: '/admin/v1/plans', headers: { 'x-admin-token': adminToken } })).json() as { data: ReferenceInputs['plans'] }).data;
  return { document, plans };
}
