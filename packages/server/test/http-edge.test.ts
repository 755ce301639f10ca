import net from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, partnerWithKey, withKey } from './factories.ts';
import { startTestApp, type TestApp } from './harness.ts';
import { httpRequest, parseRawResponse, rawRequest, type RawResponse } from './raw-http.ts';

/** The SPEC 4 envelope, with an X-Request-Id equal to its requestId, and nothing of the request echoed. */
function expectEnvelope(response: RawResponse, status: number, echoed: string[] = []): void {
  expect(response.status).toBe(status);
  const body = JSON.parse(response.body) as { error: { code: string; message: string; requestId: string } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error.requestId).toMatch(/^req_/);
  expect(response.headers['x-request-id']).toBe(body.error.requestId);
  expect(response.headers['x-content-type-options']).toBe('nosniff');
  for (const text of echoed) expect(response.body).not.toContain(text);
}

/**
 * Sends the head of a request at once, then its body a byte every `everyMs`: the slow body of issue 13, finding 11.
 * Resolves with what the server answered and when it closed, or after `giveUpMs`.
 */
function slowBody(port: number, head: string, body: string, everyMs: number, giveUpMs: number) {
  return new Promise<{ response: RawResponse; closedAfterMs: number; closedByServer: boolean }>((resolve) => {
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let sent = 0;
    let closedByServer = true;
    socket.write(head);
    const drip = setInterval(() => {
      if (sent < body.length && socket.writable) socket.write(body[sent++]!);
    }, everyMs);
    const giveUp = setTimeout(() => {
      closedByServer = false;
      socket.destroy();
    }, giveUpMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(drip);
      clearTimeout(giveUp);
      resolve({ response: parseRawResponse(Buffer.concat(chunks).toString('utf8')), closedAfterMs: Date.now() - started, closedByServer });
    });
  });
}

describe('request timeouts (issue 13, finding 11)', () => {
  let t: TestApp;
  let port: number;
  let apiKey: string;
  beforeAll(async () => {
    t = await startTestApp({
      config: { timeouts: { headersMs: 1_000, requestMs: 1_500 } },
      // 256 MB in 64 KB chunks, each made when the socket takes the last: more than any socket buffer holds.
      extraRoutes: (app) =>
        app.get('/test/long-answer', (_request, reply) =>
          reply.send(Readable.from((function* () { for (let i = 0; i < 4_096; i++) yield Buffer.alloc(65_536, 'x'); })())),
        ),
    });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as { port: number }).port;
    apiKey = (await partnerWithKey(t.app)).key.key;
  });
  afterAll(async () => t.close());

  it('answers an authenticated POST whose body arrives a byte at a time 408 in the envelope, and closes it', async () => {
    const body = JSON.stringify({ name: 'slow project that takes its time to arrive' });
    const head = httpRequest('POST', '/v1/projects', { ...withKey(apiKey), 'content-type': 'application/json', 'content-length': String(body.length) });
    const { response, closedAfterMs, closedByServer } = await slowBody(port, head, body, 200, 8_000);
    expect(closedByServer).toBe(true);
    expect(closedAfterMs).toBeLessThan(4_000);
    expectEnvelope(response, 408);
    expect(await t.deps.store.db.selectFrom('projects').selectAll().execute()).toEqual([]);
  });

  it('closes a connection whose headers never finish', async () => {
    const { response, closedAfterMs, closedByServer } = await slowBody(port, 'GET /v1/whoami HTTP/1.1\r\nHost: x\r\n', 'X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 100, 8_000);
    expect(closedByServer).toBe(true);
    expect(closedAfterMs).toBeLessThan(4_000);
    expectEnvelope(response, 408);
  });

  it('closes a connection whose client stops reading the answer', async () => {
    const socket = net.connect(port, '127.0.0.1');
    socket.write(httpRequest('GET', '/test/long-answer', {}));
    // The client stops reading at the first bytes and reads again after 4 s: a paused socket does not see the
    // server's close until it reads. Whatever the buffers held arrives, then the end, not the other 250 MB.
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      if (received === 0) {
        socket.pause();
        setTimeout(() => socket.resume(), 4_000);
      }
      received += chunk.length;
    });
    const closedByServer = await new Promise<boolean>((resolve) => {
      const giveUp = setTimeout(() => resolve(false), 20_000);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearTimeout(giveUp);
        resolve(true);
      });
    });
    socket.destroy();
    expect(closedByServer).toBe(true);
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(64 * 1024 * 1024);
  });

  it('leaves a request that arrives in time alone', async () => {
    const response = await rawRequest(port, httpRequest('POST', '/v1/projects', withKey(apiKey), JSON.stringify({ name: 'on time' })));
    expect(response.status).toBe(201);
  });
});

describe('every answer in the envelope (issue 13, finding 12) with the edge headers (finding 15)', () => {
  let t: TestApp;
  let port: number;
  let apiKey: string;
  beforeAll(async () => {
    t = await startTestApp();
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as { port: number }).port;
    apiKey = (await partnerWithKey(t.app)).key.key;
  });
  afterAll(async () => t.close());

  it('answers a path that does not decode 400 in the envelope, without echoing it', async () => {
    for (const target of ['/v1/projects/%ff%fe', '/v1/projects/%zz', '/admin/v1/organizations/%c0%af']) {
      expectEnvelope(await rawRequest(port, httpRequest('GET', target, withKey(apiKey))), 400, ['%ff', '%zz', '%c0', 'FST_']);
    }
  });

  it('answers an over-long path parameter 414 in the envelope, without echoing it', async () => {
    const id = 'a'.repeat(150);
    expectEnvelope(await rawRequest(port, httpRequest('GET', `/v1/projects/${id}`, withKey(apiKey))), 414, [id, 'FST_']);
  });

  it('answers what the HTTP parser refuses in the envelope: bad syntax, headers too large', async () => {
    expectEnvelope(await rawRequest(port, 'GET /v1/whoami HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n'), 400);
    expectEnvelope(await rawRequest(port, `GET /v1/projects?q=${'x'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`), 431, ['xxxx']);
  });
});

describe('an answer while the server shuts down (issue 13, finding 12)', () => {
  it('answers a request that arrives on an open connection after close began 503 in the envelope', async () => {
    let entered: () => void = () => undefined;
    const slowEntered = new Promise<void>((resolve) => (entered = resolve));
    let release: () => void = () => undefined;
    const t = await startTestApp({
      extraRoutes: (app) => {
        app.get('/test/slow', { config: { public: true } }, () => {
          entered();
          return new Promise((resolve) => (release = () => resolve({ ok: true })));
        });
      },
    });
    try {
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      const port = (t.app.server.address() as { port: number }).port;
      const socket = net.connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', () => undefined);
      const socketClosed = new Promise((resolve) => socket.on('close', resolve));
      socket.write('GET /test/slow HTTP/1.1\r\nHost: x\r\n\r\n');
      await slowEntered;
      // The connection is busy, so closing leaves it open; the next request on it arrives after close began.
      const closing = t.app.close();
      while (t.app.server.listening) await new Promise((resolve) => setTimeout(resolve, 10));
      socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      await new Promise((resolve) => setTimeout(resolve, 100));
      release();
      await socketClosed;
      await closing;
      const text = Buffer.concat(chunks).toString('utf8');
      const second = parseRawResponse(text.slice(text.indexOf('HTTP/1.1', 10)));
      expectEnvelope(second, 503);
      expect(JSON.parse(second.body).error.code).toBe('UNAVAILABLE');
    } finally {
      await t.close();
    }
  });
});

describe('edge headers on every answer (issue 13, finding 15)', () => {
  let t: TestApp;
  let apiKey: string;
  let organizationId: string;
  beforeAll(async () => {
    t = await startTestApp();
    const partner = await partnerWithKey(t.app);
    apiKey = partner.key.key;
    organizationId = partner.organization.id;
  });
  afterAll(async () => t.close());

  it('marks every answer that carries a secret no-store, and every answer nosniff', async () => {
    const created = await t.app.inject({ method: 'POST', url: '/v1/api-keys', headers: withKey(apiKey), payload: { name: 'second' } });
    expect(created.statusCode).toBe(201);
    const rolled = await t.app.inject({ method: 'POST', url: `/v1/api-keys/${created.json().id}/roll`, headers: withKey(apiKey), payload: {} });
    expect(rolled.statusCode).toBe(201);
    const webhook = await t.app.inject({ method: 'POST', url: '/v1/webhook-endpoints', headers: withKey(apiKey), payload: { url: 'https://hooks.example.com/in', events: ['job.succeeded'] } });
    expect(webhook.json()).toHaveProperty('secret');
    const issued = await admin(t.app, 'POST', `/admin/v1/organizations/${organizationId}/keys`, { name: 'issued' });
    expect(issued.statusCode).toBe(201);
    // Without SMTP, an invitation's one-time link is in the answer.
    const invitation = await admin(t.app, 'POST', `/admin/v1/organizations/${organizationId}/invitations`, { email: 'edge@example.com', role: 'developer' });
    expect(invitation.statusCode).toBe(201);
    expect(JSON.stringify(invitation.json())).toMatch(/https?:\/\//);
    for (const answer of [created, rolled, webhook, issued, invitation]) {
      expect(answer.headers['cache-control']).toBe('no-store');
      expect(answer.headers['x-content-type-options']).toBe('nosniff');
    }
    for (const url of ['/healthz', '/readyz', '/metrics', '/v1/whoami', '/v1/nope', '/v1/openapi.json', '/admin/v1/plans', '/console/', '/console/api/session', '/%ff']) {
      const answer = await t.app.inject({ url, headers: withKey(apiKey) });
      expect(answer.headers['x-content-type-options'], url).toBe('nosniff');
    }
  });
});

describe('idempotency scope on the decoded path (issue 13, finding 15)', () => {
  let t: TestApp;
  let apiKey: string;
  beforeAll(async () => {
    t = await startTestApp();
    apiKey = (await partnerWithKey(t.app)).key.key;
  });
  afterAll(async () => t.close());

  it('treats /v1/%70rojects and /v1/projects as one path: one Idempotency-Key runs once', async () => {
    const headers = withKey(apiKey, { 'idempotency-key': 'one-project-please' });
    const payload = { name: 'Once only' };
    const first = await t.app.inject({ method: 'POST', url: '/v1/projects', headers, payload });
    expect(first.statusCode).toBe(201);
    for (const url of ['/v1/%70rojects', '/v1/%70%72%6f%6a%65%63%74%73', '/v1/projects?x=1']) {
      const again = await t.app.inject({ method: 'POST', url, headers, payload });
      expect(again.statusCode, url).toBe(201);
      expect(again.headers['idempotent-replayed'], url).toBe('true');
      expect(again.json().id, url).toBe(first.json().id);
    }
    const projectId = first.json().id as string;
    // Path parameters too: the same id, percent-encoded or not, is one path.
    const archived = await t.app.inject({ method: 'POST', url: `/v1/projects/${projectId}/archive`, headers, payload: {} });
    expect(archived.statusCode).toBeLessThan(300);
    const encodedId = projectId.replace(/[a-f]/g, (letter) => `%${letter.charCodeAt(0).toString(16)}`);
    const archivedAgain = await t.app.inject({ method: 'POST', url: `/v1/projects/${encodedId}/arch%69ve`, headers, payload: {} });
    expect(archivedAgain.headers['idempotent-replayed']).toBe('true');
    expect(await t.deps.store.db.selectFrom('projects').select('id').execute()).toHaveLength(1);
  });
});

describe('the metrics token and key whitespace (issue 13, finding 15)', () => {
  let t: TestApp;
  let apiKey: string;
  beforeAll(async () => {
    t = await startTestApp({ config: { metricsToken: 'metrics-token-0123456789' } });
    apiKey = (await partnerWithKey(t.app)).key.key;
  });
  afterAll(async () => t.close());

  it('serves /metrics only with GATEHOUSE_METRICS_TOKEN as a bearer token when one is set', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { 'x-admin-token': 'metrics-token-0123456789' }]) {
      const refused = await t.app.inject({ url: '/metrics', headers });
      expect(refused.statusCode).toBe(401);
      expect(refused.json().error.code).toBe('UNAUTHENTICATED');
      expect(refused.body).not.toContain('gatehouse_');
    }
    const served = await t.app.inject({ url: '/metrics', headers: { authorization: 'Bearer metrics-token-0123456789' } });
    expect(served.statusCode).toBe(200);
    expect(served.body).toContain('gatehouse_http_requests_total');
  });

  it('trims only ASCII whitespace around a key: a no-break space is part of what was sent', async () => {
    const whoami = (value: string) => t.app.inject({ url: '/v1/whoami', headers: { 'x-api-key': value } });
    expect((await whoami(`${apiKey}\u00a0`)).statusCode).toBe(401);
    expect((await whoami(`\u00a0${apiKey}`)).statusCode).toBe(401);
    expect((await whoami(`${apiKey}\u2003`)).statusCode).toBe(401);
    expect((await whoami(` ${apiKey}\t`)).statusCode).toBe(200);
  });
});
