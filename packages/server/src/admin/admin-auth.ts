import type { FastifyInstance } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Deps } from '../deps.ts';
import { readSetting, SETTING_ADMIN_TOKEN_HASH } from '../db/repositories/settings.ts';
import { presentedCredential } from '../http/credentials.ts';
import { ApiError } from '../http/errors.ts';

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * SPEC 10.1: the admin API takes the operator token only, never a partner key. The configured token, or the hash
 * kept in the store when it was generated on first start; compared in constant time.
 */
export async function installAdminAuth(app: FastifyInstance, deps: Deps): Promise<void> {
  const expectedHash = deps.config.adminToken
    ? sha256(deps.config.adminToken)
    : Buffer.from((await readSetting<string>(deps.store.db, SETTING_ADMIN_TOKEN_HASH)) ?? '', 'base64url');

  app.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/admin/')) return;
    const token = presentedCredential(request.headers, 'x-admin-token');
    if (!token || expectedHash.length !== 32 || !timingSafeEqual(sha256(token), expectedHash)) {
      throw new ApiError('UNAUTHENTICATED', 'A valid admin token is required.');
    }
    request.adminActor = 'admin';
  });
}

export const hashAdminToken = (token: string): string => sha256(token).toString('base64url');
