import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { generateKey } from '../src/keys/format.ts';
import { parseTrustProxy } from '../src/net/client-address.ts';
import { admin, partnerWithKey } from './factories.ts';
import { startTestApp, type TestApp } from './harness.ts';

/**
 * SPEC 13.4, issue 20: the client address is the socket's peer unless GATEHOUSE_TRUST_PROXY names the proxies in
 * front; then the rightmost X-Forwarded-For address that is not a trusted proxy. Real HTTP from 127.0.0.1, so the
 * socket's peer is what a server behind a proxy on the same host sees.
 */
async function listening(trustProxy: string | undefined): Promise<{ t: TestApp; base: string }> {
  const t = await startTestApp({ config: { authFailuresPerMinute: 3, trustProxy: parseTrustProxy(trustProxy) } });
  const address = await t.app.listen({ host: '127.0.0.1', port: 0 });
  return { t, base: address };
}

const guess = () => generateKey('lp', 'live').key;

async function whoami(base: string, key: string, forwardedFor?: string): Promise<Response> {
  return fetch(`${base}/v1/whoami`, { headers: { 'x-api-key': key, connection: 'close', ...(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}) } });
}

describe('client address behind a trusted proxy (GATEHOUSE_TRUST_PROXY=127.0.0.1)', () => {
  let t: TestApp;
  let base: string;
  beforeAll(async () => ({ t, base } = await listening('127.0.0.1')));
  afterAll(async () => t.close());

  it('throttles failures per forwarded address: a flood from one never refuses another', async () => {
    for (let i = 0; i < 3; i++) expect((await whoami(base, guess(), '203.0.113.10')).status).toBe(401);
    expect((await whoami(base, guess(), '203.0.113.10')).status).toBe(429);
    // Another client behind the same proxy is untouched by the first one's failures.
    expect((await whoami(base, guess(), '203.0.113.11')).status).toBe(401);
    // A client cannot escape its own throttle by prepending addresses: the proxy appends the real one on the right.
    expect((await whoami(base, guess(), '198.51.100.1, 203.0.113.10')).status).toBe(429);
  });

  it('records the forwarded address in the request log and the audit entries', async () => {
    const { key } = await partnerWithKey(t.app);
    const read = await whoami(base, key.key, '192.0.2.44');
    expect(read.status).toBe(200);
    const created = await fetch(`${base}/v1/projects`, {
      method: 'POST',
      headers: { 'x-api-key': key.key, 'x-forwarded-for': '192.0.2.45', 'content-type': 'application/json', connection: 'close' },
      body: JSON.stringify({ name: 'Who is calling' }),
    });
    expect(created.status).toBe(201);
    await t.deps.recording!.flush();
    const row = await admin(t.app, 'GET', `/admin/v1/requests/${read.headers.get('x-request-id')}`);
    expect(row.json().clientAddress).toBe('192.0.2.44');
    const audit = await admin(t.app, 'GET', `/admin/v1/audit?apiKeyId=${key.id}&action=project.create`);
    expect(audit.json().data[0]).toMatchObject({ requestId: created.headers.get('x-request-id'), clientAddress: '192.0.2.45' });
    expect(t.logs.text).toContain('"clientAddress":"192.0.2.44"');
  });
});

describe('client address with no trusted proxy', () => {
  let t: TestApp;
  let base: string;
  beforeAll(async () => ({ t, base } = await listening(undefined)));
  afterAll(async () => t.close());

  it('ignores a spoofed X-Forwarded-For: every failure counts against the socket peer', async () => {
    for (let i = 0; i < 3; i++) expect((await whoami(base, guess(), `203.0.113.${20 + i}`)).status).toBe(401);
    expect((await whoami(base, guess(), '203.0.113.99')).status).toBe(429);
    expect((await whoami(base, guess())).status).toBe(429);
  });

  it('records the peer, not the header, in the request log', async () => {
    const { key } = await partnerWithKey(t.app);
    const read = await whoami(base, key.key, '192.0.2.44');
    await t.deps.recording!.flush();
    const row = await admin(t.app, 'GET', `/admin/v1/requests/${read.headers.get('x-request-id')}`);
    expect(row.json().clientAddress).toBe('127.0.0.1');
  });
});

describe('client address with a hop count and with a chain of proxies', () => {
  let hops: { t: TestApp; base: string };
  let chain: { t: TestApp; base: string };
  beforeAll(async () => {
    hops = await listening('1');
    chain = await listening('127.0.0.1, 10.0.0.0/8');
  });
  afterAll(async () => {
    await hops.t.close();
    await chain.t.close();
  });

  it('trusts exactly as many hops as configured', async () => {
    const { key } = await partnerWithKey(hops.t.app);
    // One hop: the peer is the proxy; the address it appended is the client, whatever the client put further left.
    const read = await whoami(hops.base, key.key, '10.9.9.9, 198.51.100.20');
    await hops.t.deps.recording!.flush();
    const row = await admin(hops.t.app, 'GET', `/admin/v1/requests/${read.headers.get('x-request-id')}`);
    expect(row.json().clientAddress).toBe('198.51.100.20');
  });

  it('skips every trusted proxy from the right, and stops at the first address that is not one', async () => {
    const { key } = await partnerWithKey(chain.t.app);
    const read = await whoami(chain.base, key.key, '192.0.2.1, 198.51.100.30, 10.1.2.3');
    await chain.t.deps.recording!.flush();
    const row = await admin(chain.t.app, 'GET', `/admin/v1/requests/${read.headers.get('x-request-id')}`);
    expect(row.json().clientAddress).toBe('198.51.100.30');
  });
});

describe('GATEHOUSE_TRUST_PROXY parsing', () => {
  it('refuses anything that is not addresses, CIDRs or a hop count', () => {
    for (const bad of ['yes', '10.0.0.0/33', '0', '1.2.3.4,nope']) {
      expect(() => loadConfig({ GATEHOUSE_TRUST_PROXY: bad })).toThrow(ConfigError);
    }
    expect(loadConfig({ GATEHOUSE_TRUST_PROXY: '::1, 127.0.0.1, 10.0.0.0/8' }).trustProxy).toBeTypeOf('function');
    expect(loadConfig({}).trustProxy).toBeUndefined();
  });

  it('matches IPv4-mapped IPv6 peers as IPv4', () => {
    const trust = parseTrustProxy('127.0.0.1')!;
    expect(trust('::ffff:127.0.0.1', 0)).toBe(true);
    expect(trust('::1', 0)).toBe(false);
    expect(parseTrustProxy('::1')!('::1', 0)).toBe(true);
  });
});
