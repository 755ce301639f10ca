import { createServer, type Server } from 'node:http';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin } from '../../server/test/factories.ts';
import { invited, PASSWORD } from '../../server/test/people-support.ts';
import { asBrowserSession, chromiumAvailable, consoleContext, expectAccessible, launchChromium, openPage, signInThroughForm, startConsoleServer, type ConsoleServer } from './browser.ts';

const OWNER = 'owner@acme.example';
const TEAMMATE = 'viewer@acme.example';

/**
 * SPEC 14 in Chromium, for partner users: the owner's day (a key from creation to revocation, usage, the request log,
 * a webhook's test ping, a teammate invited) and a viewer who can change nothing. One browser, one server.
 */
describe.runIf(chromiumAvailable)('the console for partners, in a browser', () => {
  let server: ConsoleServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let errors: string[];
  let hook: Server;
  let hookUrl = '';
  let organizationId = '';
  let plainKey = '';
  const whoamiRequestIds: string[] = [];

  beforeAll(async () => {
    server = await startConsoleServer();
    browser = await launchChromium();
    ({ context, page, errors } = await consoleContext(browser, server.baseUrl));
    hook = createServer((request, response) => {
      request.resume();
      request.on('end', () => response.writeHead(204).end());
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    const address = hook.address();
    hookUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hooks/gatehouse`;
    const created = await admin(server.app, 'POST', '/admin/v1/organizations', { name: 'Acme', plan: 'partner', creditBalance: 500 });
    expect(created.statusCode, created.body).toBe(201);
    organizationId = created.json().id;
    await invited(server.app, organizationId, OWNER, 'owner', server.baseUrl);
    // A store, its migrations and a browser: slow on a loaded 2-core machine.
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => hook?.close(resolve));
    await server?.close();
  });

  const whoami = (key: string) => fetch(`${server.baseUrl}/v1/whoami`, { headers: { 'X-Api-Key': key } });

  it('signs the owner in with the form SPEC 14 names, and the sign-in page is accessible', async () => {
    await page.goto('/console/sign-in');
    await expectAccessible(page, 'sign-in');
    await signInThroughForm(page, OWNER, PASSWORD, 'Overview');
    await expect.poll(() => page.getByText('Acme').first().isVisible()).toBe(true);
  });

  it('creates a key, shows it once with Copy, and the copied key answers /v1/whoami', async () => {
    await openPage(page, 'API keys');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.getByLabel('Name').fill('billing sync');
    await page.getByLabel('Environment').selectOption('live');
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    const shown = page.getByLabel('New API key');
    await shown.waitFor();
    await expect.poll(() => page.getByText('it will not be shown again').isVisible()).toBe(true);
    await expectAccessible(page, 'API keys with a new key shown');
    await page.getByRole('button', { name: 'Copy' }).click();
    plainKey = await page.evaluate(() => navigator.clipboard.readText());
    expect(plainKey).toBe(await shown.inputValue());
    expect(plainKey).toMatch(/^lp_live_[0-9A-Z]{16}_/);

    for (let call = 0; call < 3; call++) {
      const answer = await whoami(plainKey);
      expect(answer.status).toBe(200);
      whoamiRequestIds.push(answer.headers.get('x-request-id')!);
    }
    // Done: the key is gone from the page for good.
    await page.getByRole('button', { name: 'Done' }).click();
    expect(await page.getByLabel('New API key').count()).toBe(0);
    await expect.poll(() => page.getByRole('row', { name: /billing sync/ }).getByText('active').isVisible()).toBe(true);
  });

  it('shows the requests just made on the overview chart and the usage page', async () => {
    await server.deps.recording!.flush();
    await openPage(page, 'Overview');
    await expect.poll(() => page.getByText('3 requests, 0 rate limited (429).').isVisible()).toBe(true);
    expect(await page.getByRole('img', { name: /Requests and 429s per hour: 3 requests/ }).locator('canvas').count()).toBe(1);
    await expectAccessible(page, 'Overview');
    await openPage(page, 'Usage');
    await expect.poll(() => page.getByText('3 requests, 0 rate limited (429).').isVisible()).toBe(true);
    await expect.poll(() => page.getByRole('row', { name: /billing sync read-light 3/ }).isVisible()).toBe(true);
    await expectAccessible(page, 'Usage');
  });

  it('finds a request by its id in the request log, with the search in the URL', async () => {
    await openPage(page, 'Requests');
    const wanted = whoamiRequestIds[1]!;
    await page.getByLabel('Request id').fill(wanted);
    await page.getByRole('button', { name: 'Find request' }).click();
    const found = page.getByRole('region', { name: 'Request found' });
    await expect.poll(() => found.getByText(wanted, { exact: true }).isVisible()).toBe(true);
    expect(new URL(page.url()).searchParams.get('requestId')).toBe(wanted);
    await expect.poll(() => found.getByRole('cell', { name: '/v1/whoami' }).isVisible()).toBe(true);
    // The log itself lists all three.
    for (const id of whoamiRequestIds) expect(await page.getByRole('table', { name: 'Request log, newest first' }).getByText(id).count()).toBe(1);
    await expectAccessible(page, 'Requests');
  });

  it('the Test mode switch shows the test world, visibly marked, and back', async () => {
    const requestLog = page.getByRole('table', { name: 'Request log, newest first' });
    // (A live request id looked up in the test world would be a 404: an error line in the browser console.)
    await page.getByRole('button', { name: 'Clear' }).click();
    await page.getByRole('switch', { name: 'Test mode' }).check();
    await expect.poll(() => page.getByText(/Test mode: these pages show the test world/).isVisible()).toBe(true);
    // The live key's requests are not the test world's.
    await expect.poll(() => page.getByText('No requests match.').isVisible()).toBe(true);
    await expectAccessible(page, 'Requests in test mode');
    await page.getByRole('switch', { name: 'Test mode' }).uncheck();
    await expect.poll(() => requestLog.getByText(whoamiRequestIds[0]!).isVisible()).toBe(true);
    expect(await page.getByText(/Test mode: these pages/).count()).toBe(0);
  });

  it('kills the key (whoami shows the switch), then revokes it, each after a confirmation', async () => {
    await openPage(page, 'API keys');
    const row = page.getByRole('row', { name: /billing sync/ });
    await row.getByRole('button', { name: 'Kill' }).click();
    const dialog = page.getByRole('dialog');
    await expectAccessible(page, 'the kill confirmation');
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(() => row.getByText('killed').isVisible()).toBe(true);
    // SPEC 3: whoami still answers, with the key's switch on; SPEC 7: in force within a second.
    await expect.poll(async () => ((await (await whoami(plainKey)).json()) as { killSwitch?: boolean }).killSwitch, { timeout: 2_000 }).toBe(true);

    await row.getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(() => row.getByText('revoked').isVisible()).toBe(true);
    expect(await row.getByRole('button').count()).toBe(0);
    await expect.poll(async () => (await whoami(plainKey)).status, { timeout: 2_000 }).toBe(401);
  });

  it('sends a webhook endpoint a test ping and shows the outcome, then its delivery', async () => {
    await openPage(page, 'Webhooks');
    await page.getByLabel('Endpoint URL').fill(hookUrl);
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    await page.getByLabel('Signing secret').waitFor();
    const row = page.getByRole('row', { name: new RegExp(hookUrl.replace(/[.]/g, '\\.')) });
    await row.getByRole('button', { name: 'Send test ping' }).click();
    await expect.poll(() => row.getByText(/Test ping delivered: HTTP 204 in \d+ ms/).isVisible()).toBe(true);
    await row.getByRole('link', { name: 'Deliveries' }).click();
    await expect.poll(() => page.getByRole('region', { name: 'Deliveries' }).getByRole('row').count()).toBeGreaterThan(1);
    await expectAccessible(page, 'Webhooks');
  });

  it('shows the audit log of what the owner did', async () => {
    await openPage(page, 'Audit log');
    await expect.poll(() => page.getByRole('cell', { name: 'key.revoke' }).isVisible()).toBe(true);
    await page.getByLabel('Action').fill('key.kill');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => page.getByRole('cell', { name: 'key.revoke' }).count()).toBe(0);
    expect(new URL(page.url()).searchParams.get('action')).toBe('key.kill');
    expect(await page.getByRole('cell', { name: 'key.kill' }).count()).toBe(1);
    await expectAccessible(page, 'Audit log');
    await openPage(page, 'Account');
    await expectAccessible(page, 'Account');
  });

  let inviteLink = '';
  it('invites a teammate as viewer; the link is shown once with Copy', async () => {
    await openPage(page, 'Team');
    await page.getByLabel('Email').fill(TEAMMATE);
    await page.getByLabel('Role', { exact: true }).selectOption('viewer');
    await page.getByRole('button', { name: 'Invite' }).click();
    inviteLink = await page.getByLabel('Invitation link').inputValue();
    expect(inviteLink).toMatch(new RegExp(`^${server.baseUrl}/console/accept-invitation#token=`));
    await expect.poll(() => page.getByRole('table', { name: 'Open invitations' }).getByText(TEAMMATE).isVisible()).toBe(true);
    await expectAccessible(page, 'Team');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  });

  it('the teammate accepts through the link, sets a password and signs in as a viewer', async () => {
    await page.goto(inviteLink);
    await expectAccessible(page, 'accept-invitation');
    await page.getByLabel('New password').fill('teammate-password-2026-lilac');
    await page.getByRole('button', { name: 'Set password' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await signInThroughForm(page, TEAMMATE, 'teammate-password-2026-lilac', 'Overview');
    expect(await page.getByText(`${TEAMMATE} · viewer`).count()).toBe(1);
  });

  it('shows the viewer no button that changes anything, and the API refuses the viewer anyway', async () => {
    const mutating = ['Create key', 'Roll', 'Kill', 'Revoke', 'Add endpoint', 'Send test ping', 'Delete', 'Invite', 'Remove', 'Withdraw'];
    for (const [link, heading] of [
      ['API keys', 'API keys'],
      ['Webhooks', 'Webhooks'],
      ['Team', 'Team'],
    ] as const) {
      await openPage(page, link, heading);
      await page.waitForLoadState('networkidle');
      for (const name of mutating) expect(await page.getByRole('button', { name, exact: true }).count(), `${name} on ${link}`).toBe(0);
      expect(await page.getByRole('combobox', { name: /^Role of / }).count()).toBe(0);
    }
    // Reads still work: the keys are listed.
    await openPage(page, 'API keys');
    await expect.poll(() => page.getByRole('row', { name: /billing sync/ }).isVisible()).toBe(true);
    const refused = await asBrowserSession(context, server.baseUrl, 'POST', '/console/api/org/keys', { name: 'sneaky' });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('FORBIDDEN');
    const invite = await asBrowserSession(context, server.baseUrl, 'POST', '/console/api/org/team/invitations', { email: 'x@acme.example', role: 'owner' });
    expect(invite.status).toBe(403);
  });

  it('logged no error in the browser console', () => {
    expect(errors).toEqual([]);
  });
});
