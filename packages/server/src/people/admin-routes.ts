import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { Deps } from '../deps.ts';
import type { App } from '../http/typed-app.ts';
import { findOrganization } from '../organizations/repository.ts';
import { notFound } from '../http/errors.ts';
import { NO_CONTENT, unitOfWork } from '../http/unit-of-work.ts';
import { IdParams, Uuid } from '../http/schemas.ts';
import { invite } from './links.ts';
import { EmailSchema, IssuedLinkSchema, OperatorRoleSchema, PartnerRoleSchema, PersonSchema, TeamSchema } from './schemas.ts';
import { changeRole, listTeam, removePerson, withdrawInvitation } from './team.ts';
import { normalizeEmail } from './sign-in.ts';

const PartnerInvitationBody = Type.Object({ email: EmailSchema, role: PartnerRoleSchema }, { additionalProperties: false });
const OperatorBody = Type.Object({ email: EmailSchema, role: OperatorRoleSchema }, { additionalProperties: false });
const OperatorRoleBody = Type.Object({ role: OperatorRoleSchema }, { additionalProperties: false });

/** Who made something, for links and audit: the signed-in person on the console, else the admin token. */
export const actorOf = (request: FastifyRequest): string => (request.person ? `person:${request.person.id}` : (request.adminActor ?? 'admin'));

/**
 * SPEC 10.1's invitation and operator rows, mounted with the rest of the admin API (under /admin/v1 for the admin
 * token and /console/api/ops for operators signed in to the console).
 */
export function registerPeopleAdminRoutes(app: App, deps: Deps): void {
  app.post(
    '/organizations/:id/invitations',
    { config: { audit: 'admin.invitation.create' }, schema: { params: IdParams, body: PartnerInvitationBody, response: { 201: IssuedLinkSchema } } },
    async (request, reply) => {
      const { id } = request.params;
      const body = request.body;
      return unitOfWork(request, reply, async (unit) => {
        const organization = await findOrganization(unit.db, id);
        if (!organization) throw notFound('Organization');
        const issued = await invite(deps, unit.db, {
          email: normalizeEmail(body.email),
          kind: 'partner',
          organizationId: id,
          organizationName: organization.name,
          role: body.role,
          createdBy: actorOf(request),
        });
        unit.audit({ type: 'invitation', id: issued.id, organizationId: id });
        return { status: 201, body: issued };
      });
    },
  );

  app.get(
    '/organizations/:id/people',
    { config: { audit: 'admin.people.list' }, schema: { params: IdParams, response: { 200: TeamSchema } } },
    async (request) => {
      const { id } = request.params;
      if (!(await findOrganization(deps.store.db, id))) throw notFound('Organization');
      request.auditTarget = { type: 'organization', id, organizationId: id };
      return listTeam(deps, id);
    },
  );

  app.get('/operators', { config: { audit: 'admin.operator.list' }, schema: { response: { 200: TeamSchema } } }, async () => listTeam(deps, null));

  app.post(
    '/operators',
    { config: { audit: 'admin.operator.invite' }, schema: { body: OperatorBody, response: { 201: IssuedLinkSchema } } },
    async (request, reply) => {
      const body = request.body;
      return unitOfWork(request, reply, async (unit) => {
        const issued = await invite(deps, unit.db, { email: normalizeEmail(body.email), kind: 'operator', organizationId: null, role: body.role, createdBy: actorOf(request) });
        unit.audit({ type: 'invitation', id: issued.id });
        return { status: 201, body: issued };
      });
    },
  );

  app.patch(
    '/operators/:id',
    { config: { audit: 'admin.operator.update' }, schema: { params: IdParams, body: OperatorRoleBody, response: { 200: PersonSchema } } },
    async (request, reply) => {
      const { id } = request.params;
      return unitOfWork(request, reply, async (unit) => {
        unit.audit({ type: 'person', id });
        return { body: await changeRole(unit.db, null, id, request.body.role) };
      });
    },
  );

  app.delete(
    '/operators/:id',
    { config: { audit: 'admin.operator.remove' }, schema: { params: IdParams, response: { 204: Type.Null() } } },
    async (request, reply) => {
      const { id } = request.params;
      return unitOfWork(request, reply, async (unit) => {
        unit.audit({ type: 'person', id });
        await removePerson(unit.db, null, id);
        return NO_CONTENT;
      });
    },
  );

  app.delete(
    '/operators/invitations/:id',
    { config: { audit: 'admin.operator.invitation.withdraw' }, schema: { params: Type.Object({ id: Uuid }), response: { 204: Type.Null() } } },
    async (request, reply) => {
      const { id } = request.params;
      return unitOfWork(request, reply, async (unit) => {
        unit.audit({ type: 'invitation', id });
        await withdrawInvitation(unit.db, new Date(deps.now()), null, id);
        return NO_CONTENT;
      });
    },
  );
}
