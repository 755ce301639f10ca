import ipaddr from 'ipaddr.js';

/**
 * Whether an outbound call may connect to this IP address. Only globally routable unicast addresses pass:
 * private (RFC 1918), loopback, link-local, unique-local, multicast, carrier-grade NAT, documentation,
 * reserved and the IPv6 ranges that embed an IPv4 address (mapped, 6to4, Teredo, NAT64) are all refused,
 * so a URL cannot reach the deployment's own network through any spelling of an internal address.
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  return parsed.range() === 'unicast';
}
