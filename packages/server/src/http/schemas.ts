import { Type, type TSchema } from '@sinclair/typebox';
import { ERROR_CODES, type ErrorCode } from './errors.ts';
import { SCOPES } from './route-config.ts';

/** Shared request and response pieces, so every route spells them alike (and the OpenAPI document does too). */
// ajv's `uuid` format also accepts a `urn:uuid:` prefix, which PostgreSQL's uuid type refuses: the pattern keeps
// such ids a 422 instead of a database error.
export const Uuid = Type.String({ format: 'uuid', maxLength: 36, pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' });
export const IdParams = Type.Object({ id: Uuid });
/** A closed set of strings, refused with one clear message ("must be equal to one of the allowed values"). */
export const StringEnum = <T extends string>(values: readonly T[], options: { description?: string; default?: T } = {}) =>
  Type.Unsafe<T>({ type: 'string', enum: [...values], ...options });
export const ScopeName = Type.Union(SCOPES.map((scope) => Type.Literal(scope)));
export const KeyEnvName = Type.Union([Type.Literal('live'), Type.Literal('test')]);
/** SPEC 12: the env of the key that made a resource; a key sees only its own env's resources. */
export const ResourceEnv = Type.Union([Type.Literal('live'), Type.Literal('test')], { description: 'The env of the key that made it (SPEC 12)' });
export const Name = Type.String({ minLength: 1, maxLength: 200 });

export const PageQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
  },
  { additionalProperties: false },
);

export const Page = <T extends TSchema>(item: T) => Type.Object({ data: Type.Array(item), nextCursor: Type.Union([Type.String(), Type.Null()]) });

export const ApiKeySchema = Type.Object({
  id: Uuid,
  keyId: Type.String(),
  displayPrefix: Type.String(),
  organizationId: Uuid,
  name: Type.String(),
  env: KeyEnvName,
  scopes: Type.Array(Type.String()),
  allowedCidrs: Type.Array(Type.String(), { description: 'IPv4 and IPv6 CIDRs the key may be used from (check 5a of SPEC 2); empty = any address.' }),
  status: Type.Union([Type.Literal('active'), Type.Literal('revoked')]),
  killSwitch: Type.Boolean(),
  expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
}, { title: 'ApiKey' });

export const CreatedApiKeySchema = Type.Intersect([ApiKeySchema, Type.Object({ key: Type.String() })], { title: 'CreatedApiKey' });

/** Check 5a of SPEC 2: a bounded list (each entry an IPv4 or IPv6 address or CIDR; IPv4-mapped IPv6 is kept as IPv4). */
export const MAX_ALLOWED_CIDRS = 32;
export const AllowedCidrs = Type.Array(Type.String({ minLength: 2, maxLength: 64 }), {
  maxItems: MAX_ALLOWED_CIDRS,
  description: `IPv4 or IPv6 addresses or CIDRs (at most ${MAX_ALLOWED_CIDRS}) the key may be used from; empty = any address.`,
});

export const NewKeyBody = Type.Object(
  {
    name: Name,
    env: Type.Optional(KeyEnvName),
    scopes: Type.Optional(Type.Array(ScopeName, { maxItems: 32 })),
    expiresAt: Type.Optional(Type.Union([Type.String({ format: 'date-time', maxLength: 64 }), Type.Null()])),
    allowedCidrs: Type.Optional(AllowedCidrs),
  },
  { additionalProperties: false },
);

/** PATCH /v1/api-keys/:id and PATCH /admin/v1/keys/:id: rename, or change where the key may be used from. */
export const KeyChangeBody = Type.Object({ name: Type.Optional(Name), allowedCidrs: Type.Optional(AllowedCidrs) }, { additionalProperties: false, minProperties: 1 });

/** SPEC 4: the one error envelope, with the catalog's codes as an enum. */
export const ErrorSchema = Type.Object(
  {
    error: Type.Object({
      code: Type.Unsafe<ErrorCode>({ type: 'string', enum: ERROR_CODES }),
      message: Type.String(),
      requestId: Type.String(),
      details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    }),
  },
  { title: 'Error', description: 'The error envelope every failure answers with (X-Request-Id equals error.requestId).' },
);
