import { Type } from '@sinclair/typebox';
import { principalOf } from '../auth/pipeline.ts';
import { listWebhookDeliveries, listWebhookEndpoints } from './repository.ts';
import type { Deps } from '../deps.ts';
import { decodeCursor, pageOf } from '../http/pagination.ts';
import { IdParams, Page, PageQuery } from '../http/schemas.ts';
import type { App } from '../http/typed-app.ts';
import {
  CreatedWebhookEndpointSchema,
  NewWebhookEndpointBody,
  presentWebhookDelivery,
  presentWebhookEndpoint,
  TestOutcomeSchema,
  WebhookDeliverySchema,
  WebhookEndpointSchema,
} from './present.ts';
import { webhookEndpointOf } from './service.ts';
import { createEndpointUnit, removeEndpointUnit, testEndpointUnit } from './units.ts';

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
    async (request, reply) => createEndpointUnit(request, reply, deps, principalOf(request), request.body),
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
    async (request, reply) => removeEndpointUnit(request, reply, principalOf(request), request.params.id),
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
    async (request, reply) => testEndpointUnit(request, reply, deps, principalOf(request), request.params.id),
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
