import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { adminTokenChecker } from '../admin/admin-auth.ts';
import type { Deps } from '../deps.ts';
import type { App } from '../http/typed-app.ts';
import { findOrganization } from '../organizations/repository.ts';
import { presentOrganizations } from '../organizations/admin-routes.ts';
import { presentedCredential } from '../http/credentials.ts';
import { ApiError, conflict, notFound } from '../http/errors.ts';
import { IdParams } from '../http/schemas.ts';
import { NO_CONTENT, unitOfWork } from '../http/unit-of-work.ts';
import { beginTotp, disableTotp, enableTotp, prepareNewPassword, requirePassword, storeNewPassword } from './account.ts';
import { CONSOLE_API } from './console-auth.ts';
import { acceptInvitation, checkPassword, completeReset, issueReset, type NewPassword } from './links.ts';
import { anyOperatorExists, deleteSession, lockFirstOperator, findPersonByEmail, insertPerson, listSessions } from './repository.ts';
import type { ConsoleAccess } from './roles.ts';
import { EmailSchema, LinkTokenSchema, PasswordSchema, PersonSchema, RecoveryCodeSchema, TotpCodeSchema } from './schemas.ts';
import type { SessionSigner } from './session-signing.ts';
import { endSessionOfToken, sessionCutoffs, setSessionCookie, type SignedIn } from './sessions.ts';
import { checkSignIn, normalizeEmail, startSignedInSession } from './sign-in.ts';
import { presentPerson } from './team.ts';

const anyone: { console: ConsoleAccess } = { console: { who: 'anyone' } };
const person: { console: ConsoleAccess } = { console: { who: 'person' } };
const tags = ['account'];

const SignInBody = Type.Object(
  { email: EmailSchema, password: PasswordSchema, totpCode: Type.Optional(TotpCodeSchema), recoveryCode: Type.Optional(RecoveryCodeSchema) },
  { additionalProperties: false },
);
const SessionSchema = Type.Object({
  person: PersonSchema,
  organization: Type.Union([Type.Object({ id: Type.String(), name: Type.String(), plan: Type.Union([Type.String(), Type.Null()]), requireSecondFactor: Type.Boolean() }), Type.Null()]),
  /** Send it as X-CSRF-Token with every state-changing request of this session. */
  csrfToken: Type.String(),
  sessionId: Type.String(),
  /** The organization requires a second factor and this person has none yet: only Account works until they do. */
  secondFactorRequired: Type.Boolean(),
});
const SessionListSchema = Type.Object({
  data: Type.Array(
    Type.Object({
      id: Type.String(),
      createdAt: Type.String({ format: 'date-time' }),
      lastSeenAt: Type.String({ format: 'date-time' }),
      expiresAt: Type.String({ format: 'date-time' }),
      clientAddress: Type.Union([Type.String(), Type.Null()]),
      userAgent: Type.Union([Type.String(), Type.Null()]),
      current: Type.Boolean(),
    }),
  ),
});
const PasswordChangeBody = Type.Object({ currentPassword: PasswordSchema, newPassword: PasswordSchema }, { additionalProperties: false });
const LinkBody = Type.Object({ token: LinkTokenSchema, password: PasswordSchema }, { additionalProperties: false });
const SetupBody = Type.Object({ email: EmailSchema, password: PasswordSchema }, { additionalProperties: false });
const Done = Type.Object({ id: Type.String(), email: Type.String() });

const signedIn = (request: FastifyRequest): SignedIn => {
  if (!request.person) throw new Error('console route reached without a person');
  return request.person;
};

async function sessionView(db: Kysely<Database>, signer: SessionSigner, found: Omit<SignedIn, 'session_last_seen_at' | 'session_created_at'>, token: string) {
  const organization = found.organization_id ? await findOrganization(db, found.organization_id) : undefined;
  const presented = organization ? (await presentOrganizations(db, [organization]))[0]! : undefined;
  return {
    person: presentPerson(found),
    organization: organization && presented ? { id: organization.id, name: organization.name, plan: presented.plan, requireSecondFactor: organization.require_second_factor } : null,
    csrfToken: signer.csrfToken(token),
    sessionId: found.session_id,
    secondFactorRequired: Boolean(found.require_second_factor) && !found.totp_enabled,
  };
}

/** SPEC 13.3, 13.5: signing in and out, one's sessions, password and second factor; invitations, resets, first operator. */
export function registerConsoleAccountRoutes(app: App, deps: Deps): void {
  const isAdminToken = adminTokenChecker(deps);
  const hashedPassword = async (password: string): Promise<NewPassword> => ({ password, hash: await deps.people.hasher.hash(password) });

  app.post(
    `${CONSOLE_API}/sign-in`,
    { config: { ...anyone, audit: 'person.sign_in' }, schema: { summary: 'Sign in; sets the gh_session cookie', tags, body: SignInBody, response: { 200: SessionSchema } } },
    async (request, reply) => {
      const body = request.body;
      const input = {
        ...body,
        clientAddress: request.ip,
        userAgent: typeof request.headers['user-agent'] === 'string' ? request.headers['user-agent'] : null,
        previousToken: request.sessionToken,
      };
      return unitOfWork(request, reply, {
        before: () => checkSignIn(deps, input),
        run: async (unit, signedInPerson) => {
          const now = deps.now();
          const { token, sessionId } = await startSignedInSession(unit.db, deps.people.sessions, now, signedInPerson, input);
          setSessionCookie(deps, reply, token);
          const organization = signedInPerson.organization_id ? await findOrganization(unit.db, signedInPerson.organization_id) : undefined;
          const view = { ...signedInPerson, session_id: sessionId, require_second_factor: organization?.require_second_factor ?? null };
          request.person = { ...view, session_last_seen_at: new Date(now), session_created_at: new Date(now) };
          unit.audit({ type: 'person', id: signedInPerson.id, ...(signedInPerson.organization_id ? { organizationId: signedInPerson.organization_id } : {}) });
          return { body: await sessionView(unit.db, deps.people.sessions, view, token) };
        },
      });
    },
  );

  app.post(
    `${CONSOLE_API}/sign-out`,
    { config: { ...person, audit: 'person.sign_out' }, schema: { summary: 'End this session', tags, response: { 204: Type.Null() } } },
    async (request, reply) =>
      unitOfWork(request, reply, async (unit) => {
        await endSessionOfToken(unit.db, deps.people.sessions, request.sessionToken!);
        setSessionCookie(deps, reply, null);
        return NO_CONTENT;
      }),
  );

  app.get(
    `${CONSOLE_API}/session`,
    { config: person, schema: { summary: 'Who is signed in, and the CSRF token of this session', tags, response: { 200: SessionSchema } } },
    async (request) => sessionView(deps.store.db, deps.people.sessions, signedIn(request), request.sessionToken!),
  );

  app.get(
    `${CONSOLE_API}/sessions`,
    { config: person, schema: { summary: "One's own live sessions", tags, response: { 200: SessionListSchema } } },
    async (request) => {
      const me = signedIn(request);
      const { now, idleSince } = sessionCutoffs(deps.now());
      const rows = await listSessions(deps.store.db, me.id, now, idleSince);
      return {
        data: rows.map((row) => ({
          id: row.id,
          createdAt: row.created_at.toISOString(),
          lastSeenAt: row.last_seen_at.toISOString(),
          expiresAt: row.expires_at.toISOString(),
          clientAddress: row.client_address,
          userAgent: row.user_agent,
          current: row.id === me.session_id,
        })),
      };
    },
  );

  app.delete(
    `${CONSOLE_API}/sessions/:id`,
    { config: { ...person, audit: 'person.session.end' }, schema: { summary: 'End one of one’s own sessions', tags, params: IdParams, response: { 204: Type.Null() } } },
    async (request, reply) => {
      const me = signedIn(request);
      const { id } = request.params;
      return unitOfWork(request, reply, async (unit) => {
        unit.audit({ type: 'session', id });
        if (!(await deleteSession(unit.db, me.id, id))) throw notFound('Session');
        if (id === me.session_id) setSessionCookie(deps, reply, null);
        return NO_CONTENT;
      });
    },
  );

  app.put(
    `${CONSOLE_API}/account/password`,
    {
      config: { ...person, audit: 'person.password.change' },
      schema: { summary: 'Change one’s password; every other session ends', tags, body: PasswordChangeBody, response: { 204: Type.Null() } },
    },
    async (request, reply) => {
      const me = signedIn(request);
      const body = request.body;
      return unitOfWork(request, reply, {
        before: (unit) => {
          unit.audit({ type: 'person', id: me.id });
          return prepareNewPassword(deps, me.id, body.currentPassword, body.newPassword);
        },
        run: async (unit, passwordHash) => {
          await storeNewPassword(unit.db, me.id, me.session_id, passwordHash);
          return NO_CONTENT;
        },
      });
    },
  );

  app.post(
    `${CONSOLE_API}/account/second-factor/setup`,
    {
      config: { ...person, audit: 'person.second_factor.setup' },
      schema: { summary: 'Start a TOTP second factor: the secret, shown this once', tags, response: { 200: Type.Object({ secret: Type.String(), otpauthUri: Type.String() }) } },
    },
    async (request, reply) => unitOfWork(request, reply, async (unit) => ({ body: await beginTotp(deps, unit.db, signedIn(request).id) })),
  );

  app.post(
    `${CONSOLE_API}/account/second-factor/enable`,
    {
      config: { ...person, audit: 'person.second_factor.enable' },
      schema: {
        summary: 'Turn the second factor on with a current code; the answer has the recovery codes, this once',
        tags,
        body: Type.Object({ code: TotpCodeSchema }, { additionalProperties: false }),
        response: { 200: Type.Object({ recoveryCodes: Type.Array(Type.String()) }) },
      },
    },
    async (request, reply) =>
      unitOfWork(request, reply, async (unit) => ({ body: await enableTotp(deps, unit.db, signedIn(request).id, request.body.code) })),
  );

  app.post(
    `${CONSOLE_API}/account/second-factor/disable`,
    {
      config: { ...person, audit: 'person.second_factor.disable' },
      schema: { summary: 'Turn the second factor off (takes the password)', tags, body: Type.Object({ password: PasswordSchema }, { additionalProperties: false }), response: { 204: Type.Null() } },
    },
    async (request, reply) => {
      const me = signedIn(request);
      return unitOfWork(request, reply, {
        before: () => requirePassword(deps, me.id, request.body.password),
        run: async (unit) => {
          await disableTotp(unit.db, me.id, Boolean(me.require_second_factor));
          return NO_CONTENT;
        },
      });
    },
  );

  app.post(
    `${CONSOLE_API}/invitations/accept`,
    {
      config: { ...anyone, audit: 'person.invitation.accept' },
      schema: { summary: 'Accept an invitation: set the password of the new account (the link works once)', tags, body: LinkBody, response: { 201: Done } },
    },
    async (request, reply) => {
      const body = request.body;
      return unitOfWork(request, reply, {
        before: () => hashedPassword(body.password),
        run: async (unit, password) => {
          const created = await acceptInvitation(unit.db, new Date(deps.now()), body.token, password);
          unit.audit({ type: 'person', id: created.id });
          request.auditActor = `person:${created.id}`;
          return { status: 201, body: created };
        },
      });
    },
  );

  app.post(
    `${CONSOLE_API}/password-resets`,
    {
      config: { ...anyone, audit: 'person.password.reset_request' },
      schema: {
        summary: 'Ask for a reset link by mail; the answer is the same whether the address has an account or not',
        tags,
        body: Type.Object({ email: EmailSchema }, { additionalProperties: false }),
        response: { 202: Type.Object({ accepted: Type.Boolean() }) },
      },
    },
    async (request, reply) => {
      const email = normalizeEmail(request.body.email);
      // Only by mail: a link shown here would hand the account to whoever typed the address. Sent after the answer,
      // so the answer's timing does not tell whether there was an account to mail.
      if (deps.people.mailer) {
        setImmediate(() => {
          void findPersonByEmail(deps.store.db, email)
            .then((found) => (found ? deps.store.db.transaction().execute((trx) => issueReset(deps, trx, found, 'self')) : undefined))
            .catch((error: unknown) => deps.logger.warn({ err: { message: (error as Error).message } }, 'password reset mail failed'));
        });
      }
      return reply.code(202).send({ accepted: true });
    },
  );

  app.post(
    `${CONSOLE_API}/password-resets/complete`,
    {
      config: { ...anyone, audit: 'person.password.reset' },
      schema: { summary: 'Set a new password through a reset link (the link works once); every session of the person ends', tags, body: LinkBody, response: { 200: Done } },
    },
    async (request, reply) => {
      const body = request.body;
      return unitOfWork(request, reply, {
        before: () => hashedPassword(body.password),
        run: async (unit, password) => {
          const done = await completeReset(unit.db, new Date(deps.now()), body.token, password);
          unit.audit({ type: 'person', id: done.id });
          request.auditActor = `person:${done.id}`;
          return { body: done };
        },
      });
    },
  );

  app.get(
    `${CONSOLE_API}/setup`,
    { config: anyone, schema: { summary: 'Whether an operator account exists yet', tags, response: { 200: Type.Object({ operatorExists: Type.Boolean() }) } } },
    async () => ({ operatorExists: await anyOperatorExists(deps.store.db) }),
  );

  app.post(
    `${CONSOLE_API}/setup`,
    {
      config: { ...anyone, audit: 'person.operator.first' },
      schema: {
        summary: 'Create the first operator account (role operator); takes the admin token, and only while no operator exists',
        tags,
        body: SetupBody,
        response: { 201: PersonSchema },
      },
    },
    async (request, reply) => {
      if (!(await isAdminToken)(presentedCredential(request.headers, 'x-admin-token'))) {
        // Another place to guess the admin token at: throttled per client address like failed sign-ins.
        const blockedMs = deps.people.failuresByAddress.refuseFailure(request.ip);
        if (blockedMs > 0) throw new ApiError('RATE_LIMITED', 'Too many failed attempts. Retry later.', { retryAfterMs: blockedMs }, { 'retry-after': String(Math.ceil(blockedMs / 1000)) });
        throw new ApiError('UNAUTHENTICATED', 'A valid admin token is required.');
      }
      const body = request.body;
      const email = normalizeEmail(body.email);
      request.adminActor = 'admin';
      return unitOfWork(request, reply, {
        before: () => {
          checkPassword(body.password, email);
          return deps.people.hasher.hash(body.password);
        },
        run: async (unit, passwordHash) => {
          // One first operator even when two browsers submit at once: the second waits here, then finds the first.
          await lockFirstOperator(unit.db);
          if (await anyOperatorExists(unit.db)) throw conflict('operator_exists', 'An operator account exists already; operators invite the others.');
          const created = await insertPerson(unit.db, { email, kind: 'operator', organizationId: null, role: 'operator', passwordHash });
          if (!created) throw conflict('person_exists', 'That email address already has an account.');
          unit.audit({ type: 'person', id: created.id });
          return { status: 201, body: presentPerson(created) };
        },
      });
    },
  );
}

