import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { ADMIN_TOKEN } from './harness.ts';

/** Operator calls through the admin API, as an operator would make them. */
export async function admin(app: FastifyInstance, method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, body?: unknown): Promise<LightMyRequestResponse> {
  return app.inject({ method, url, headers: { 'x-admin-token': ADMIN_TOKEN }, ...(body === undefined ? {} : { payload: body as object }) });
}

export interface OrganizationFixture {
  id: string;
  name: string;
}

export async function createOrganization(
  app: FastifyInstance,
  fields: { name?: string; plan?: string | null; rateLimitTier?: string; creditBalance?: number } = {},
): Promise<OrganizationFixture> {
  const response = await admin(app, 'POST', '/admin/v1/organizations', { name: 'Acme Growth', plan: 'partner', creditBalance: 6000, ...fields });
  if (response.statusCode !== 201) throw new Error(`organization: ${response.statusCode} ${response.body}`);
  return response.json();
}

export interface KeyFixture {
  id: string;
  key: string;
  keyId: string;
  displayPrefix: string;
  organizationId: string;
}

export async function issueKey(
  app: FastifyInstance,
  organizationId: string,
  fields: { name?: string; env?: 'live' | 'test'; scopes?: string[]; expiresAt?: string | null } = {},
): Promise<KeyFixture> {
  const response = await admin(app, 'POST', `/admin/v1/organizations/${organizationId}/keys`, { name: 'test key', ...fields });
  if (response.statusCode !== 201) throw new Error(`key: ${response.statusCode} ${response.body}`);
  return response.json();
}

/** An organization on `partner` with one live key: the usual starting point of a partner test. */
export async function partnerWithKey(app: FastifyInstance, fields: Parameters<typeof createOrganization>[1] = {}) {
  const organization = await createOrganization(app, fields);
  const key = await issueKey(app, organization.id);
  return { organization, key };
}

export function withKey(key: string, extra: Record<string, string> = {}): Record<string, string> {
  return { 'x-api-key': key, ...extra };
}

/** The secret part of a key: everything after `<prefix>_<env>_<key_id>_` (base64url, so it may hold `_` itself). */
export function secretOf(key: string): string {
  return key.split('_').slice(3).join('_');
}
