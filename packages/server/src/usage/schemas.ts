import { Type } from '@sinclair/typebox';
import { ENDPOINT_CLASSES } from '../config.ts';
import { ResourceEnv, StringEnum, Uuid } from '../http/schemas.ts';

export const GRANULARITIES = ['minute', 'hour', 'day'] as const;
/** SPEC 8.7: at most 31 days per call. */
export const MAX_RANGE_DAYS = 31;
/** Rows one usage answer may hold: a minute series of one key and class over 31 days fits (44,640). */
export const MAX_USAGE_ROWS = 50_000;

/** What the app's request ids look like (app.ts); anything else is no request of ours. */
export const REQUEST_ID_PATTERN = /^req_[0-9a-z]{1,64}$/;
/** Any text up to a bound: an id of no request of ours is simply not found (404), like another organization's. */
export const RequestId = Type.String({ minLength: 1, maxLength: 100 });

const usageRange = {
  from: Type.Optional(Type.String({ format: 'date-time', maxLength: 64, description: 'Start (inclusive, rounded down to the granularity); default: 24 hours before `to`' })),
  to: Type.Optional(Type.String({ format: 'date-time', maxLength: 64, description: 'End (exclusive); default: now' })),
  granularity: StringEnum(GRANULARITIES, { default: 'hour' }),
  apiKeyId: Type.Optional(Uuid),
  endpointClass: Type.Optional(StringEnum(ENDPOINT_CLASSES)),
};

export const UsageQuery = Type.Object(usageRange, { additionalProperties: false });
export const AdminUsageQuery = Type.Object({ ...usageRange, organizationId: Type.Optional(Uuid) }, { additionalProperties: false });

const counts = {
  requests: Type.Integer(),
  status2xx: Type.Integer(),
  status4xx: Type.Integer(),
  status5xx: Type.Integer(),
  rateLimited: Type.Integer(),
  creditsCharged: Type.Integer(),
};

export const UsageRowSchema = Type.Object(
  {
    time: Type.String({ format: 'date-time' }),
    env: ResourceEnv,
    apiKeyId: Uuid,
    endpointClass: StringEnum(ENDPOINT_CLASSES),
    ...counts,
  },
  { title: 'UsageRow' },
);

/** Operators' rows: per key with `organizationId` or `apiKeyId`, else per organization (key and class null). */
export const AdminUsageRowSchema = Type.Object({
  time: Type.String({ format: 'date-time' }),
  organizationId: Uuid,
  env: ResourceEnv,
  apiKeyId: Type.Union([Uuid, Type.Null()]),
  endpointClass: Type.Union([StringEnum(ENDPOINT_CLASSES), Type.Null()]),
  ...counts,
});

export const RequestsQuery = Type.Object(
  {
    apiKeyId: Type.Optional(Uuid),
    status: Type.Optional(Type.Integer({ minimum: 100, maximum: 599 })),
    errorCode: Type.Optional(Type.String({ maxLength: 40, pattern: '^[A-Z_]{1,40}$' })),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
  },
  { additionalProperties: false },
);

export const RequestIdParams = Type.Object({ requestId: RequestId });

export const RequestLogRowSchema = Type.Object(
  {
  requestId: Type.String(),
  time: Type.String({ format: 'date-time' }),
  env: ResourceEnv,
  apiKeyId: Type.Union([Uuid, Type.Null()]),
  method: Type.String(),
  route: Type.Union([Type.String(), Type.Null()]),
  status: Type.Integer(),
  errorCode: Type.Union([Type.String(), Type.Null()]),
  endpointClass: Type.Union([StringEnum(ENDPOINT_CLASSES), Type.Null()]),
  durationMs: Type.Number(),
  clientAddress: Type.Union([Type.String(), Type.Null()]),
  },
  { title: 'RequestLogEntry' },
);

export const AdminRequestLogRowSchema = Type.Intersect([RequestLogRowSchema, Type.Object({ organizationId: Type.Union([Uuid, Type.Null()]) })]);
