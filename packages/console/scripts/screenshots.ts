// Screenshots of the console's main pages for the README (docs/console/*.png): `npm run screenshots -w
// @gatehouse/console`. A server with a little data, Debian's Chromium, the same helpers as the browser tests.
import { sql } from 'kysely';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { admin } from '../../server/test/factories.ts';
import { ADMIN_TOKEN } from '../../server/test/harness.ts';
import { invited, PASSWORD } from '../../server/test/people-support.ts';
import { consoleContext, launchChromium, openPage, signInThroughForm, startConsoleServer } from '../test/browser.ts';

const OUT = fileURLToPath(new URL('../../../docs/console/', import.meta.url));
mkdirSync(OUT, { recursive: true });

const server = await startConsoleServer();
const browser = await launchChromium();
try {
  const organizationId = (await admin(server.app, 'POST', '/admin/v1/organizations', { name: 'Acme Growth', plan: 'partner', creditBalance: 48_250 })).json().id as string;
  await admin(server.app, 'POST', '/admin/v1/organizations', { name: 'Globex', plan: 'pro', rateLimitTier: 'pilot', creditBalance: 12_000 });
  await admin(server.app, 'POST', '/admin/v1/organizations', { name: 'Initech', plan: 'starter', creditBalance: 300 });
  await invited(server.app, organizationId, 'owner@acme.example', 'owner', server.baseUrl);
  const keys: { id: string; key: string }[] = [];
  for (const [name, env] of [
    ['billing sync', 'live'],
    ['mobile app', 'live'],
    ['ci smoke', 'test'],
  ] as const) {
    keys.push((await admin(server.app, 'POST', `/admin/v1/organizations/${organizationId}/keys`, { name, env })).json());
  }
  for (let call = 0; call < 12; call++) await fetch(`${server.baseUrl}/v1/whoami`, { headers: { 'X-Api-Key': keys[call % 3]!.key } });
  await server.deps.recording!.flush();
  // A day of traffic for the charts, as the usage recorder would have written it.
  for (const [granularity, count, step] of [
    ['hour', 24, '1 hour'],
    ['day', 30, '1 day'],
  ] as const) {
    await sql`
      INSERT INTO usage_counts (organization_id, granularity, bucket, api_key_id, endpoint_class, requests, status_2xx, status_4xx, status_5xx, rate_limited, credits_charged)
      SELECT ${organizationId}::uuid, ${granularity}, date_trunc(${granularity}, now()) - n * ${step}::interval, k.id, 'read-light',
             r, r - (r / 20), r / 20, 0, CASE WHEN n % 7 = 3 THEN r / 10 ELSE 0 END, r
      FROM (SELECT id FROM api_keys WHERE organization_id = ${organizationId}::uuid) AS k, generate_series(1, ${count}::int) AS n,
           LATERAL (SELECT (400 + 300 * sin(n / 3.0) + 50 * (n % 5))::int AS r) AS amount
      ON CONFLICT DO NOTHING
    `.execute(server.deps.store.db);
  }

  const { page } = await consoleContext(browser, server.baseUrl);
  const shot = (name: string) => page.screenshot({ path: `${OUT}${name}.png` });
  await signInThroughForm(page, 'owner@acme.example', PASSWORD, 'Overview');
  await page.waitForLoadState('networkidle');
  await shot('overview');
  await openPage(page, 'API keys');
  await page.getByRole('button', { name: 'Create key' }).click();
  await page.getByLabel('Name').fill('warehouse export');
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await page.getByLabel('New API key').waitFor();
  await shot('api-keys');
  await openPage(page, 'Usage');
  await page.waitForLoadState('networkidle');
  await shot('usage');
  await openPage(page, 'Requests');
  await page.waitForLoadState('networkidle');
  await shot('requests');

  await fetch(`${server.baseUrl}/console/api/setup`, {
    method: 'POST',
    headers: { origin: server.baseUrl, 'content-type': 'application/json', 'x-admin-token': ADMIN_TOKEN },
    body: JSON.stringify({ email: 'ops@gatehouse.example', password: PASSWORD }),
  });
  const operator = (await consoleContext(browser, server.baseUrl)).page;
  await signInThroughForm(operator, 'ops@gatehouse.example', PASSWORD, 'Organizations');
  await operator.waitForLoadState('networkidle');
  await operator.screenshot({ path: `${OUT}organizations.png` });
  await operator.getByRole('link', { name: 'Acme Growth' }).click();
  await operator.getByRole('heading', { level: 1, name: 'Acme Growth' }).waitFor();
  await operator.waitForLoadState('networkidle');
  await operator.screenshot({ path: `${OUT}organization.png`, fullPage: true });
  await openPage(operator, 'Kill switch');
  await operator.getByRole('button', { name: 'Turn the global kill switch on' }).click();
  await operator.getByRole('dialog').getByLabel(/to confirm/).fill('stop all');
  await operator.screenshot({ path: `${OUT}kill-switch.png` });
  console.log(`wrote ${OUT}`);
} finally {
  await browser.close();
  await server.close();
}
