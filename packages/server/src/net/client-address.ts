import { addressInAny, parseAddress, parseCidr, type Cidr } from './cidr.ts';

/**
 * SPEC 13.4: who may tell the server the client's address. Fastify calls this for each hop from the socket's peer
 * inwards (`hop` 0 is the peer); while it answers true, the next address to the left in X-Forwarded-For is believed.
 * So the client address is the rightmost X-Forwarded-For address that is not a trusted proxy, and without a trust
 * setting it is the socket's peer, whatever the client sends.
 */
export type TrustProxy = (address: string, hop: number) => boolean;

export class TrustProxyError extends Error {}

/**
 * GATEHOUSE_TRUST_PROXY: unset or empty = trust nobody; a number = that many hops in front of the server are proxies
 * (the peer, and the next ones to its left in X-Forwarded-For); otherwise a comma-separated list of addresses and
 * CIDRs of the proxies. Anything else is a start-up error, never a silent default.
 */
export function parseTrustProxy(raw: string | undefined): TrustProxy | undefined {
  const text = (raw ?? '').trim();
  if (text === '') return undefined;
  if (/^\d+$/.test(text)) {
    const hops = Number(text);
    if (hops < 1 || hops > 32) throw new TrustProxyError('GATEHOUSE_TRUST_PROXY: a hop count must be from 1 to 32');
    return (_address, hop) => hop < hops;
  }
  const ranges: Cidr[] = [];
  for (const entry of text.split(',')) {
    const cidr = parseCidr(entry);
    if (!cidr) throw new TrustProxyError(`GATEHOUSE_TRUST_PROXY: ${JSON.stringify(entry.trim())} is not an address, a CIDR or a hop count`);
    ranges.push(cidr);
  }
  return (address) => addressInAny(parseAddress(address), ranges);
}
