import { Type } from '@sinclair/typebox';
import { Uuid } from '../http/schemas.ts';
import { MAX_PASSWORD_LENGTH } from './passwords.ts';

/** RFC 5321 caps an address at 254 characters; the format check is ajv's. */
export const EmailSchema = Type.String({ format: 'email', minLength: 3, maxLength: 254 });
/** Length is checked by the password rules (SPEC 13.3), so a short one is told why, not just that it is invalid. */
export const PasswordSchema = Type.String({ minLength: 1, maxLength: MAX_PASSWORD_LENGTH });
/** A one-time link's token: 43 characters of base64url. */
export const LinkTokenSchema = Type.String({ pattern: '^[A-Za-z0-9_-]{43}$', maxLength: 43 });
export const TotpCodeSchema = Type.String({ pattern: '^[0-9]{6}$', maxLength: 6 });
export const RecoveryCodeSchema = Type.String({ minLength: 10, maxLength: 32 });
export const PartnerRoleSchema = Type.Union([Type.Literal('owner'), Type.Literal('developer'), Type.Literal('viewer')]);
export const OperatorRoleSchema = Type.Union([Type.Literal('operator'), Type.Literal('support')]);
const Role = Type.Union([PartnerRoleSchema, OperatorRoleSchema]);
const Time = Type.String({ format: 'date-time' });

export const PersonSchema = Type.Object({
  id: Uuid,
  email: Type.String(),
  kind: Type.Union([Type.Literal('partner'), Type.Literal('operator')]),
  role: Role,
  organizationId: Type.Union([Uuid, Type.Null()]),
  secondFactor: Type.Boolean(),
  createdAt: Time,
});

export const InvitationSchema = Type.Object({ id: Uuid, email: Type.String(), role: Role, createdAt: Time, expiresAt: Time });

export const TeamSchema = Type.Object({ members: Type.Array(PersonSchema), invitations: Type.Array(InvitationSchema) });

/** SPEC 10.1: `link` is the one-time URL, in this answer only, when it was not mailed (no GATEHOUSE_SMTP_URL). */
export const IssuedLinkSchema = Type.Object({
  id: Uuid,
  email: Type.String(),
  role: Role,
  expiresAt: Time,
  link: Type.Union([Type.String(), Type.Null()]),
  mailed: Type.Boolean(),
});
