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

  // For every URL under /admin/, routes or not, so that an unknown admin path tells nothing without the token. A
  // callback hook: the partner API's requests pass it without a promise.
  app.addHook('onRequest', (request, _reply, done) => {
    if (!request.url.startsWith('/admin/')) return done();
    const token = presentedCredential(request.headers, 'x-admin-token');
    if (!token || expectedHash.length !== 32 || !timingSafeEqual(sha256(token), expectedHash)) {
      return done(new ApiError('UNAUTHENTICATED', 'A valid admin token is required.'));
    }
    request.adminActor = 'admin';
    done();
  });
}

export const hashAdminToken = (token: string): string => sha256(token).toString('base64url');
