// Browser tests of the console (SPEC 14): the real server over HTTP, and Debian's Chromium driven by playwright-core
// (no browser is downloaded; .ci/run installs the `chromium` package when it is missing).
import axe from 'axe-core';
import { existsSync } from 'node:fs';
import { freePort } from '../../server/test/fixtures/own-servers.ts';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';
import type { TestApp } from '../../server/test/harness.ts';
import { startPeopleApp } from '../../server/test/people-support.ts';

export const CHROMIUM = process.env.GATEHOUSE_CHROMIUM || '/usr/bin/chromium';
export const chromiumAvailable = existsSync(CHROMIUM);


export interface ConsoleServer extends TestApp {
  baseUrl: string;
}

/**
 * The server with the console, listening on 127.0.0.1. The public URL is this address (the console API checks
 * Origin against it), so the port is picked before the app is built.
 */
export async function startConsoleServer(): Promise<ConsoleServer> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const started = await startPeopleApp({ config: { port, publicUrl: baseUrl } });
  await started.app.listen({ port, host: '127.0.0.1' });
  return { ...started, baseUrl };
}

export async function launchChromium(): Promise<Browser> {
  // --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
}

/** A browser context whose pages record every console error and uncaught exception. */
export async function consoleContext(browser: Browser, baseUrl: string): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({ baseURL: baseUrl, viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: baseUrl });
  const errors: string[] = [];
  context.on('console', (message) => {
    if (message.type() === 'error') errors.push(`${message.text()} (${message.location().url}, on ${message.page()?.url()})`);
  });
  context.on('weberror', (error) => errors.push(String(error.error())));
  const page = await context.newPage();
  return { context, page, errors };
}

/**
 * axe-core, evaluated in the page (an injected <script> would be refused by the console's CSP, as it should be):
 * no violation of serious or critical impact.
 */
export async function expectAccessible(page: Page, what: string): Promise<void> {
  await page.evaluate(axe.source);
  const violations = await page.evaluate(async () => {
    const result = await (window as unknown as { axe: typeof axe }).axe.run(document, { resultTypes: ['violations'] });
    return result.violations
      .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
      .map((violation) => `${violation.id} (${violation.impact}): ${violation.help} — ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`);
  });
  expect(violations, `accessibility of ${what}`).toEqual([]);
}

/** Signs in through the sign-in form (SPEC 14's accessible names) and waits for the first page. */
export async function signInThroughForm(page: Page, email: string, password: string, landing: string): Promise<void> {
  await page.goto('/console/sign-in');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: landing }).waitFor();
}

/** Opens a page by its navigation link, as a person would, and waits for its heading. */
export async function openPage(page: Page, link: string, heading = link): Promise<void> {
  await page.getByRole('navigation').getByRole('link', { name: link, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: heading, exact: true }).waitFor();
}

/** The console API as the signed-in browser would call it, from outside the page (a refused call is no page error). */
export async function asBrowserSession(context: BrowserContext, baseUrl: string, method: string, path: string, body?: unknown): Promise<Response> {
  // The session cookie has Path=/console (SPEC 13.5).
  const cookies = await context.cookies(`${baseUrl}/console/`);
  const cookie = cookies.map((one) => `${one.name}=${one.value}`).join('; ');
  const session = (await (await fetch(`${baseUrl}/console/api/session`, { headers: { cookie } })).json()) as { csrfToken: string };
  return fetch(`${baseUrl}${path}`, {
    method,
    headers: { cookie, origin: baseUrl, 'x-csrf-token': session.csrfToken, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}
