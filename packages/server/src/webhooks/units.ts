import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Tenant } from '../db/schema.ts';
import type { WebhookEventType } from './events.ts';
import type { Deps } from '../deps.ts';
import { NO_CONTENT, unitOfWork } from '../http/unit-of-work.ts';
import { presentWebhookEndpoint } from './present.ts';
import { createWebhookEndpoint, recordTestPing, removeWebhookEndpoint, sendTestPing } from './service.ts';

/*
 * The units of work behind the webhook endpoint routes, one body for /v1 and the console: each surface finds the
 * tenant (a key's organization and env, or the signed-in person's organization and the console's world) and calls these.
 */

export function createEndpointUnit(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: Deps,
  tenant: Tenant,
  body: { url: string; events: WebhookEventType[] },
): Promise<FastifyReply> {
  return unitOfWork(request, reply, async (unit) => {
    const { endpoint, secret } = await createWebhookEndpoint(unit.db, deps, tenant, body);
    unit.audit({ type: 'webhook_endpoint', id: endpoint.id, organizationId: tenant.organizationId });
    return { status: 201, body: { ...presentWebhookEndpoint(endpoint), secret } };
  });
}

export function removeEndpointUnit(request: FastifyRequest, reply: FastifyReply, tenant: Tenant, id: string): Promise<FastifyReply> {
  return unitOfWork(request, reply, async (unit) => {
    unit.audit({ type: 'webhook_endpoint', id, organizationId: tenant.organizationId });
    await removeWebhookEndpoint(unit.db, tenant, id);
    return NO_CONTENT;
  });
}

/** The ping goes out before the transaction (no outbound call inside one); its outcome is recorded inside it. */
export function testEndpointUnit(request: FastifyRequest, reply: FastifyReply, deps: Deps, tenant: Tenant, id: string): Promise<FastifyReply> {
  return unitOfWork(request, reply, {
    before: (unit) => {
      unit.audit({ type: 'webhook_endpoint', id, organizationId: tenant.organizationId });
      return sendTestPing(deps, tenant, id);
    },
    run: async (unit, ping) => ({ body: await recordTestPing(unit.db, tenant.organizationId, ping) }),
  });
}
