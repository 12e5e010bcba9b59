// Which IP addresses a Client ID Metadata Document may be fetched from.
// draft-ietf-oauth-client-id-metadata-document §8.6 (SSRF): the authorization server "MUST NOT fetch
// a Client ID Metadata Document URL or any URLs contained within a Client ID Metadata Document that
// resolve to special-use IP addresses as defined in [RFC6890]"; a development server "MAY relax this
// restriction to allow fetching from loopback addresses when the authorization server itself is
// also running on a loopback address", never in production.
//
// IPv4: the special-purpose blocks of the IANA IPv4 Special-Purpose Address Registry (RFC 6890 and
// its updates) that are not globally reachable are refused; everything else is public.
// IPv6: allow-list. Only global unicast 2000::/3 (RFC 4291 §2.4) is public, minus the special
// blocks inside it. IPv4-mapped (::ffff:0:0/96, RFC 4291 §2.5.5.2) and NAT64 well-known-prefix
// (64:ff9b::/96, RFC 6052) addresses are judged by the IPv4 address they carry.
// Pure: no DNS here. The fetcher (fetch-document.ts) calls addressProblem on every resolved address.
import { BlockList, isIPv4, isIPv6 } from 'node:net';

const IPV4_SPECIAL: ReadonlyArray<readonly [string, number, string]> = [
  ['0.0.0.0', 8, 'unspecified, this network (RFC 791)'],
  ['10.0.0.0', 8, 'private (RFC 1918)'],
  ['100.64.0.0', 10, 'shared address space (CGNAT, RFC 6598)'],
  ['127.0.0.0', 8, 'loopback (RFC 1122)'],
  ['169.254.0.0', 16, 'link-local (RFC 3927)'],
  ['172.16.0.0', 12, 'private (RFC 1918)'],
  ['192.0.0.0', 24, 'IETF protocol assignments (RFC 6890)'],
  ['192.0.2.0', 24, 'documentation (RFC 5737)'],
  ['192.88.99.0', 24, '6to4 relay anycast (RFC 7526)'],
  ['192.168.0.0', 16, 'private (RFC 1918)'],
  ['198.18.0.0', 15, 'benchmarking (RFC 2544)'],
  ['198.51.100.0', 24, 'documentation (RFC 5737)'],
  ['203.0.113.0', 24, 'documentation (RFC 5737)'],
  ['224.0.0.0', 4, 'multicast (RFC 5771)'],
  ['240.0.0.0', 4, 'reserved, including broadcast (RFC 1112, RFC 919)'],
];

/** Special blocks inside 2000::/3. Outside it nothing is public. */
const IPV6_SPECIAL_IN_GLOBAL: ReadonlyArray<readonly [string, number, string]> = [
  ['2001::', 23, 'IETF protocol assignments, including Teredo (RFC 2928, RFC 4380)'],
  ['2001:db8::', 32, 'documentation (RFC 3849)'],
  ['2002::', 16, '6to4 (RFC 3056)'],
  ['3fff::', 20, 'documentation (RFC 9637)'],
];

/** Names for the blocks outside 2000::/3 that a fetch most often meets. */
const IPV6_NAMED: ReadonlyArray<readonly [string, number, string]> = [
  ['::', 128, 'unspecified (RFC 4291)'],
  ['::1', 128, 'loopback (RFC 4291)'],
  ['64:ff9b:1::', 48, 'local-use NAT64 (RFC 8215)'],
  ['100::', 64, 'discard-only (RFC 6666)'],
  ['fc00::', 7, 'unique local (RFC 4193)'],
  ['fe80::', 10, 'link-local (RFC 4291)'],
  ['fec0::', 10, 'site-local, deprecated (RFC 3879)'],
  ['ff00::', 8, 'multicast (RFC 4291)'],
];

function blockList(entries: ReadonlyArray<readonly [string, number, string]>, type: 'ipv4' | 'ipv6'): Array<[BlockList, string]> {
  return entries.map(([net, prefix, label]) => {
    const list = new BlockList();
    list.addSubnet(net, prefix, type);
    return [list, label];
  });
}

const V4 = blockList(IPV4_SPECIAL, 'ipv4');
const V6_SPECIAL = blockList(IPV6_SPECIAL_IN_GLOBAL, 'ipv6');
const V6_NAMED = blockList(IPV6_NAMED, 'ipv6');
const GLOBAL_UNICAST = new BlockList();
GLOBAL_UNICAST.addSubnet('2000::', 3, 'ipv6');

export const LOOPBACK_LABELS = new Set(['loopback (RFC 1122)', 'loopback (RFC 4291)']);

export interface AddressPolicy {
  /**
   * unsafe.allow_loopback_client_metadata: 127.0.0.0/8 and ::1 are allowed. Nothing else is, not
   * even the IPv4-mapped form of a loopback address or a private address.
   */
  allowLoopback: boolean;
}

/**
 * The 16 bytes of an IPv6 address in text form (RFC 4291 §2.2, with an optional trailing dotted
 * IPv4 part and no zone), or undefined when it is not one.
 */
export function ipv6Bytes(text: string): Uint8Array | undefined {
  if (!isIPv6(text) || text.includes('%')) return undefined;
  let head = text;
  let tailV4: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    tailV4 = text.slice(lastColon + 1).split('.').map(Number);
    head = text.slice(0, lastColon + 1) + '0:0';
  }
  const [left, right] = head.includes('::') ? head.split('::') as [string, string] : [head, undefined];
  const groups = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const l = groups(left);
  const r = right === undefined ? [] : groups(right);
  const all = right === undefined ? l : [...l, ...new Array<number>(8 - l.length - r.length).fill(0), ...r];
  if (all.length !== 8) return undefined;
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => { bytes[2 * i] = g >> 8; bytes[2 * i + 1] = g & 0xff; });
  if (tailV4.length === 4) bytes.set(tailV4, 12);
  return bytes;
}

/** The IPv4 address carried by an IPv4-mapped or NAT64 well-known-prefix IPv6 address. */
function embeddedIpv4(bytes: Uint8Array): string | undefined {
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  // 64:ff9b::/96 (RFC 6052 §2.1)
  const nat64 = bytes[0] === 0x00 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b && bytes.slice(4, 12).every((b) => b === 0);
  return mapped || nat64 ? Array.from(bytes.slice(12)).join('.') : undefined;
}

/**
 * Why this address must not be fetched from (a label such as "private (RFC 1918)"), or undefined
 * when it is public (or loopback with allowLoopback). Anything that is not an IP address is refused.
 */
export function addressProblem(address: string, policy: AddressPolicy): string | undefined {
  const label = specialUseLabel(address);
  if (label === undefined) return undefined;
  if (policy.allowLoopback && LOOPBACK_LABELS.has(label)) return undefined;
  return label;
}

/** The special-use block an address is in, or undefined when it is globally routable. */
export function specialUseLabel(address: string): string | undefined {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  if (isIPv4(bare)) return V4.find(([list]) => list.check(bare, 'ipv4'))?.[1];
  // A zone index (fe80::1%eth0) only ever goes with a link-local or other non-global address.
  if (bare.includes('%')) return 'scoped address (RFC 4007)';
  const bytes = ipv6Bytes(bare);
  if (!bytes) return 'not an IP address';
  const v4 = embeddedIpv4(bytes);
  if (v4 !== undefined) {
    const inner = specialUseLabel(v4);
    return inner === undefined ? undefined : `${inner}, IPv4-mapped or NAT64`;
  }
  if (!GLOBAL_UNICAST.check(bare, 'ipv6')) {
    const named = V6_NAMED.find(([list]) => list.check(bare, 'ipv6'))?.[1];
    return named ?? 'not global unicast (outside 2000::/3, RFC 4291)';
  }
  return V6_SPECIAL.find(([list]) => list.check(bare, 'ipv6'))?.[1];
}
