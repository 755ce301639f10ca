import { Type } from '@sinclair/typebox';
import { principalOf } from '../auth/pipeline.ts';
import { listWebhookDeliveries, listWebhookEndpoints } from './repository.ts';
import type { Deps } from '../deps.ts';
import { decodeCursor, pageOf } from '../http/pagination.ts';
import { IdParams, Page, PageQuery } from '../http/schemas.ts';
import type { App } from '../http/typed-app.ts';
import { NO_CONTENT, unitOfWork } from '../http/unit-of-work.ts';
import {
  CreatedWebhookEndpointSchema,
  NewWebhookEndpointBody,
  presentWebhookDelivery,
  presentWebhookEndpoint,
  TestOutcomeSchema,
  WebhookDeliverySchema,
  WebhookEndpointSchema,
} from './present.ts';
import { createWebhookEndpoint, recordTestPing, removeWebhookEndpoint, sendTestPing, webhookEndpointOf } from './service.ts';

const tags = ['webhooks'];
const byCreation = (row: { created_at: Date; id: string }) => ({ at: row.created_at, id: row.id });

/** SPEC 8.6. */
export function registerWebhookRoutes(app: App, deps: Deps): void {
  app.post(
    '/v1/webhook-endpoints',
    {
      config: { endpointClass: 'write-light', scope: 'webhooks:write', audit: 'webhook_endpoint.create' },
      schema: {
        summary: 'Create a webhook endpoint; the answer carries its signing secret, shown this once',
        tags,
        body: NewWebhookEndpointBody,
        response: { 201: CreatedWebhookEndpointSchema },
      },
    },
    async (request, reply) => {
      const tenant = principalOf(request);
      const { organizationId } = tenant;
      return unitOfWork(request, reply, async (unit) => {
        const { endpoint, secret } = await createWebhookEndpoint(unit.db, deps, tenant, request.body);
        unit.audit({ type: 'webhook_endpoint', id: endpoint.id, organizationId });
        return { status: 201, body: { ...presentWebhookEndpoint(endpoint), secret } };
      });
    },
  );

  app.get(
    '/v1/webhook-endpoints',
    {
      config: { endpointClass: 'read-light', scope: 'webhooks:read' },
      schema: { summary: "The organization's webhook endpoints, newest first", tags, querystring: PageQuery, response: { 200: Page(WebhookEndpointSchema) } },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      const rows = await listWebhookEndpoints(deps.store.db, principalOf(request), limit + 1, decodeCursor(cursor));
      return pageOf(rows, limit, byCreation, presentWebhookEndpoint);
    },
  );

  app.get(
    '/v1/webhook-endpoints/:id',
    {
      config: { endpointClass: 'read-light', scope: 'webhooks:read' },
      schema: { summary: 'A webhook endpoint, without its secret', tags, params: IdParams, response: { 200: WebhookEndpointSchema } },
    },
    async (request) => presentWebhookEndpoint(await webhookEndpointOf(deps.store.db, principalOf(request), request.params.id)),
  );

  app.delete(
    '/v1/webhook-endpoints/:id',
    {
      config: { endpointClass: 'write-light', scope: 'webhooks:write', audit: 'webhook_endpoint.delete' },
      schema: { summary: 'Delete a webhook endpoint and its delivery log; nothing more is sent to it', tags, params: IdParams, response: { 204: Type.Null() } },
    },
    async (request, reply) => {
      const { id } = request.params;
      const tenant = principalOf(request);
      const { organizationId } = tenant;
      return unitOfWork(request, reply, async (unit) => {
        unit.audit({ type: 'webhook_endpoint', id, organizationId });
        await removeWebhookEndpoint(unit.db, tenant, id);
        return NO_CONTENT;
      });
    },
  );

  app.post(
    '/v1/webhook-endpoints/:id/test',
    {
      config: { endpointClass: 'write-light', scope: 'webhooks:write', audit: 'webhook_endpoint.test' },
      schema: {
        summary: 'Send a signed test.ping now and report the outcome; a success re-enables a disabled endpoint',
        tags,
        params: IdParams,
        response: { 200: TestOutcomeSchema },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const tenant = principalOf(request);
      const { organizationId } = tenant;
      return unitOfWork(request, reply, {
        before: (unit) => {
          unit.audit({ type: 'webhook_endpoint', id, organizationId });
          return sendTestPing(deps, tenant, id);
        },
        run: async (unit, ping) => ({ body: await recordTestPing(unit.db, organizationId, ping) }),
      });
    },
  );

  app.get(
    '/v1/webhook-endpoints/:id/deliveries',
    {
      config: { endpointClass: 'read-light', scope: 'webhooks:read' },
      schema: {
        summary: "The endpoint's delivery log, newest first: attempts, status, last answer and next attempt",
        tags,
        params: IdParams,
        querystring: PageQuery,
        response: { 200: Page(WebhookDeliverySchema) },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      const endpoint = await webhookEndpointOf(deps.store.db, principalOf(request), request.params.id);
      const rows = await listWebhookDeliveries(deps.store.db, endpoint.id, limit + 1, decodeCursor(cursor));
      return pageOf(rows, limit, byCreation, presentWebhookDelivery);
    },
  );
}
