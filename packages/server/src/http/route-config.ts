import type { EndpointClass } from '../config.ts';
import type { KeyState } from '../auth/key-state.ts';
import type { ErrorCode } from './errors.ts';
import type { KeyEnv } from '../keys/format.ts';

/** SPEC 9: the scope vocabulary. */
export const SCOPES = [
  'projects:read',
  'projects:write',
  'ingest:write',
  'jobs:read',
  'jobs:cancel',
  'keys:read',
  'keys:write',
  'webhooks:read',
  'webhooks:write',
  'influencers:write',
  'audit:read',
  'usage:read',
] as const;
export type Scope = (typeof SCOPES)[number];

export interface AuditTarget {
  type: string;
  id: string;
  organizationId?: string;
  /**
   * The world of a key the entry is about (SPEC 12), for entries no key acts in (an operator's, a person's): a partner
   * key's /v1/audit lists its own world's entries and those of no world, so one of these on a live key is not a test
   * key's to see.
   */
  env?: KeyEnv;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Every authenticated /v1 route names its endpoint class (SPEC 5) ... */
    endpointClass?: EndpointClass;
    /** ... and the scope a restricted key needs for it, or null for none (SPEC 9). */
    scope?: Scope | null;
    /**
     * Catalog codes this route answers beyond those its method, path parameters, body, scope and idempotency imply
     * (the OpenAPI document lists both; see http/openapi.ts), such as INSUFFICIENT_CREDITS for a job that costs credits.
     */
    errors?: readonly ErrorCode[];
    /** Routes outside the key pipeline (the OpenAPI document). */
    public?: boolean;
    /**
     * A route another service calls (GitHub's secret scanning, SPEC 15): outside every pipeline, authenticated by the
     * caller's own signature. The OpenAPI document lists it without the key's security and answering `errors`.
     */
    hook?: boolean;
    /** whoami answers 200 with the flags when a key or organization switch is on (SPEC 3). */
    reportsSwitches?: boolean;
    /** The audit action this route records (SPEC 10.3); set on every mutation and every admin route. */
    audit?: string;
    /**
     * `false` takes a POST out of Idempotency-Key replay (SPEC 6). Only for answers that must not be kept, such as
     * one that shows a secret once: a replay would need the secret stored in plain text.
     */
    idempotency?: false;
  }
  interface FastifyRequest {
    /** The authenticated key, set by the pipeline on every /v1 route. */
    principal?: KeyState;
    /**
     * The key whose secret was verified, set before checks 2 to 9 run, so that an answer refusing a known key (revoked,
     * switched off, out of scope, rate limited) is still counted and logged against it (SPEC 8.7).
     */
    verifiedKey?: KeyState;
    /** The SPEC 4 code of the error this request was answered with, for the request log. */
    errorCode?: string;
    /** What a mutation acted on, for its audit entry. */
    auditTarget?: AuditTarget;
    /** Extra facts for the audit entry (for example, that the answer was an idempotent replay). */
    auditDetails?: Record<string, unknown>;
    /** Set by the admin authentication hook. */
    adminActor?: string;
    /** Who acted, for a route that authenticates no one first (accepting an invitation: the person it created). */
    auditActor?: string;
  }
}
