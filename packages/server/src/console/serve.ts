import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative, sep } from 'node:path';
import type { Deps } from '../deps.ts';
import { ApiError } from '../http/errors.ts';

/** Where the web console is served (SPEC 14); its API is under CONSOLE_API, its pages everywhere else below it. */
export const CONSOLE_PATH = '/console';

/**
 * The console's pages load only what this server sends: scripts and styles from here, data from the console API.
 * uPlot and React set element styles from script (CSSOM), which style-src does not govern; the build has no inline
 * script or style element, so neither needs 'unsafe-inline'.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

interface Asset {
  body: Buffer;
  type: string;
  /** Vite names the files under assets/ after their content: they never change under one name. */
  immutable: boolean;
}

/** packages/console/dist, built by `npm ci` (the root `prepare` script runs `vite build`). */
export function consoleBuildDir(): string | undefined {
  try {
    const dir = join(dirname(createRequire(import.meta.url).resolve('@gatehouse/console/package.json')), 'dist');
    return existsSync(join(dir, 'index.html')) ? dir : undefined;
  } catch {
    return undefined;
  }
}

function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const visit = (path: string) => {
    for (const name of readdirSync(path)) {
      const full = join(path, name);
      if (statSync(full).isDirectory()) visit(full);
      else {
        const url = relative(dir, full).split(sep).join('/');
        assets.set(url, { body: readFileSync(full), type: TYPES[extname(name)] ?? 'application/octet-stream', immutable: url.startsWith('assets/') });
      }
    }
  };
  visit(dir);
  return assets;
}

/**
 * The console's static files, read into memory at start (the build is a few hundred kilobytes), and its single-page
 * fallback: any other GET below /console is the app's index.html, whose router draws the page. Unknown console API
 * routes stay 404 in the envelope.
 */
export function registerConsolePages(app: FastifyInstance, deps: Deps, dir = consoleBuildDir()): void {
  if (!dir) {
    deps.logger.warn('the console is not built (packages/console/dist is missing): run npm ci, or npm run build -w @gatehouse/console');
  }
  const assets = dir ? loadAssets(dir) : new Map<string, Asset>();
  const index = assets.get('index.html');

  const send = (reply: FastifyReply, asset: Asset) =>
    reply
      .header('cache-control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
      .header('content-security-policy', CONSOLE_CSP)
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'no-referrer')
      .type(asset.type)
      .send(asset.body);

  const page = async (request: FastifyRequest, reply: FastifyReply) => {
    const path = (request.params as { '*'?: string })['*'] ?? '';
    if (path === 'api' || path.startsWith('api/')) throw new ApiError('NOT_FOUND', 'No such route.');
    const asset = assets.get(path);
    if (asset && path !== 'index.html') return send(reply, asset);
    // A missing file under assets/ is a stale page asking for an old build's file, not a page of the app.
    if (path.startsWith('assets/') || !index) throw new ApiError('NOT_FOUND', dir ? 'No such file.' : 'The console is not built on this server.');
    return send(reply, index);
  };
  const config = { public: true };
  app.get(CONSOLE_PATH, { config, schema: { hide: true } }, (_request, reply) => reply.redirect(`${CONSOLE_PATH}/`, 302));
  app.get(`${CONSOLE_PATH}/*`, { config, schema: { hide: true } }, page);
}
