import { Type } from '@sinclair/typebox';
import { ResourceEnv, Uuid } from '../http/schemas.ts';

// PostgreSQL text cannot hold NUL, and control characters in a name are never meant: refuse them at the edge
// instead of failing in the database.
const SINGLE_LINE = '^[^\\u0000-\\u001f\\u007f]*$';
const NO_NUL = '^[^\\u0000]*$';

const ProjectName = Type.String({ minLength: 1, maxLength: 200, pattern: SINGLE_LINE });
const CustomerExternalId = Type.String({ minLength: 1, maxLength: 255, pattern: SINGLE_LINE });
const TimeZone = Type.String({ minLength: 1, maxLength: 64, format: 'iana-time-zone', description: 'An IANA time zone name, such as Europe/Paris' });
const LanguageTag = Type.String({ minLength: 1, maxLength: 64, format: 'bcp47-language-tag', description: 'A BCP-47 language tag, such as en or pt-BR' });
const Timestamp = Type.String({ format: 'date-time' });

export const ProjectSchema = Type.Object({
  id: Uuid,
  organizationId: Uuid,
  env: ResourceEnv,
  name: Type.String(),
  customerExternalId: Type.Union([Type.String(), Type.Null()]),
  timezone: Type.String(),
  primaryLanguage: Type.String(),
  status: Type.Union([Type.Literal('active'), Type.Literal('archived')]),
  createdAt: Timestamp,
  updatedAt: Timestamp,
}, { title: 'Project' });

export const CreateProjectBody = Type.Object(
  {
    name: ProjectName,
    customerExternalId: Type.Optional(Type.Union([CustomerExternalId, Type.Null()])),
    timezone: Type.Optional(TimeZone),
    primaryLanguage: Type.Optional(LanguageTag),
  },
  { additionalProperties: false },
);

export const PatchProjectBody = Type.Object(
  {
    name: Type.Optional(ProjectName),
    customerExternalId: Type.Optional(Type.Union([CustomerExternalId, Type.Null()])),
    timezone: Type.Optional(TimeZone),
    primaryLanguage: Type.Optional(LanguageTag),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const InfluencerSchema = Type.Object({
  id: Uuid,
  organizationId: Uuid,
  env: ResourceEnv,
  projectId: Uuid,
  name: Type.String(),
  persona: Type.Union([Type.String(), Type.Null()]),
  createdAt: Timestamp,
}, { title: 'Influencer' });

export const CreateInfluencerBody = Type.Object(
  {
    name: ProjectName,
    persona: Type.Optional(Type.Union([Type.String({ maxLength: 4000, pattern: NO_NUL }), Type.Null()])),
  },
  { additionalProperties: false },
);

export type CreateProjectInput = typeof CreateProjectBody.static;
export type PatchProjectInput = typeof PatchProjectBody.static;
export type CreateInfluencerInput = typeof CreateInfluencerBody.static;
