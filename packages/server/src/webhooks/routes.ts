import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { principalOf } from '../auth/pipeline.ts';
import { listWebhookDeliveries, listWebhookEndpoints } from '../db/repositories/webhooks.ts';
import type { Deps } from '../deps.ts';
import { decodeCursor, pageOf } from '../http/pagination.ts';
import { IdParams, Page, PageQuery } from '../http/schemas.ts';
import {
  CreatedWebhookEndpointSchema,
  NewWebhookEndpointBody,
  presentWebhookDelivery,
  presentWebhookEndpoint,
  TestOutcomeSchema,
  WebhookDeliverySchema,
  WebhookEndpointSchema,
} from './present.ts';
import { createWebhookEndpoint, removeWebhookEndpoint, testWebhookEndpoint, webhookEndpointOf } from './service.ts';

const tags = ['webhooks'];
const byCreation = (row: { created_at: Date; id: string }) => ({ at: row.created_at, id: row.id });

/** SPEC 8.6. */
export function registerWebhookRoutes(app: FastifyInstance, deps: Deps): void {
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
      const body = request.body as typeof NewWebhookEndpointBody.static;
      const { endpoint, secret } = await createWebhookEndpoint(deps, principalOf(request).organizationId, body);
      request.auditTarget = { type: 'webhook_endpoint', id: endpoint.id };
      return reply.code(201).send({ ...presentWebhookEndpoint(endpoint), secret });
    },
  );

  app.get(
    '/v1/webhook-endpoints',
    {
      config: { endpointClass: 'read-light', scope: 'webhooks:read' },
      schema: { summary: "The organization's webhook endpoints, newest first", tags, querystring: PageQuery, response: { 200: Page(WebhookEndpointSchema) } },
    },
    async (request) => {
      const query = request.query as typeof PageQuery.static;
      const rows = await listWebhookEndpoints(deps.store.db, principalOf(request).organizationId, query.limit + 1, decodeCursor(query.cursor));
      return pageOf(rows, query.limit, byCreation, presentWebhookEndpoint);
    },
  );

  app.get(
    '/v1/webhook-endpoints/:id',
    {
      config: { endpointClass: 'read-light', scope: 'webhooks:read' },
      schema: { summary: 'A webhook endpoint, without its secret', tags, params: IdParams, response: { 200: WebhookEndpointSchema } },
    },
    async (request) => {
      const { id } = request.params as typeof IdParams.static;
      return presentWebhookEndpoint(await webhookEndpointOf(deps, principalOf(request).organizationId, id));
    },
  );

  app.delete(
    '/v1/webhook-endpoints/:id',
    {
      config: { endpointClass: 'write-light', scope: 'webhooks:write', audit: 'webhook_endpoint.delete' },
      schema: { summary: 'Delete a webhook endpoint and its delivery log; nothing more is sent to it', tags, params: IdParams, response: { 204: Type.Null() } },
    },
    async (request, reply) => {
      const { id } = request.params as typeof IdParams.static;
      request.auditTarget = { type: 'webhook_endpoint', id };
      await removeWebhookEndpoint(deps, principalOf(request).organizationId, id);
      return reply.code(204).send();
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
    async (request) => {
      const { id } = request.params as typeof IdParams.static;
      request.auditTarget = { type: 'webhook_endpoint', id };
      return testWebhookEndpoint(deps, principalOf(request).organizationId, id);
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
      const { id } = request.params as typeof IdParams.static;
      const query = request.query as typeof PageQuery.static;
      const endpoint = await webhookEndpointOf(deps, principalOf(request).organizationId, id);
      const rows = await listWebhookDeliveries(deps.store.db, endpoint.id, query.limit + 1, decodeCursor(query.cursor));
      return pageOf(rows, query.limit, byCreation, presentWebhookDelivery);
    },
  );
}
