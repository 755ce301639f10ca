import type { ColumnType, Generated, Selectable } from 'kysely';
import type { Timestamp } from '../db/schema.ts';

export type PartnerRole = 'owner' | 'developer' | 'viewer';
export type OperatorRole = 'operator' | 'support';
export type PersonKind = 'partner' | 'operator';
export type Role = PartnerRole | OperatorRole;

type CreatedAt = ColumnType<Date, Date | string | undefined, never>;

export interface PeopleTable {
  id: Generated<string>;
  email: string;
  kind: PersonKind;
  organization_id: string | null;
  role: Role;
  password_hash: string;
  totp_secret_sealed: string | null;
  totp_enabled: Generated<boolean>;
  totp_last_step: number | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface PersonSessionsTable {
  id: Generated<string>;
  token_digest: string;
  person_id: string;
  created_at: Timestamp;
  last_seen_at: Timestamp;
  expires_at: Timestamp;
  client_address: string | null;
  user_agent: string | null;
}

export interface PersonRecoveryCodesTable {
  person_id: string;
  code_digest: string;
}

export interface PersonLinksTable {
  id: Generated<string>;
  purpose: 'invitation' | 'reset';
  token_digest: string;
  email: string;
  kind: PersonKind;
  organization_id: string | null;
  role: Role;
  person_id: string | null;
  created_by: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  used_at: Timestamp | null;
}

export interface PeopleTables {
  people: PeopleTable;
  person_sessions: PersonSessionsTable;
  person_recovery_codes: PersonRecoveryCodesTable;
  person_links: PersonLinksTable;
}

export type Person = Selectable<PeopleTable>;
export type PersonSession = Selectable<PersonSessionsTable>;
export type PersonLink = Selectable<PersonLinksTable>;
