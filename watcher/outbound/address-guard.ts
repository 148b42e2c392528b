import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * The one address guard for outbound URLs the watcher did not choose itself (release-notes URLs,
 * registry redirect targets, token realms): the watcher runs inside the cluster, so such a URL must
 * not reach loopback, the cloud metadata service, the API server or other private services.
 * Classification is ipaddr.js's (a maintained table of special-purpose ranges), plus the IPv6 forms
 * that embed an IPv4 address, which are judged by the address they embed.
 */

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a host name to all its addresses (injectable so tests need no DNS). */
export type Resolve = (hostname: string) => Promise<ResolvedAddress[]>;

export const defaultResolve: Resolve = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

const V4_REASONS: Readonly<Record<string, string>> = {
  unspecified: 'an unspecified address',
  broadcast: 'a broadcast address',
  multicast: 'a multicast address',
  linkLocal: 'a link-local address (cloud metadata lives here)',
  loopback: 'a loopback address',
  carrierGradeNat: 'a carrier-grade NAT address',
  private: 'a private address',
  reserved: 'a reserved address',
  benchmarking: 'a benchmarking address',
  amt: 'a reserved (AMT) address',
  as112: 'a reserved (AS112) address',
};

const V6_REASONS: Readonly<Record<string, string>> = {
  unspecified: 'an unspecified address',
  multicast: 'a multicast address',
  linkLocal: 'a link-local address',
  loopback: 'a loopback address',
  uniqueLocal: 'a private (unique local) address (fd00:ec2::254 is cloud metadata)',
  reserved: 'a reserved address',
  benchmarking: 'a benchmarking address',
  amt: 'a reserved (AMT) address',
  as112v6: 'a reserved (AS112) address',
  orchid2: 'a reserved (ORCHIDv2) address',
  droneRemoteIdProtocolEntityTags: 'a reserved (DRIP) address',
  teredo: 'a Teredo tunnel address',
};

function v4FromBytes(bytes: readonly number[]): ipaddr.IPv4 {
  return new ipaddr.IPv4(bytes.slice(0, 4));
}

function v4Reason(v4: ipaddr.IPv4): string | undefined {
  const range = v4.range();
  return range === 'unicast' ? undefined : (V4_REASONS[range] ?? `a special-purpose address (${range})`);
}

function embedded(v4: ipaddr.IPv4, form: string): string | undefined {
  const why = v4Reason(v4);
  return why === undefined ? undefined : `${form} embedding ${v4.toString()}, ${why}`;
}

function v6Reason(v6: ipaddr.IPv6): string | undefined {
  const bytes = v6.toByteArray();
  const parts = v6.parts;
  const range = v6.range();
  if (range === 'loopback' || range === 'unspecified') return V6_REASONS[range];
  // ::a.b.c.d (deprecated IPv4-compatible, e.g. ::7f00:1): ipaddr.js calls it unicast.
  if (parts.slice(0, 6).every((p) => p === 0)) {
    return (
      embedded(v4FromBytes(bytes.slice(12)), 'an IPv4-compatible address') ?? 'a reserved (::/96) address'
    );
  }
  switch (range) {
    case 'unicast':
      return undefined;
    case 'ipv4Mapped':
      return embedded(v6.toIPv4Address(), 'an IPv4-mapped address');
    case 'rfc6145':
      return embedded(v4FromBytes(bytes.slice(12)), 'an IPv4-translated address');
    case 'rfc6052':
      // 64:ff9b::/96 embeds the IPv4 address in the last 32 bits; 64:ff9b:1::/48 is local-use NAT64.
      if (parts[1] === 0xff9b && parts.slice(2, 6).every((p) => p === 0)) {
        return embedded(v4FromBytes(bytes.slice(12)), 'a NAT64 address');
      }
      return 'a local-use NAT64 address (64:ff9b:1::/48)';
    case '6to4':
      return embedded(v4FromBytes(bytes.slice(2, 6)), 'a 6to4 address');
    default:
      return V6_REASONS[range] ?? `a special-purpose address (${range})`;
  }
}

/** The IP address a host string denotes (any form ipaddr.js accepts: `127.1`, `0x7f000001`, `[::1]`), or undefined. */
export function parseIpAddress(host: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  try {
    return ipaddr.parse(bare);
  } catch {
    return undefined;
  }
}

/** Why an address must not be contacted, or undefined when it is a public unicast address. */
export function blockedReason(address: string): string | undefined {
  const ip = parseIpAddress(address);
  if (ip === undefined) return 'not an IP address';
  return ip.kind() === 'ipv4' ? v4Reason(ip as ipaddr.IPv4) : v6Reason(ip as ipaddr.IPv6);
}

/** Host name of a URL as compared with configured hosts: lower-case, IPv6 brackets removed. */
export function bareHostname(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
}

export interface GuardVerdict {
  /** Every address the host resolved to (IP literals: itself). */
  addresses: ResolvedAddress[];
  /** The first address that is not public, with why; undefined when all are public (or trusted). */
  blocked: { address: string; why: string } | undefined;
}

/**
 * Resolves `host` (a literal in any form, or a name) and checks every answer: a resolver could
 * mix a private address in with public ones. `trusted` hosts are resolved but not checked.
 */
export async function checkHost(
  host: string,
  opts: { resolve?: Resolve; trusted?: boolean } = {},
): Promise<GuardVerdict> {
  const ip = parseIpAddress(host);
  const addresses: ResolvedAddress[] =
    ip !== undefined
      ? [{ address: ip.toString(), family: ip.kind() === 'ipv4' ? 4 : 6 }]
      : await (opts.resolve ?? defaultResolve)(host);
  if (opts.trusted === true) return { addresses, blocked: undefined };
  for (const a of addresses) {
    const why = blockedReason(a.address);
    if (why !== undefined) return { addresses, blocked: { address: a.address, why } };
  }
  return { addresses, blocked: undefined };
}

/**
 * A lookup that always answers the already checked address: a connection made with it is pinned
 * to that address, so a second DNS answer cannot swap in a private one (DNS rebinding), while the
 * host name still goes into Host, SNI and the certificate check.
 */
export function pinnedLookup(pinned: ResolvedAddress): LookupFunction {
  return (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all) {
      (callback as unknown as (err: null, addresses: ResolvedAddress[]) => void)(null, [pinned]);
    } else {
      callback(null, pinned.address, pinned.family);
    }
  };
}
