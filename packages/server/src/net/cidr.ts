import ipaddr from 'ipaddr.js';

/** A parsed CIDR: its network address and prefix length, with IPv4-mapped IPv6 ranges turned into IPv4 ones. */
export type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** An IPv4-mapped IPv6 address (`::ffff:203.0.113.9`) is the IPv4 address it carries: one client, one spelling. */
function normalized(address: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  return address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress() ? (address as ipaddr.IPv6).toIPv4Address() : address;
}

/**
 * ipaddr.js also reads IPv4 in the old inet_aton forms, where `010.0.0.1` is octal (8.0.0.1), `10` is 0.0.0.10 and
 * `0x7f000001` is 127.0.0.1: a range that means something other than what its writer read. Only four decimal parts.
 * A bare address is its own /32 or /128. Undefined for anything that is not an address or CIDR.
 */
export function parseCidr(text: string): Cidr | undefined {
  const trimmed = text.trim();
  const addressText = trimmed.split('/')[0]!;
  if (!addressText.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(addressText)) return undefined;
  try {
    if (!trimmed.includes('/')) {
      if (!ipaddr.isValid(trimmed)) return undefined;
      const address = normalized(ipaddr.parse(trimmed));
      return [address, address.kind() === 'ipv4' ? 32 : 128];
    }
    const [address, bits] = ipaddr.parseCIDR(trimmed);
    if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
      return [(address as ipaddr.IPv6).toIPv4Address(), bits - 96];
    }
    return [address, bits];
  } catch {
    return undefined;
  }
}

/** The canonical text of a CIDR (what is stored and shown), or undefined when it is not one. */
export function canonicalCidr(text: string): string | undefined {
  const cidr = parseCidr(text);
  if (!cidr) return undefined;
  // The network address, so `10.1.2.3/8` is kept as `10.0.0.0/8`: the range the operator meant, spelled one way.
  const network = cidr[0].kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(`${cidr[0].toString()}/${cidr[1]}`) : ipaddr.IPv6.networkAddressFromCIDR(`${cidr[0].toString()}/${cidr[1]}`);
  return `${network.toString()}/${cidr[1]}`;
}

/** The address parsed for matching, or undefined when the text is not an IP address. */
export function parseAddress(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (!ipaddr.isValid(text)) return undefined;
  return normalized(ipaddr.parse(text));
}

/**
 * parseAddress for the hot path (check 5a): a client sends many requests from one address, so its parsed form is
 * kept. Bounded: past the limit the memory is simply started afresh.
 */
const parsedAddresses = new Map<string, ipaddr.IPv4 | ipaddr.IPv6 | undefined>();
const PARSED_ADDRESSES_MAX = 4_096;
export function parseClientAddress(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  let parsed = parsedAddresses.get(text);
  if (parsed !== undefined || parsedAddresses.has(text)) return parsed;
  parsed = parseAddress(text);
  if (parsedAddresses.size >= PARSED_ADDRESSES_MAX) parsedAddresses.clear();
  parsedAddresses.set(text, parsed);
  return parsed;
}

/** Whether the address lies in any of the ranges (an IPv4 address never matches an IPv6 range, nor the reverse). */
export function addressInAny(address: ipaddr.IPv4 | ipaddr.IPv6 | undefined, ranges: readonly Cidr[]): boolean {
  if (!address) return false;
  const kind = address.kind();
  for (let i = 0; i < ranges.length; i++) {
    const range = ranges[i]!;
    if (range[0].kind() === kind && address.match(range as never)) return true;
  }
  return false;
}
