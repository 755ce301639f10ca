import type { Tenant } from '../db/schema.ts';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { AuditEntrySchema, presentAuditEntry } from '../audit/admin-routes.ts';
import { OrganizationSchema, presentOrganizations } from '../organizations/admin-routes.ts';
import type { Deps } from '../deps.ts';
import { sendJsonData } from '../http/json-text.ts';
import { listOrganizationApiKeys } from '../keys/repository.ts';
import { listAuditEntries } from '../audit/repository.ts';
import { findOrganization } from '../organizations/repository.ts';
import { listWebhookDeliveries, listWebhookEndpoints } from '../webhooks/repository.ts';
import { RollBody, RolledApiKeySchema } from '../keys/routes.ts';
import { conflict, notFound } from '../http/errors.ts';
import { decodeCursor, pageOf } from '../http/pagination.ts';
import { ApiKeySchema, CreatedApiKeySchema, IdParams, NewKeyBody, Page, PageQuery } from '../http/schemas.ts';
import { presentApiKey } from '../keys/present.ts';
import { changeApiKey, DEFAULT_ROLL_OVERLAP_SECONDS } from '../keys/service.ts';
import { issueKeyUnit, rollKeyUnit } from '../keys/units.ts';
import { createEndpointUnit, removeEndpointUnit, testEndpointUnit } from '../webhooks/units.ts';
import { NO_CONTENT, unitOfWork } from '../http/unit-of-work.ts';
import type { App } from '../http/typed-app.ts';
import {
  CreatedWebhookEndpointSchema,
  NewWebhookEndpointBody,
  presentWebhookDelivery,
  presentWebhookEndpoint,
  TestOutcomeSchema,
  WebhookDeliverySchema,
  WebhookEndpointSchema,
} from '../webhooks/present.ts';
import { webhookEndpointOf } from '../webhooks/service.ts';
import { PartnerAuditQuery } from '../audit/routes.ts';
import { listRequests, requestById } from '../usage/repository.ts';
import { REQUEST_ID_PATTERN, RequestIdParams, RequestLogRowSchema, RequestsQuery, UsageQuery, UsageRowSchema } from '../usage/schemas.ts';
import { organizationUsage, presentRequestLogRow } from '../usage/service.ts';
import { actorOf } from './admin-routes.ts';
import { CONSOLE_API } from './console-auth.ts';
import { invite, issueReset } from './links.ts';
import { findPersonIn, setRequireSecondFactor } from './repository.ts';
import type { ConsoleAccess } from './roles.ts';
import { EmailSchema, IssuedLinkSchema, PartnerRoleSchema, PersonSchema, TeamSchema } from './schemas.ts';
import { normalizeEmail } from './sign-in.ts';
import { changeRole, listTeam, removePerson, withdrawInvitation } from './team.ts';

const reads: { console: ConsoleAccess } = { console: { who: 'partner', may: 'read' } };
const writes: { console: ConsoleAccess } = { console: { who: 'partner', may: 'write' } };
const team: { console: ConsoleAccess } = { console: { who: 'partner', may: 'team' } };

const InvitationBody = Type.Object({ email: EmailSchema, role: PartnerRoleSchema }, { additionalProperties: false });
const RoleBody = Type.Object({ role: PartnerRoleSchema }, { additionalProperties: false });
const byCreation = (row: { created_at: Date; id: string }) => ({ at: row.created_at, id: row.id });

/** The signed-in partner user's organization: every partner route acts on it and nothing else. */
function organizationOf(request: FastifyRequest): string {
  const organizationId = request.person?.organization_id;
  if (!organizationId) throw new Error('partner route reached without a partner user');
  return organizationId;
}

/** The console's Test mode switch (SPEC 14) sends this header on every call; without it, the live world. */
export const CONSOLE_WORLD_HEADER = 'x-console-world';

/** The world (SPEC 12) the console's resource pages show: the test one while the Test mode switch is on. */
export function worldOf(request: FastifyRequest): Tenant {
  return { organizationId: organizationOf(request), env: request.headers[CONSOLE_WORLD_HEADER] === 'test' ? 'test' : 'live' };
}

/**
 * SPEC 14's partner pages, on the services the partner API (/v1) uses: the same key, webhook and audit rules, with
 * the signed-in person's role (SPEC 13.1) in place of a key's scopes. A developer has full organization access,
 * as a key without scopes does.
 */
export function registerConsolePartnerRoutes(app: App, deps: Deps): void {
  const prefix = deps.config.keyPrefix;
  const api = `${CONSOLE_API}/org`;

  app.get(
    `${api}`,
    { config: reads, schema: { summary: 'The organization: plan, tier, credits, switches', tags: ['organization'], response: { 200: Type.Intersect([OrganizationSchema, Type.Object({ requireSecondFactor: Type.Boolean() })]) } } },
    async (request) => {
      const organization = await findOrganization(deps.store.db, organizationOf(request));
      if (!organization) throw notFound('Organization');
      return { ...(await presentOrganizations(deps.store.db, [organization]))[0]!, requireSecondFactor: organization.require_second_factor };
    },
  );

  // Keys (SPEC 8.5): the partner API's services and units of work; a person's role stands in for a key's scopes,
  // and a developer holds full organization access, as a key without scopes does. -------------------------------
  app.get(`${api}/keys`, { config: reads, schema: { tags: ['keys'], querystring: PageQuery, response: { 200: Page(ApiKeySchema) } } }, async (request) => {
    const { limit, cursor } = request.query;
    const rows = await listOrganizationApiKeys(deps.store.db, organizationOf(request), limit + 1, decodeCursor(cursor));
    return pageOf(rows, limit, byCreation, (row) => presentApiKey(row, prefix));
  });

  app.post(
    `${api}/keys`,
    { config: { ...writes, audit: 'key.create' }, schema: { summary: 'Create a key (the plain key is in this answer only)', tags: ['keys'], body: NewKeyBody, response: { 201: CreatedApiKeySchema } } },
    async (request, reply) => {
      const organizationId = organizationOf(request);
      return issueKeyUnit(request, reply, deps, () => ({ ...request.body, organizationId, holderScopes: [] }));
    },
  );

  app.post(
    `${api}/keys/:id/roll`,
    {
      config: { ...writes, audit: 'key.roll' },
      schema: { tags: ['keys'], params: IdParams, body: RollBody, response: { 201: RolledApiKeySchema } },
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request, reply) => {
      const organizationId = organizationOf(request);
      const { id } = request.params;
      return rollKeyUnit(request, reply, deps, { organizationId, id, overlapSeconds: request.body.overlapSeconds ?? DEFAULT_ROLL_OVERLAP_SECONDS, holderScopes: [] });
    },
  );

  for (const [path, method, action, change] of [
    ['/kill', 'POST', 'key.kill', { kind: 'kill', on: true }],
    ['', 'DELETE', 'key.revoke', { kind: 'revoke' }],
  ] as const) {
    app.route({
      method,
      url: `${api}/keys/:id${path}`,
      config: { ...writes, audit: action },
      schema: { tags: ['keys'], params: IdParams, response: { 200: ApiKeySchema } },
      handler: async (request, reply) => {
        const organizationId = organizationOf(request);
        const { id } = request.params;
        return unitOfWork(request, reply, async (unit) => {
          unit.audit({ type: 'api_key', id, organizationId });
          return { body: presentApiKey(await changeApiKey(unit, deps, { id, organizationId }, change), prefix) };
        });
      },
    });
  }

  // Webhooks (SPEC 8.6), on the webhook feature's services and units of work ------------------------------------------
  app.get(`${api}/webhook-endpoints`, { config: reads, schema: { tags: ['webhooks'], querystring: PageQuery, response: { 200: Page(WebhookEndpointSchema) } } }, async (request) => {
    const { limit, cursor } = request.query;
    const rows = await listWebhookEndpoints(deps.store.db, worldOf(request), limit + 1, decodeCursor(cursor));
    return pageOf(rows, limit, byCreation, presentWebhookEndpoint);
  });

  app.post(
    `${api}/webhook-endpoints`,
    { config: { ...writes, audit: 'webhook_endpoint.create' }, schema: { tags: ['webhooks'], body: NewWebhookEndpointBody, response: { 201: CreatedWebhookEndpointSchema } } },
    async (request, reply) => createEndpointUnit(request, reply, deps, worldOf(request), request.body),
  );

  app.delete(
    `${api}/webhook-endpoints/:id`,
    { config: { ...writes, audit: 'webhook_endpoint.delete' }, schema: { tags: ['webhooks'], params: IdParams, response: { 204: Type.Null() } } },
    async (request, reply) => removeEndpointUnit(request, reply, worldOf(request), request.params.id),
  );

  app.post(
    `${api}/webhook-endpoints/:id/test`,
    { config: { ...writes, audit: 'webhook_endpoint.test' }, schema: { tags: ['webhooks'], params: IdParams, response: { 200: TestOutcomeSchema } } },
    async (request, reply) => testEndpointUnit(request, reply, deps, worldOf(request), request.params.id),
  );

  app.get(
    `${api}/webhook-endpoints/:id/deliveries`,
    { config: reads, schema: { tags: ['webhooks'], params: IdParams, querystring: PageQuery, response: { 200: Page(WebhookDeliverySchema) } } },
    async (request) => {
      const { limit, cursor } = request.query;
      const endpoint = await webhookEndpointOf(deps.store.db, worldOf(request), request.params.id);
      const rows = await listWebhookDeliveries(deps.store.db, endpoint.id, limit + 1, decodeCursor(cursor));
      return pageOf(rows, limit, byCreation, presentWebhookDelivery);
    },
  );

  // Audit (SPEC 8.8) ------------------------------------------------------------------------------------------------
  app.get(`${api}/audit`, { config: reads, schema: { tags: ['audit'], querystring: PartnerAuditQuery, response: { 200: Page(AuditEntrySchema) } } }, async (request) => {
    const query = request.query;
    const rows = await listAuditEntries(deps.store.db, { ...query, organizationId: organizationOf(request) }, query.limit + 1, decodeCursor(query.cursor));
    return pageOf(rows, query.limit, (row) => ({ at: row.occurred_at, id: row.id }), presentAuditEntry);
  });

  // Usage and the request log (SPEC 8.7), on the usage feature's own queries ----------------------------------------
  app.get(
    `${api}/usage`,
    { config: reads, schema: { tags: ['usage'], querystring: UsageQuery, response: { 200: Type.Object({ data: Type.Array(UsageRowSchema) }) } } },
    // The usage feature answers with the rows' JSON the store built; they are sent as they are, as /v1/usage sends them.
    async (request, reply) =>
      sendJsonData(reply, await organizationUsage(deps, worldOf(request), request.query)),
  );

  app.get(`${api}/requests`, { config: reads, schema: { tags: ['usage'], querystring: RequestsQuery, response: { 200: Page(RequestLogRowSchema) } } }, async (request) => {
    const query = request.query;
    const rows = await listRequests(deps.store.db, worldOf(request), query, query.limit + 1, decodeCursor(query.cursor, REQUEST_ID_PATTERN));
    return pageOf(rows, query.limit, (row) => ({ at: row.occurred_at, id: row.request_id }), presentRequestLogRow);
  });

  app.get(
    `${api}/requests/:requestId`,
    { config: reads, schema: { tags: ['usage'], params: RequestIdParams, response: { 200: RequestLogRowSchema } } },
    async (request) => {
      const { requestId } = request.params;
      const row = await requestById(deps.store.db, requestId, worldOf(request));
      if (!row) throw notFound('Request');
      return presentRequestLogRow(row);
    },
  );

  // Team (SPEC 13.1) ------------------------------------------------------------------------------------------------
  app.get(`${api}/team`, { config: reads, schema: { tags: ['team'], response: { 200: TeamSchema } } }, async (request) => listTeam(deps, organizationOf(request)));

  app.post(
    `${api}/team/invitations`,
    { config: { ...team, audit: 'team.invite' }, schema: { tags: ['team'], body: InvitationBody, response: { 201: IssuedLinkSchema } } },
    async (request, reply) => {
      const organizationId = organizationOf(request);
      const body = request.body;
      return unitOfWork(request, reply, async (unit) => {
        const organization = await findOrganization(unit.db, organizationId);
        const issued = await invite(deps, unit.db, {
          email: normalizeEmail(body.email),
          kind: 'partner',
          organizationId,
          organizationName: organization?.name ?? 'your organization',
          role: body.role,
          createdBy: actorOf(request),
        });
        unit.audit({ type: 'invitation', id: issued.id, organizationId });
        return { status: 201, body: issued };
      });
    },
  );

  app.delete(
    `${api}/team/invitations/:id`,
    { config: { ...team, audit: 'team.invitation.withdraw' }, schema: { tags: ['team'], params: IdParams, response: { 204: Type.Null() } } },
    async (request, reply) => {
      const { id } = request.params;
      return unitOfWork(request, reply, async (unit) => {
        unit.audit({ type: 'invitation', id });
        await withdrawInvitation(unit.db, new Date(deps.now()), organizationOf(request), id);
        return NO_CONTENT;
      });
    },
  );

  app.patch(
    `${api}/team/members/:id`,
    { config: { ...team, audit: 'team.role.change' }, schema: { tags: ['team'], params: IdParams, body: RoleBody, response: { 200: PersonSchema } } },
    async (request, reply) => {
      const { id } = request.params;
      return unitOfWork(request, reply, async (unit) => {
        unit.audit({ type: 'person', id });
        return { body: await changeRole(unit.db, organizationOf(request), id, request.body.role) };
      });
    },
  );

  app.delete(
    `${api}/team/members/:id`,
    { config: { ...team, audit: 'team.remove' }, schema: { tags: ['team'], params: IdParams, response: { 204: Type.Null() } } },
    async (request, reply) => {
      const { id } = request.params;
      return unitOfWork(request, reply, async (unit) => {
        unit.audit({ type: 'person', id });
        await removePerson(unit.db, organizationOf(request), id);
        return NO_CONTENT;
      });
    },
  );

  app.post(
    `${api}/team/members/:id/password-reset`,
    { config: { ...team, audit: 'team.password_reset' }, schema: { tags: ['team'], params: IdParams, response: { 201: IssuedLinkSchema } } },
    async (request, reply) => {
      const { id } = request.params;
      return unitOfWork(request, reply, async (unit) => {
        unit.audit({ type: 'person', id });
        const member = await findPersonIn(unit.db, organizationOf(request), id);
        if (!member) throw notFound('Person');
        return { status: 201, body: await issueReset(deps, unit.db, member, actorOf(request)) };
      });
    },
  );

  app.put(
    `${api}/team/second-factor`,
    {
      config: { ...team, audit: 'team.second_factor.require' },
      schema: { summary: 'Require a second factor of every team member', tags: ['team'], body: Type.Object({ required: Type.Boolean() }, { additionalProperties: false }), response: { 200: Type.Object({ required: Type.Boolean() }) } },
    },
    async (request, reply) => {
      const { required } = request.body;
      const organizationId = organizationOf(request);
      return unitOfWork(request, reply, async (unit) => {
        unit.audit({ type: 'organization', id: organizationId, organizationId });
        if (required && !request.person?.totp_enabled) throw conflict('second_factor_missing', 'Turn on your own second factor before requiring one of the team.');
        await setRequireSecondFactor(unit.db, organizationId, required);
        return { body: { required } };
      });
    },
  );
}
