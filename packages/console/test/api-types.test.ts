import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { consoleApiTypes, SCHEMA_FILE } from '../scripts/console-api-types.ts';

// The console is typed by the console API's own OpenAPI document: a route or schema change must regenerate the types
// (npm run api-types -w @gatehouse/console), so the UI cannot go on calling an API that no longer exists.
describe('the console API types', () => {
  it('match what the server documents now', async () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8'), 'src/api/schema.d.ts is stale: npm run api-types -w @gatehouse/console').toBe(await consoleApiTypes());
  });
});
