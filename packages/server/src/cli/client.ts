/**
 * The CLI's way to the typed client. A relative import of the client's source rather than `@gatehouse/client`:
 * that package's `exports` point at dist/, which exists only after `npm run build`, and `npx gatehouse` must work
 * right after `npm ci`. Pointing a custom export condition at src/ instead would need the same condition taught to
 * node, tsx, vitest and tsc; this one line needs nothing. The dependency still runs one way only (server → client),
 * and packages/server/package.json lists @gatehouse/client so the workspace link and the build order say so too.
 */
export * from '../../../client/src/index.ts';
