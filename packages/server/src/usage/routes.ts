import { Type } from '@sinclair/typebox';

import { principalOf } from '../auth/pipeline.ts';
import type { Deps } from '../deps.ts';
import { sendJsonData } from '../http/json-text.ts';
import type { App } from '../http/typed-app.ts';
import { notFound } from '../http/errors.ts';
import { decodeCursor, pageOf } from '../http/pagination.ts';
import { Page } from '../http/schemas.ts';
import { listRequests, requestById } from './repository.ts';
import {
  AdminRequestLogRowSchema,
  AdminUsageQuery,
  AdminUsageRowSchema,
  REQUEST_ID_PATTERN,
  RequestIdParams,
  RequestLogRowSchema,
  RequestsQuery,
  UsageQuery,
  UsageRowSchema,
} from './schemas.ts';
import { adminUsage, organizationUsage, presentAdminRequestLogRow, presentRequestLogRow } from './service.ts';

const tags = ['usage'];
const byTime = (row: { occurred_at: Date; request_id: string }) => ({ at: row.occurred_at, id: row.request_id });

/** SPEC 8.7, the partner side: the caller's organization only. */
export function registerUsageRoutes(app: App, deps: Deps): void {
  app.get(
    '/v1/usage',
    {
      config: { endpointClass: 'read-light', scope: 'usage:read' },
      schema: {
        summary: "The organization's usage per key, endpoint class and minute, hour or day (at most 31 days per call), oldest first",
        tags,
        querystring: UsageQuery,
        response: { 200: Type.Object({ data: Type.Array(UsageRowSchema) }) },
      },
    },
    async (request, reply) => {
      // Each row is JSON text already (see usageRowsJson): sent as it is, not serialized again.
      const body = await organizationUsage(deps, principalOf(request), request.query);
      return sendJsonData(reply, body);
    },
  );

  app.get(
    '/v1/requests',
    {
      config: { endpointClass: 'read-light', scope: 'usage:read' },
      schema: { summary: "The organization's request log, newest first", tags, querystring: RequestsQuery, response: { 200: Page(RequestLogRowSchema) } },
    },
    async (request) => {
      const query = request.query;
      const rows = await listRequests(deps.store.db, principalOf(request), query, query.limit + 1, decodeCursor(query.cursor, REQUEST_ID_PATTERN));
      return pageOf(rows, query.limit, byTime, presentRequestLogRow);
    },
  );

  app.get(
    '/v1/requests/:requestId',
    {
      config: { endpointClass: 'read-light', scope: 'usage:read' },
      schema: { summary: 'One request of the log, by the X-Request-Id it was answered with', tags, params: RequestIdParams, response: { 200: RequestLogRowSchema } },
    },
    async (request) => {
      const { requestId } = request.params;
      const row = await requestById(deps.store.db, requestId, principalOf(request));
      if (!row) throw notFound('Request');
      return presentRequestLogRow(row);
    },
  );
}

/** SPEC 10.1: usage across organizations, and the support lookup of any request id. */
export function registerAdminUsageRoutes(app: App, deps: Deps): void {
  app.get(
    '/usage',
    {
      config: { audit: 'admin.usage.read' },
      schema: { querystring: AdminUsageQuery, response: { 200: Type.Object({ data: Type.Array(AdminUsageRowSchema) }) } },
    },
    async (request, reply) => {
      const body = await adminUsage(deps, request.query);
      return sendJsonData(reply, body);
    },
  );

  app.get(
    '/requests/:requestId',
    { config: { audit: 'admin.requests.read' }, schema: { params: RequestIdParams, response: { 200: AdminRequestLogRowSchema } } },
    async (request) => {
      const { requestId } = request.params;
      const row = await requestById(deps.store.db, requestId);
      if (!row) throw notFound('Request');
      return presentAdminRequestLogRow(row);
    },
  );
}
