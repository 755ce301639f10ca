import { Type } from '@sinclair/typebox';
import type { Kysely } from 'kysely';
import { isRateLimitTier, RATE_LIMIT_TIER_PATTERN } from '../config.ts';
import type { Deps } from '../deps.ts';
import { findPlanByName, listPlans } from '../plans/repository.ts';
import { findOrganization, insertOrganization, listOrganizations, lockOrganization, updateOrganization } from './repository.ts';
import type { Database, Organization, OrganizationUpdate } from '../db/schema.ts';
import { ApiError, conflict, notFound } from '../http/errors.ts';
import { addCredits } from './credits-repository.ts';
import { decodeCursor, pageOf } from '../http/pagination.ts';
import { IdParams, Name, Page, PageQuery, Uuid } from '../http/schemas.ts';
import type { App } from '../http/typed-app.ts';
import { unitOfWork } from '../http/unit-of-work.ts';
import { emitOrganizationEvent } from '../webhooks/lifecycle-events.ts';

type Db = Kysely<Database>;

/** The largest balance an organization may hold (the column is a 32-bit integer). */
export const MAX_CREDIT_BALANCE = 2_000_000_000;
const CreditBalance = Type.Integer({ minimum: 0, maximum: MAX_CREDIT_BALANCE, description: 'An absolute balance; to add to it, POST …/credits' });

const Tier = Type.String({ maxLength: 32, pattern: RATE_LIMIT_TIER_PATTERN });

export const OrganizationSchema = Type.Object({
  id: Uuid,
  name: Type.String(),
  plan: Type.Union([Type.String(), Type.Null()]),
  rateLimitTier: Type.String(),
  creditBalance: Type.Integer(),
  apiAccessRevoked: Type.Boolean(),
  /** SPEC 7: credits.low is sent when the balance falls below this; null: never. */
  lowCreditThreshold: Type.Union([Type.Integer(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

const CreateBody = Type.Object(
  {
    name: Name,
    plan: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Null()])),
    rateLimitTier: Type.Optional(Tier),
    creditBalance: Type.Optional(CreditBalance),
  },
  { additionalProperties: false },
);

const PatchBody = Type.Object(
  {
    name: Type.Optional(Name),
    plan: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Null()])),
    rateLimitTier: Type.Optional(Tier),
    creditBalance: Type.Optional(CreditBalance),
    apiAccessRevoked: Type.Optional(Type.Boolean()),
    lowCreditThreshold: Type.Optional(
      Type.Union([Type.Integer({ minimum: 0, maximum: MAX_CREDIT_BALANCE }), Type.Null()], {
        description: 'credits.low is sent once each time the balance falls below this; null turns it off',
      }),
    ),
  },
  { additionalProperties: false },
);

const TopUpBody = Type.Object(
  { amount: Type.Integer({ minimum: 1, maximum: MAX_CREDIT_BALANCE, description: 'Credits to add to the balance' }) },
  { additionalProperties: false },
);

const TopUpSchema = Type.Object({
  organizationId: Uuid,
  added: Type.Integer(),
  creditBalanceBefore: Type.Integer(),
  creditBalance: Type.Integer(),
});

async function planIdFor(db: Db, plan: string | null | undefined): Promise<string | null | undefined> {
  if (plan === undefined || plan === null) return plan;
  const found = await findPlanByName(db, plan);
  if (!found) throw new ApiError('VALIDATION_FAILED', 'The request is not valid.', { issues: [{ path: 'body.plan', message: `no plan named ${plan}` }] });
  return found.id;
}

function checkTier(deps: Deps, tier: string | undefined): void {
  if (tier !== undefined && !isRateLimitTier(deps.config.rateLimits, tier)) {
    const known = Object.keys(deps.config.rateLimits).join(', ');
    throw new ApiError('VALIDATION_FAILED', 'The request is not valid.', { issues: [{ path: 'body.rateLimitTier', message: `must be one of ${known}` }] });
  }
}

export async function presentOrganizations(db: Db, rows: Organization[]) {
  const planNames = new Map((await listPlans(db)).map((plan) => [plan.id, plan.name]));
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    plan: row.plan_id ? (planNames.get(row.plan_id) ?? null) : null,
    rateLimitTier: row.rate_limit_tier,
    creditBalance: row.credit_balance,
    apiAccessRevoked: row.api_access_revoked,
    lowCreditThreshold: row.low_credit_threshold,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  }));
}

/** The audit entry's record of a change: each field the body named (they are named as presented), before and after. */
function changedFields<T extends Record<string, unknown>>(before: T, after: T, fields: string[]) {
  const names = fields.filter((field) => field in after);
  return {
    before: Object.fromEntries(names.map((name) => [name, before[name]])),
    after: Object.fromEntries(names.map((name) => [name, after[name]])),
  };
}

const presentOne = async (db: Db, row: Organization) => (await presentOrganizations(db, [row]))[0]!;

export function registerOrganizationRoutes(app: App, deps: Deps): void {
  const db = deps.store.db;
  app.post(
    '/organizations',
    { config: { audit: 'admin.organization.create' }, schema: { body: CreateBody, response: { 201: OrganizationSchema } } },
    async (request, reply) =>
      unitOfWork(request, reply, async (unit) => {
        const { body } = request;
        checkTier(deps, body.rateLimitTier);
        const row = await insertOrganization(unit.db, {
          name: body.name,
          plan_id: (await planIdFor(unit.db, body.plan)) ?? null,
          rate_limit_tier: body.rateLimitTier ?? 'standard',
          credit_balance: body.creditBalance ?? 0,
        });
        unit.audit({ type: 'organization', id: row.id, organizationId: row.id });
        return { status: 201, body: await presentOne(unit.db, row) };
      }),
  );

  app.get(
    '/organizations',
    { config: { audit: 'admin.organization.list' }, schema: { querystring: PageQuery, response: { 200: Page(OrganizationSchema) } } },
    async (request) => {
      const { limit, cursor } = request.query;
      const rows = await listOrganizations(db, limit + 1, decodeCursor(cursor));
      const page = pageOf(rows, limit, (row) => ({ at: row.created_at, id: row.id }), (row) => row);
      return { data: await presentOrganizations(db, page.data), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/organizations/:id',
    { config: { audit: 'admin.organization.read' }, schema: { params: IdParams, response: { 200: OrganizationSchema } } },
    async (request) => {
      const { id } = request.params;
      const row = await findOrganization(db, id);
      if (!row) throw notFound('Organization');
      request.auditTarget = { type: 'organization', id, organizationId: id };
      return presentOne(db, row);
    },
  );

  app.patch(
    '/organizations/:id',
    // SPEC 13.2: support turns an organization's API access off and on, and changes nothing else here.
    { config: { audit: 'admin.organization.update', operatorAccess: 'switch', supportFields: ['apiAccessRevoked'] }, schema: { params: IdParams, body: PatchBody, response: { 200: OrganizationSchema } } },
    async (request, reply) =>
      unitOfWork(request, reply, async (unit) => {
        const { id } = request.params;
        const { body } = request;
        unit.audit({ type: 'organization', id, organizationId: id });
        checkTier(deps, body.rateLimitTier);
        const changes: OrganizationUpdate = {};
        if (body.name !== undefined) changes.name = body.name;
        if (body.plan !== undefined) changes.plan_id = await planIdFor(unit.db, body.plan);
        if (body.rateLimitTier !== undefined) changes.rate_limit_tier = body.rateLimitTier;
        if (body.creditBalance !== undefined) changes.credit_balance = body.creditBalance;
        if (body.apiAccessRevoked !== undefined) changes.api_access_revoked = body.apiAccessRevoked;
        if (body.lowCreditThreshold !== undefined) changes.low_credit_threshold = body.lowCreditThreshold;
        // Locked, so the "before" of the audit entry is the row this change replaced.
        const before = await lockOrganization(unit.db, id);
        if (!before) throw notFound('Organization');
        const row = await updateOrganization(unit.db, id, changes);
        if (!row) throw notFound('Organization');
        // The row is locked above, so of two flips at once only one sees the other value before it.
        if (row.api_access_revoked !== before.api_access_revoked) {
          // Both envs: SPEC 12 applies the organization's switches to test keys as to live ones, so a test-mode
          // integration stops working too and its test-mode endpoints hear of it; each copy carries its own env.
          await emitOrganizationEvent(unit, 'organization.access_changed', id, ['live', 'test'], { apiAccessRevoked: row.api_access_revoked }, row.updated_at);
        }
        unit.afterCommit(() => deps.bus.publish({ kind: 'organization', organizationId: id }));
        const [was, is] = await presentOrganizations(unit.db, [before, row]);
        unit.audit({ type: 'organization', id, organizationId: id }, changedFields(was!, is!, Object.keys(body)));
        return { body: is! };
      }),
  );

  // A top-up is added in the database, never computed by the caller: two at once both count, and a balance read
  // a moment ago cannot be written back over a charge.
  app.post(
    '/organizations/:id/credits',
    { config: { audit: 'admin.organization.credits_add' }, schema: { params: IdParams, body: TopUpBody, response: { 200: TopUpSchema } } },
    async (request, reply) =>
      unitOfWork(request, reply, async (unit) => {
        const { id } = request.params;
        const { amount } = request.body;
        unit.audit({ type: 'organization', id, organizationId: id });
        const after = await addCredits(unit.db, id, amount, MAX_CREDIT_BALANCE);
        if (after === undefined) {
          if (!(await findOrganization(unit.db, id))) throw notFound('Organization');
          throw conflict('credit_balance_limit', `The balance may not exceed ${MAX_CREDIT_BALANCE} credits.`);
        }
        unit.afterCommit(() => deps.bus.publish({ kind: 'organization', organizationId: id }));
        unit.audit({ type: 'organization', id, organizationId: id }, { before: { creditBalance: after - amount }, after: { creditBalance: after }, added: amount });
        return { body: { organizationId: id, added: amount, creditBalanceBefore: after - amount, creditBalance: after } };
      }),
  );
}
