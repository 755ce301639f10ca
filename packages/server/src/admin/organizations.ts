import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Deps } from '../deps.ts';
import { findPlanByName, listPlans } from '../db/repositories/plans.ts';
import { findOrganization, insertOrganization, listOrganizations, updateOrganization } from '../db/repositories/organizations.ts';
import type { Organization, OrganizationUpdate } from '../db/schema.ts';
import { ApiError, notFound } from '../http/errors.ts';
import { decodeCursor, pageOf } from '../http/pagination.ts';
import { IdParams, Name, Page, PageQuery, Uuid } from '../http/schemas.ts';

const Tier = Type.String({ pattern: '^[a-z][a-z0-9_-]{0,31}$' });

export const OrganizationSchema = Type.Object({
  id: Uuid,
  name: Type.String(),
  plan: Type.Union([Type.String(), Type.Null()]),
  rateLimitTier: Type.String(),
  creditBalance: Type.Integer(),
  apiAccessRevoked: Type.Boolean(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

const CreateBody = Type.Object(
  {
    name: Name,
    plan: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Null()])),
    rateLimitTier: Type.Optional(Tier),
    creditBalance: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_000_000_000 })),
  },
  { additionalProperties: false },
);

const PatchBody = Type.Object(
  {
    name: Type.Optional(Name),
    plan: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Null()])),
    rateLimitTier: Type.Optional(Tier),
    creditBalance: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_000_000_000 })),
    apiAccessRevoked: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

async function planIdFor(deps: Deps, plan: string | null | undefined): Promise<string | null | undefined> {
  if (plan === undefined || plan === null) return plan;
  const found = await findPlanByName(deps.store.db, plan);
  if (!found) throw new ApiError('VALIDATION_FAILED', 'The request is not valid.', { issues: [{ path: 'body.plan', message: `no plan named ${plan}` }] });
  return found.id;
}

function checkTier(deps: Deps, tier: string | undefined): void {
  if (tier !== undefined && !deps.config.rateLimits[tier]) {
    const known = Object.keys(deps.config.rateLimits).join(', ');
    throw new ApiError('VALIDATION_FAILED', 'The request is not valid.', { issues: [{ path: 'body.rateLimitTier', message: `must be one of ${known}` }] });
  }
}

export async function presentOrganizations(deps: Deps, rows: Organization[]) {
  const planNames = new Map((await listPlans(deps.store.db)).map((plan) => [plan.id, plan.name]));
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    plan: row.plan_id ? (planNames.get(row.plan_id) ?? null) : null,
    rateLimitTier: row.rate_limit_tier,
    creditBalance: row.credit_balance,
    apiAccessRevoked: row.api_access_revoked,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  }));
}

const presentOne = async (deps: Deps, row: Organization) => (await presentOrganizations(deps, [row]))[0]!;

export function registerOrganizationRoutes(app: FastifyInstance, deps: Deps): void {
  app.post(
    '/admin/v1/organizations',
    { config: { audit: 'admin.organization.create' }, schema: { body: CreateBody, response: { 201: OrganizationSchema } } },
    async (request, reply) => {
      const body = request.body as typeof CreateBody.static;
      checkTier(deps, body.rateLimitTier);
      const row = await insertOrganization(deps.store.db, {
        name: body.name,
        plan_id: (await planIdFor(deps, body.plan)) ?? null,
        rate_limit_tier: body.rateLimitTier ?? 'standard',
        credit_balance: body.creditBalance ?? 0,
      });
      request.auditTarget = { type: 'organization', id: row.id, organizationId: row.id };
      return reply.code(201).send(await presentOne(deps, row));
    },
  );

  app.get(
    '/admin/v1/organizations',
    { config: { audit: 'admin.organization.list' }, schema: { querystring: PageQuery, response: { 200: Page(OrganizationSchema) } } },
    async (request) => {
      const query = request.query as typeof PageQuery.static;
      const after = decodeCursor(query.cursor);
      const rows = await listOrganizations(deps.store.db, query.limit + 1, after);
      const page = pageOf(rows, query.limit, (row) => ({ at: row.created_at, id: row.id }), (row) => row);
      return { data: await presentOrganizations(deps, page.data), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/admin/v1/organizations/:id',
    { config: { audit: 'admin.organization.read' }, schema: { params: IdParams, response: { 200: OrganizationSchema } } },
    async (request) => {
      const { id } = request.params as typeof IdParams.static;
      const row = await findOrganization(deps.store.db, id);
      if (!row) throw notFound('Organization');
      request.auditTarget = { type: 'organization', id, organizationId: id };
      return presentOne(deps, row);
    },
  );

  app.patch(
    '/admin/v1/organizations/:id',
    { config: { audit: 'admin.organization.update' }, schema: { params: IdParams, body: PatchBody, response: { 200: OrganizationSchema } } },
    async (request) => {
      const { id } = request.params as typeof IdParams.static;
      const body = request.body as typeof PatchBody.static;
      checkTier(deps, body.rateLimitTier);
      const changes: OrganizationUpdate = {};
      if (body.name !== undefined) changes.name = body.name;
      if (body.plan !== undefined) changes.plan_id = await planIdFor(deps, body.plan);
      if (body.rateLimitTier !== undefined) changes.rate_limit_tier = body.rateLimitTier;
      if (body.creditBalance !== undefined) changes.credit_balance = body.creditBalance;
      if (body.apiAccessRevoked !== undefined) changes.api_access_revoked = body.apiAccessRevoked;
      request.auditTarget = { type: 'organization', id, organizationId: id };
      const row = await updateOrganization(deps.store.db, id, changes);
      if (!row) throw notFound('Organization');
      await deps.bus.publish({ kind: 'organization', organizationId: id });
      return presentOne(deps, row);
    },
  );
}
