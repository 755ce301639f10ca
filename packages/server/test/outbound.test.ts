import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPublicAddress } from '../src/outbound/address-policy.ts';
import { OutboundError } from '../src/outbound/errors.ts';
import { safeFetch, type SafeFetchOptions } from '../src/outbound/safe-fetch.ts';
import { sendJson, sleep, startFakeUpstream, type FakeUpstream } from './fixtures/fake-upstream.ts';

let upstream: FakeUpstream;
beforeAll(async () => {
  upstream = await startFakeUpstream(async (request, response, url) => {
    const hops = Number(url.searchParams.get('hops') ?? 0);
    switch (url.pathname) {
      case '/ok':
        return sendJson(response, 200, { hello: 'world', host: request.headers.host });
      case '/redirect': {
        const target = hops > 1 ? `/redirect?hops=${hops - 1}` : '/ok';
        response.writeHead(302, { location: target }).end();
        return;
      }
      case '/redirect-to': {
        response.writeHead(307, { location: url.searchParams.get('target')! }).end();
        return;
      }
      case '/slow':
        await sleep(5_000);
        if (!response.destroyed) sendJson(response, 200, {});
        return;
      case '/hang':
        return; // never answers; the client decides when to stop
      case '/big': {
        response.writeHead(200, { 'content-type': 'application/octet-stream' });
        response.end(Buffer.alloc(64 * 1024, 1));
        return;
      }
      case '/big-declared': {
        response.writeHead(200, { 'content-length': String(10 * 1024 * 1024) });
        response.write('x');
        return;
      }
      case '/gzip-bomb': {
        const packed = gzipSync(Buffer.alloc(8 * 1024 * 1024, 0));
        response.writeHead(200, { 'content-encoding': 'gzip', 'content-length': String(packed.length) });
        response.end(packed);
        return;
      }
      case '/gzip': {
        const packed = gzipSync(JSON.stringify({ packed: true }));
        response.writeHead(200, { 'content-encoding': 'gzip', 'content-type': 'application/json' });
        response.end(packed);
        return;
      }
      case '/junk':
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"not json');
        return;
      default:
        sendJson(response, 404, { message: 'Not Found' });
    }
  });
});
afterAll(async () => upstream.close());

/** Loopback is refused by default; these tests allow exactly the fake server's address and nothing else internal. */
const onlyFakeServer: SafeFetchOptions = { isAddressAllowed: (address) => address === '127.0.0.1' || isPublicAddress(address) };

async function failure(promise: Promise<unknown>): Promise<OutboundError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(OutboundError);
  return error as OutboundError;
}

describe('isPublicAddress', () => {
  it.each([
    '127.0.0.1',
    '127.8.9.10',
    '10.0.0.1',
    '172.16.5.4',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '192.0.2.1',
    '::',
    '::1',
    'fe80::1',
    'fc00::1',
    'fd12:3456::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:10.0.0.1',
    '64:ff9b::a00:1',
    '2002:a00:1::',
    // IPv4-compatible (deprecated) spellings of 127.0.0.1, 10.0.0.1 and 8.8.8.8: all inside ::/96 (issue 13, finding 15).
    '::7f00:1',
    '::127.0.0.1',
    '::a00:1',
    '::808:808',
    'not-an-ip',
  ])('refuses %s', (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each(['8.8.8.8', '1.1.1.1', '140.82.112.3', '2606:4700:4700::1111', '2a00:1450:4001:80b::200e', '::ffff:8.8.8.8'])('allows %s', (address) => {
    expect(isPublicAddress(address)).toBe(true);
  });
});

describe('safeFetch', () => {
  it('answers with status, headers and body, decoding gzip', async () => {
    const response = await safeFetch(`${upstream.origin}/ok`, { allowPrivate: true });
    expect(response).toMatchObject({ status: 200, ok: true, redirects: 0 });
    expect(response.json()).toMatchObject({ hello: 'world' });
    const packed = await safeFetch(`${upstream.origin}/gzip`, { allowPrivate: true });
    expect(packed.json()).toEqual({ packed: true });
    const missing = await safeFetch(`${upstream.origin}/nothing`, { allowPrivate: true });
    expect(missing).toMatchObject({ status: 404, ok: false });
  });

  it('follows up to five redirects and refuses a sixth', async () => {
    const five = await safeFetch(`${upstream.origin}/redirect?hops=5`, { allowPrivate: true });
    expect(five).toMatchObject({ status: 200, redirects: 5, url: `${upstream.origin}/ok` });
    const before = upstream.count('/ok');
    const error = await failure(safeFetch(`${upstream.origin}/redirect?hops=6`, { allowPrivate: true, maxRedirects: 50 }));
    expect(error.code).toBe('UPSTREAM_TOO_MANY_REDIRECTS');
    expect(upstream.count('/ok')).toBe(before);
  });

  it('cuts a slow upstream at the timeout', async () => {
    const started = performance.now();
    const error = await failure(safeFetch(`${upstream.origin}/slow`, { allowPrivate: true, timeoutMs: 300 }));
    expect(error.code).toBe('UPSTREAM_TIMEOUT');
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('caps the body: declared, streamed and decompressed', async () => {
    expect((await failure(safeFetch(`${upstream.origin}/big`, { allowPrivate: true, maxBytes: 1024 }))).code).toBe('UPSTREAM_TOO_LARGE');
    expect((await failure(safeFetch(`${upstream.origin}/big-declared`, { allowPrivate: true }))).code).toBe('UPSTREAM_TOO_LARGE');
    expect((await failure(safeFetch(`${upstream.origin}/gzip-bomb`, { allowPrivate: true, maxBytes: 1024 * 1024 }))).code).toBe('UPSTREAM_TOO_LARGE');
  });

  it('reports junk as UPSTREAM_INVALID_RESPONSE and refuses non-HTTP URLs', async () => {
    const response = await safeFetch(`${upstream.origin}/junk`, { allowPrivate: true });
    expect(() => response.json()).toThrow(expect.objectContaining({ code: 'UPSTREAM_INVALID_RESPONSE' }));
    expect((await failure(safeFetch('file:///etc/passwd', { allowPrivate: true }))).code).toBe('UPSTREAM_INVALID_URL');
  });

  it('aborts on the caller signal and closes the upstream connection', async () => {
    const controller = new AbortController();
    const pending = safeFetch(`${upstream.origin}/hang?abort=1`, { allowPrivate: true, signal: controller.signal });
    const seen = await upstream.waitForRequest('/hang?abort=1');
    controller.abort();
    expect((await failure(pending)).code).toBe('UPSTREAM_ABORTED');
    await expect(Promise.race([seen.closed.then(() => 'closed'), sleep(2_000).then(() => 'still open')])).resolves.toBe('closed');
  });

  it('refuses loopback without allowPrivate, before connecting', async () => {
    const before = upstream.requests.length;
    const error = await failure(safeFetch(`${upstream.origin}/ok`));
    expect(error.code).toBe('UPSTREAM_BLOCKED_ADDRESS');
    expect(upstream.requests.length).toBe(before);
  });

  it('checks every redirect target again: a redirect to 127.0.0.2 or 10.0.0.1 is refused', async () => {
    for (const target of [`http://127.0.0.2:${upstream.port}/ok`, 'http://10.0.0.1/', 'http://[::1]/', 'http://169.254.169.254/latest/meta-data/']) {
      const before = upstream.count('/ok');
      const error = await failure(safeFetch(`${upstream.origin}/redirect-to?target=${encodeURIComponent(target)}`, onlyFakeServer));
      expect(error.code, target).toBe('UPSTREAM_BLOCKED_ADDRESS');
      expect(upstream.count('/ok')).toBe(before);
    }
  });

  it('checks the address a name resolves to, and connects to that address', async () => {
    const resolve = async (hostname: string) => [{ address: hostname === 'internal.example' ? '10.0.0.1' : '127.0.0.1', family: 4 }];
    const direct = await failure(safeFetch(`http://internal.example:${upstream.port}/ok`, { ...onlyFakeServer, resolve }));
    expect(direct.code).toBe('UPSTREAM_UNREACHABLE');
    const redirected = await failure(
      safeFetch(`${upstream.origin}/redirect-to?target=${encodeURIComponent(`http://internal.example:${upstream.port}/ok`)}`, { ...onlyFakeServer, resolve }),
    );
    expect(redirected.code).toBe('UPSTREAM_UNREACHABLE');

    // A name that resolves to an allowed address reaches it, carrying its own Host header.
    const response = await safeFetch(`http://public.example:${upstream.port}/ok`, { ...onlyFakeServer, resolve });
    expect(response.json()).toMatchObject({ host: `public.example:${upstream.port}` });
  });

  it('refuses a name with any internal address among its answers', async () => {
    const resolve = async () => [
      { address: '127.0.0.1', family: 4 },
      { address: '192.168.0.10', family: 4 },
    ];
    const error = await failure(safeFetch(`http://mixed.example:${upstream.port}/ok`, { ...onlyFakeServer, resolve }));
    expect(error.code).toBe('UPSTREAM_UNREACHABLE');
  });

  it('tells a partner nothing that separates an internal name from a name that does not resolve (issue 13, finding 15)', async () => {
    const notFound = Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    const resolve = async (hostname: string) => {
      if (hostname.startsWith('db.')) return [{ address: '10.0.0.5', family: 4 }];
      if (hostname.startsWith('v6.')) return [{ address: '::7f00:1', family: 6 }];
      throw notFound;
    };
    const seen = [];
    for (const host of ['db.corp.example', 'v6.corp.example', 'nothing.corp.example']) {
      const error = await failure(safeFetch(`http://${host}/`, { resolve }));
      seen.push({ code: error.code, message: error.message.replace(host, '<host>') });
    }
    expect(seen[0]).toEqual({ code: 'UPSTREAM_UNREACHABLE', message: expect.any(String) });
    expect(seen[1]).toEqual(seen[0]);
    expect(seen[2]).toEqual(seen[0]);
    expect(seen[0]!.message).not.toMatch(/private|internal|loopback|ENOTFOUND/i);
  });
});
