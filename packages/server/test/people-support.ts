import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import type { Config } from '../src/config.ts';
import type { Mail, Mailer } from '../src/people/mailer.ts';
import { admin } from './factories.ts';
import { startTestApp, type TestApp, type TestAppOptions } from './harness.ts';

/** The console's public URL in tests: every state-changing console request sends this Origin. */
export const PUBLIC_URL = 'http://console.gatehouse.test';
export const ORIGIN = PUBLIC_URL;
/** Passes the password rules (12+ characters, not a common one). */
export const PASSWORD = 'violet-anchor-harbour-42';

/** argon2 at its smallest: the cost is argon2's business; these tests are about what is done with it. */
export const FAST_PEOPLE: Partial<Config> = {
  publicUrl: PUBLIC_URL,
  people: { argon2MemoryKiB: 1024, argon2TimeCost: 1, signInFailuresPerAccount: 1000, signInFailuresPerAddress: 1000 },
};

/** A clock the test moves (idle and absolute expiry, TOTP steps). */
export class TestClock {
  constructor(public ms = Date.UTC(2026, 0, 15, 9, 0, 0)) {}
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** Keeps the mail the app would send, for tests that read links without an SMTP server. */
export class MailBox implements Mailer {
  readonly sent: Mail[] = [];
  async send(mail: Mail): Promise<void> {
    this.sent.push(mail);
  }
  close(): void {}

  /**
   * The first mail to `to` among those sent after the first `seen`, once it is there: a reset is mailed after the
   * request's answer (so its timing tells nothing), so the test waits for it rather than for a guessed while.
   */
  nextTo(to: string, seen: number, timeoutMs = 5_000): Promise<Mail> {
    return waitFor(() => this.sent.slice(seen).find((mail) => mail.to === to), timeoutMs, `a new mail to ${to}`);
  }
}

/** What `find` returns once it returns something, looked for every 20 ms for up to `timeoutMs`. */
export async function waitFor<T>(find: () => T | undefined, timeoutMs = 10_000, what = 'it'): Promise<T> {
  const started = Date.now();
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * `attempt` again while it answers 404, for up to `timeoutMs`; the last answer either way. A link is mailed inside the
 * transaction that keeps it, just before its COMMIT (a refused mail rolls it back), so on PostgreSQL on a busy machine
 * the mail can arrive before another connection sees the link. A link that never works still fails, after the wait.
 */
export async function retriedWhileNotFound<T extends { statusCode: number }>(attempt: () => Promise<T>, timeoutMs = 5_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const answer = await attempt();
    if (answer.statusCode !== 404 || Date.now() - started > timeoutMs) return answer;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function startPeopleApp(options: TestAppOptions & { clock?: TestClock } = {}): Promise<TestApp> {
  return startTestApp({
    ...options,
    config: { ...FAST_PEOPLE, ...options.config, people: { ...FAST_PEOPLE.people, ...options.config?.people } },
    deps: { ...(options.clock ? { now: options.clock.now } : {}), ...options.deps },
  });
}

export interface Session {
  cookie: string;
  token: string;
  csrf: string;
  personId: string;
  email: string;
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A console call as the console makes it: the session cookie, its CSRF token, and the console's Origin. */
export function asPerson(app: FastifyInstance, session: Session | null, method: Method, url: string, body?: unknown, headers: Record<string, string> = {}) {
  return app.inject({
    method,
    url,
    headers: {
      origin: ORIGIN,
      ...(session ? { cookie: session.cookie, 'x-csrf-token': session.csrf } : {}),
      ...headers,
    },
    ...(body === undefined ? {} : { payload: body as object }),
  });
}

export function tokenOfLink(link: string): string {
  const match = /#token=([A-Za-z0-9_-]{43})$/.exec(link);
  if (!match) throw new Error(`not a one-time link: ${link}`);
  return match[1]!;
}

export function sessionTokenOf(response: LightMyRequestResponse): string {
  const header = [response.headers['set-cookie'] ?? []].flat().join('\n');
  const match = /gh_session=([A-Za-z0-9_-]{43});/.exec(header);
  if (!match) throw new Error(`no session cookie in ${response.statusCode} ${response.body}`);
  return match[1]!;
}

export async function signIn(app: FastifyInstance, email: string, password = PASSWORD, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<Session> {
  const response = await app.inject({ method: 'POST', url: '/console/api/sign-in', headers: { origin: ORIGIN, ...headers }, payload: { email, password, ...extra } });
  expect(response.statusCode, response.body).toBe(200);
  const token = sessionTokenOf(response);
  return { cookie: `gh_session=${token}`, token, csrf: response.json().csrfToken, personId: response.json().person.id, email };
}

/** An invitation through the admin API (operator or partner), accepted with PASSWORD: the new person's id. */
export async function invited(app: FastifyInstance, organizationId: string | null, email: string, role: string, origin = ORIGIN): Promise<string> {
  const made = organizationId
    ? await admin(app, 'POST', `/admin/v1/organizations/${organizationId}/invitations`, { email, role })
    : await admin(app, 'POST', '/admin/v1/operators', { email, role });
  expect(made.statusCode, made.body).toBe(201);
  const accepted = await app.inject({
    method: 'POST',
    url: '/console/api/invitations/accept',
    headers: { origin },
    payload: { token: tokenOfLink(made.json().link), password: PASSWORD },
  });
  expect(accepted.statusCode, accepted.body).toBe(201);
  return accepted.json().id;
}

/** A person invited, accepted and signed in. */
export async function personWithSession(app: FastifyInstance, organizationId: string | null, email: string, role: string): Promise<Session> {
  await invited(app, organizationId, email, role);
  return signIn(app, email);
}

export function expectError(response: LightMyRequestResponse, status: number, code: string): void {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.json().error.code).toBe(code);
  expect(response.json().error.requestId).toBe(response.headers['x-request-id']);
}
