import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { referenceInputsFrom, renderReference } from './reference.ts';
import { buildApp } from '../app.ts';
import { loadConfig } from '../config.ts';
import { createDeps } from '../deps.ts';

/** `npm run docs`: docs/reference.md from a server on an in-memory store (the default plans, the served document). */
const config = { ...loadConfig({}), dataDir: 'memory://', adminToken: 'docs-render-token-0123456789', logLevel: 'warn' };
const deps = await createDeps(config);
const app = await buildApp(deps);
try {
  const target = fileURLToPath(new URL('../../../../docs/reference.md', import.meta.url));
  writeFileSync(target, renderReference(await referenceInputsFrom(app, config.adminToken)));
  process.stdout.write(`wrote ${target}\n`);
} finally {
  await app.close();
  await deps.close();
}
