import ipaddr from 'ipaddr.js';

/**
 * Whether an outbound call may connect to this IP address. Only globally routable unicast addresses pass:
 * private (RFC 1918), loopback, link-local, unique-local, multicast, carrier-grade NAT, documentation,
 * reserved and the IPv6 ranges that embed an IPv4 address (mapped, compatible, 6to4, Teredo, NAT64) are all refused,
 * so a URL cannot reach the deployment's own network through any spelling of an internal address.
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6;
    // ::/96 holds the deprecated IPv4-compatible addresses (RFC 4291 2.5.5.1): `::7f00:1` is 127.0.0.1 to some
    // stacks. ipaddr.js calls them unicast, so they are refused here, with :: and ::1.
    if (v6.parts.slice(0, 6).every((part) => part === 0)) return false;
    if (v6.isIPv4MappedAddress()) parsed = v6.toIPv4Address();
  }
  return parsed.range() === 'unicast';
}
