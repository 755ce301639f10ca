import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Deps } from '../deps.ts';
import { CONSOLE_API } from '../people/console-auth.ts';
import { worldOf } from '../people/console-partner-routes.ts';
import { ENDPOINT_CLASSES } from '../config.ts';
import { StringEnum } from '../http/schemas.ts';
import { usageSeries, usageTopKeys } from './repository.ts';
import { AdminUsageQuery, UsageQuery } from './schemas.ts';
import { usageRange } from './service.ts';

const TOP_KEYS = 100;
const counts = {
  requests: Type.Integer(),
  status2xx: Type.Integer(),
  status4xx: Type.Integer(),
  status5xx: Type.Integer(),
  rateLimited: Type.Integer(),
  creditsCharged: Type.Integer(),
};
const SeriesRow = Type.Object({ time: Type.String({ format: 'date-time' }), ...counts });
const KeyRow = Type.Object({ organizationId: Type.String(), apiKeyId: Type.String(), endpointClass: Type.Optional(StringEnum(ENDPOINT_CLASSES)), ...counts });
const SummarySchema = Type.Object({
  /** One row per bucket of the range, every key and class summed: what the charts draw. */
  series: Type.Array(SeriesRow),
  /** The range summed per key and class, the 100 largest by requests. */
  byKey: Type.Array(KeyRow),
});
const TopKeysSchema = Type.Object({ byRequests: Type.Array(KeyRow), byRateLimited: Type.Array(KeyRow) });

/**
 * The console's usage pages (SPEC 14): sums the store makes, so a page does not download a row per key and hour
 * to add them up itself (with 1,000 keys in use, the 24-hour answer per key is 24,000 rows, several megabytes).
 */
export function registerConsoleUsageRoutes(app: FastifyInstance, deps: Deps): void {
  app.get(
    `${CONSOLE_API}/org/usage/summary`,
    {
      config: { console: { who: 'partner', may: 'read' } },
      schema: { summary: 'Usage summed per bucket (for charts) and per key and class (the 100 largest)', tags: ['usage'], querystring: UsageQuery, response: { 200: SummarySchema } },
    },
    async (request) => {
      const params = request.query as typeof UsageQuery.static;
      const query = { ...params, ...usageRange(params, deps.now()), ...worldOf(request) };
      const [series, byKey] = await Promise.all([usageSeries(deps.store.db, query), usageTopKeys(deps.store.db, query, 'requests', TOP_KEYS, true)]);
      return { series, byKey };
    },
  );

  app.get(
    `${CONSOLE_API}/ops/usage/top-keys`,
    {
      config: { console: { who: 'operator', may: 'read' } },
      schema: {
        summary: 'Across organizations (or in one): the 100 keys with the most requests and the 100 with the most 429s',
        tags: ['usage'],
        querystring: AdminUsageQuery,
        response: { 200: TopKeysSchema },
      },
    },
    async (request) => {
      const params = request.query as typeof AdminUsageQuery.static;
      const query = { ...params, ...usageRange(params, deps.now()) };
      const [byRequests, byRateLimited] = await Promise.all([usageTopKeys(deps.store.db, query, 'requests', TOP_KEYS, false), usageTopKeys(deps.store.db, query, 'rateLimited', TOP_KEYS, false)]);
      return { byRequests, byRateLimited };
    },
  );
}
