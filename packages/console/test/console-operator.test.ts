import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin } from '../../server/test/factories.ts';
import { ADMIN_TOKEN } from '../../server/test/harness.ts';
import { PASSWORD } from '../../server/test/people-support.ts';
import { asBrowserSession, chromiumAvailable, consoleContext, expectAccessible, launchChromium, openPage, signInThroughForm, startConsoleServer, type ConsoleServer } from './browser.ts';

const OPERATOR = 'ops@gatehouse.example';
const SUPPORT = 'support@gatehouse.example';
const KILL_PHRASE = 'stop all traffic';

/**
 * SPEC 14 in Chromium, for operators: the first operator made with the admin token, an organization set up from
 * nothing, the global kill switch behind a typed confirmation, and a support account that can kill a key but not
 * change a plan.
 */
describe.runIf(chromiumAvailable)('the console for operators, in a browser', () => {
  let server: ConsoleServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let errors: string[];
  let organizationId = '';
  let key = { id: '', keyId: '', key: '' };

  beforeAll(async () => {
    server = await startConsoleServer();
    browser = await launchChromium();
    ({ context, page, errors } = await consoleContext(browser, server.baseUrl));
    // A store, its migrations and a browser: slow on a loaded 2-core machine.
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const whoami = () => fetch(`${server.baseUrl}/v1/whoami`, { headers: { 'X-Api-Key': key.key } });

  it('creates the first operator with the admin token, then signs in', async () => {
    await page.goto('/console/sign-in');
    await page.getByRole('link', { name: /create the first one/ }).click();
    await page.getByRole('heading', { name: 'Create the first operator' }).waitFor();
    await expectAccessible(page, 'setup');
    await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await page.getByLabel('Email').fill(OPERATOR);
    await page.getByLabel('New password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create operator' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await signInThroughForm(page, OPERATOR, PASSWORD, 'Organizations');
    await expectAccessible(page, 'Organizations');
  });

  it('creates an organization, invites its owner, sets plan, tier, credits and the low-credit threshold', async () => {
    await page.getByLabel('Organization name').fill('Globex');
    await page.getByLabel('Plan', { exact: true }).selectOption('pro');
    await page.getByLabel('Rate-limit tier').fill('standard');
    await page.getByLabel('Credits').fill('100');
    await page.getByRole('button', { name: 'Create organization' }).click();
    await page.getByRole('heading', { level: 1, name: 'Globex' }).waitFor();
    organizationId = new URL(page.url()).pathname.split('/').pop()!;
    await expectAccessible(page, 'an organization');

    await page.getByLabel('Email').fill('founder@globex.example');
    await page.getByLabel('Role', { exact: true }).selectOption('owner');
    await page.getByRole('button', { name: 'Invite' }).click();
    expect(await page.getByLabel('Invitation link').inputValue()).toMatch(/\/console\/accept-invitation#token=/);
    await expect.poll(() => page.getByRole('table', { name: 'Open invitations' }).getByText('founder@globex.example').isVisible()).toBe(true);

    const facts = page.locator('.facts');
    await page.getByLabel('Plan', { exact: true }).selectOption('partner');
    await page.getByRole('button', { name: 'Set plan' }).click();
    await expect.poll(() => facts.getByText('partner', { exact: true }).isVisible()).toBe(true);
    await page.getByLabel('Rate-limit tier').fill('pilot');
    await page.getByRole('button', { name: 'Set tier' }).click();
    await expect.poll(() => facts.getByText('pilot', { exact: true }).isVisible()).toBe(true);
    await page.getByLabel(/Credits to add/).fill('250');
    await page.getByRole('button', { name: 'Add credits' }).click();
    await expect.poll(() => facts.getByText('350', { exact: true }).isVisible()).toBe(true);

    // SPEC 14: the low-credit threshold, none until set; shown again after a reload, from the server.
    const threshold = facts.locator('div', { has: page.getByText('Low-credit threshold', { exact: true }) }).locator('dd');
    expect(await threshold.textContent()).toBe('none');
    expect(await page.getByLabel(/Low-credit threshold/).inputValue()).toBe('');
    await page.getByLabel(/Low-credit threshold/).fill('1500');
    await page.getByRole('button', { name: 'Set threshold' }).click();
    await expect.poll(() => threshold.textContent()).toBe('1,500');
    expect(await page.getByRole('status').filter({ hasText: 'saved' }).textContent()).toBe('Low-credit threshold saved.');
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Globex' }).waitFor();
    await expect.poll(() => threshold.textContent()).toBe('1,500');
    expect(await page.getByLabel(/Low-credit threshold/).inputValue()).toBe('1500');

    const stored = (await admin(server.app, 'GET', `/admin/v1/organizations/${organizationId}`)).json();
    expect(stored).toMatchObject({ name: 'Globex', plan: 'partner', rateLimitTier: 'pilot', creditBalance: 350, lowCreditThreshold: 1500 });
    // The change is audited as the other fields are: the operator who made it, the threshold before and after.
    const audit = (await admin(server.app, 'GET', `/admin/v1/audit?organizationId=${organizationId}&action=admin.organization.update&limit=1`)).json();
    expect(audit.data[0]).toMatchObject({ actor: expect.stringMatching(/^person:/), status: 200, details: { before: { lowCreditThreshold: null }, after: { lowCreditThreshold: 1500 } } });
    const issued = await admin(server.app, 'POST', `/admin/v1/organizations/${organizationId}/keys`, { name: 'globex prod', env: 'live' });
    expect(issued.statusCode, issued.body).toBe(201);
    key = issued.json();
    expect((await whoami()).status).toBe(200);
  });

  it('turns the global kill switch on and off, each behind a typed confirmation', async () => {
    await openPage(page, 'Kill switch');
    await expect.poll(() => page.getByText('The global kill switch is off.').isVisible()).toBe(true);
    await page.getByRole('button', { name: 'Turn the global kill switch on' }).click();
    const dialog = page.getByRole('dialog');
    const confirm = dialog.getByRole('button', { name: 'Confirm' });
    expect(await confirm.isDisabled()).toBe(true);
    await dialog.getByLabel(/to confirm/).fill('stop all');
    expect(await confirm.isDisabled()).toBe(true);
    await dialog.getByLabel(/to confirm/).fill(KILL_PHRASE);
    await expectAccessible(page, 'the kill switch confirmation');
    await confirm.click();
    await expect.poll(() => page.getByText(/The global kill switch is ON/).isVisible()).toBe(true);
    // SPEC 3: the global switch answers 503 everywhere, whoami included (within a second, SPEC 7).
    await expect.poll(async () => (await whoami()).status, { timeout: 2_000 }).toBe(503);

    await page.getByRole('button', { name: 'Turn the global kill switch off' }).click();
    await page.getByRole('dialog').getByLabel(/to confirm/).fill(KILL_PHRASE);
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(() => page.getByText('The global kill switch is off.').isVisible()).toBe(true);
    await expect.poll(async () => (await whoami()).status, { timeout: 2_000 }).toBe(200);
    await expectAccessible(page, 'Kill switch');
  });

  it('shows the other operator pages without accessibility violations, and the key just used among the top keys', async () => {
    await server.deps.recording!.flush();
    for (const name of ['Keys', 'Plans', 'Audit log', 'Usage', 'Requests']) {
      await openPage(page, name);
      await page.waitForLoadState('networkidle');
      await expectAccessible(page, `operator ${name}`);
    }
    await openPage(page, 'Audit log');
    await expect.poll(() => page.getByRole('cell', { name: 'admin.kill_switch.set' }).count()).toBeGreaterThan(0);
    await openPage(page, 'Usage');
    await expect.poll(() => page.getByRole('table', { name: 'Top keys by requests' }).getByText(key.id).isVisible()).toBe(true);
  });

  let supportLink = '';
  it('invites a support operator', async () => {
    await openPage(page, 'Operators');
    await page.getByLabel('Email').fill(SUPPORT);
    await page.getByLabel('Role', { exact: true }).selectOption('support');
    await page.getByRole('button', { name: 'Invite' }).click();
    supportLink = await page.getByLabel('Invitation link').inputValue();
    await expectAccessible(page, 'Operators');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.goto(supportLink);
    await page.getByLabel('New password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Set password' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await signInThroughForm(page, SUPPORT, PASSWORD, 'Organizations');
  });

  it('support finds a key by its display prefix and kills it, and cannot change a plan', async () => {
    await openPage(page, 'Keys');
    await page.getByLabel('Display prefix or key_id').fill(`lp_live_${key.keyId}`);
    await page.getByRole('button', { name: 'Find key' }).click();
    const row = page.getByRole('row', { name: /globex prod/ });
    await row.getByRole('button', { name: 'Kill' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(() => row.getByText('killed').isVisible()).toBe(true);
    expect(await row.getByRole('button', { name: 'Revoke' }).count()).toBe(0);
    await expect.poll(async () => ((await (await whoami()).json()) as { killSwitch?: boolean }).killSwitch, { timeout: 2_000 }).toBe(true);

    await page.goto(`/console/ops/organizations/${organizationId}`);
    await page.getByRole('heading', { level: 1, name: 'Globex' }).waitFor();
    await page.waitForLoadState('networkidle');
    for (const name of ['Set plan', 'Set tier', 'Add credits', 'Set threshold', 'Invite', 'Turn API access off']) expect(await page.getByRole('button', { name }).count(), name).toBe(0);
    const refused = await asBrowserSession(context, server.baseUrl, 'PATCH', `/console/api/ops/organizations/${organizationId}`, { plan: 'pilot' });
    expect(refused.status).toBe(403);
    await openPage(page, 'Kill switch');
    expect(await page.getByRole('button', { name: /global kill switch/ }).count()).toBe(0);
    const global = await asBrowserSession(context, server.baseUrl, 'PUT', '/console/api/ops/kill-switch', { enabled: true });
    expect(global.status).toBe(403);
  });

  it('logged no error in the browser console', () => {
    expect(errors).toEqual([]);
  });
});
