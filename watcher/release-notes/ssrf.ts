import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { BlockList, isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import { ImageWatcherError } from '../../shared/errors.ts';

/**
 * Guarded HTTP GET for URLs that come from users (release-url annotations, image labels): the
 * watcher runs inside the cluster, so such a URL must not reach the cloud metadata service, the
 * API server or other private services. Every hop (redirects are followed by hand) is resolved,
 * checked, and the connection is pinned to the checked address, so a second DNS answer cannot
 * swap in a private one (DNS rebinding).
 */

export type ReleaseNotesErrorCode =
  | 'E_NOTES_BLOCKED'
  | 'E_NOTES_TIMEOUT'
  | 'E_NOTES_TOO_MANY_REDIRECTS'
  | 'E_NOTES_HTTP'
  | 'E_NOTES_NOT_FOUND'
  | 'E_NOTES_NETWORK'
  | 'E_NOTES_RESPONSE';

export class ReleaseNotesError extends ImageWatcherError {
  declare readonly code: ReleaseNotesErrorCode;
  readonly status: number | undefined;
  constructor(
    code: ReleaseNotesErrorCode,
    message: string,
    options: { cause?: unknown; status?: number } = {},
  ) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
  }
}

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a host name to all its addresses (injectable so tests need no DNS). */
export type Resolve = (hostname: string) => Promise<ResolvedAddress[]>;

export const defaultResolve: Resolve = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

export interface GuardOptions {
  /** Let private, loopback and link-local targets through (RELEASE_NOTES_ALLOW_PRIVATE; tests, on-prem). */
  allowPrivate?: boolean;
  /** Host names (lower-case, without port) allowed to resolve to private addresses, e.g. an on-prem GitHub. */
  allowHosts?: readonly string[];
  resolve?: Resolve;
  /** Whole request including redirects. */
  timeoutMs?: number;
  /** Body bytes kept; the rest is cut off and `truncated` is set. */
  maxBytes?: number;
  maxRedirects?: number;
  /** Extra trusted CA certificates (PEM) for https, e.g. an on-prem GitHub with a private CA. */
  ca?: string | readonly string[];
}

export interface GuardedRequest {
  url: string;
  headers?: Readonly<Record<string, string>>;
  /** Headers sent only to the origin of `url`, dropped when a redirect leaves it (tokens). */
  originHeaders?: Readonly<Record<string, string>>;
}

export interface GuardedResponse {
  url: string; // after redirects
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  truncated: boolean;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_BYTES = 256 * 1024;
export const DEFAULT_MAX_REDIRECTS = 3;

// --- address classification (pure) ----------------------------------------------------------------------

const BLOCKED_V4: readonly [string, number, string][] = [
  ['0.0.0.0', 8, 'an unspecified address'],
  ['10.0.0.0', 8, 'a private address'],
  ['100.64.0.0', 10, 'a carrier-grade NAT address'],
  ['127.0.0.0', 8, 'a loopback address'],
  ['169.254.0.0', 16, 'a link-local address (cloud metadata lives here)'],
  ['172.16.0.0', 12, 'a private address'],
  ['192.0.0.0', 24, 'a reserved address'],
  ['192.168.0.0', 16, 'a private address'],
  ['198.18.0.0', 15, 'a benchmarking address'],
  ['224.0.0.0', 4, 'a multicast address'],
  ['240.0.0.0', 4, 'a reserved address'],
];
const BLOCKED_V6: readonly [string, number, string][] = [
  ['::', 128, 'an unspecified address'],
  ['::1', 128, 'a loopback address'],
  ['fc00::', 7, 'a private (unique local) address'],
  ['fe80::', 10, 'a link-local address'],
  ['fec0::', 10, 'a site-local address'],
  ['ff00::', 8, 'a multicast address'],
];

function blockList(
  ranges: readonly [string, number, string][],
  type: 'ipv4' | 'ipv6',
): [BlockList, string][] {
  return ranges.map(([net, prefix, why]) => {
    const list = new BlockList();
    list.addSubnet(net, prefix, type);
    return [list, why];
  });
}

const V4_LISTS = blockList(BLOCKED_V4, 'ipv4');
const V6_LISTS = blockList(BLOCKED_V6, 'ipv6');

/** The IPv4 address embedded in an IPv4-mapped (::ffff:a.b.c.d), -compatible or NAT64 IPv6 address. */
function embeddedV4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|::|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (hex) {
    const hi = parseInt(hex[1]!, 16);
    const lo = parseInt(hex[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return undefined;
}

/** Why an address must not be contacted, or undefined when it is a public unicast address. */
export function blockedReason(address: string): string | undefined {
  const family = isIP(address);
  if (family === 4) return V4_LISTS.find(([list]) => list.check(address, 'ipv4'))?.[1];
  if (family === 6) {
    const v4 = embeddedV4(address);
    if (v4 !== undefined) return blockedReason(v4);
    return V6_LISTS.find(([list]) => list.check(address, 'ipv6'))?.[1];
  }
  return 'not an IP address';
}

// --- the request ----------------------------------------------------------------------------------------

interface Hop {
  url: URL;
  address: ResolvedAddress;
}

/** Resolves and checks one hop; returns the address to pin the connection to. */
async function checkHop(url: URL, opts: GuardOptions): Promise<Hop> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ReleaseNotesError('E_NOTES_BLOCKED', `${url.protocol} URLs are not fetched; use http(s)`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  let addresses: ResolvedAddress[];
  if (isIP(host) !== 0) addresses = [{ address: host, family: isIP(host) }];
  else {
    try {
      addresses = await (opts.resolve ?? defaultResolve)(host);
    } catch (err) {
      throw new ReleaseNotesError('E_NOTES_NETWORK', `cannot resolve ${host}`, { cause: err });
    }
  }
  const first = addresses[0];
  if (first === undefined) throw new ReleaseNotesError('E_NOTES_NETWORK', `${host} has no address`);
  const trusted = opts.allowPrivate === true || (opts.allowHosts ?? []).includes(host);
  if (!trusted) {
    // Every answer must be public: a resolver could otherwise mix in a private one.
    for (const a of addresses) {
      const why = blockedReason(a.address);
      if (why !== undefined) {
        throw new ReleaseNotesError(
          'E_NOTES_BLOCKED',
          `${host} resolves to ${a.address}, ${why}; release notes are only fetched from public hosts (set RELEASE_NOTES_ALLOW_PRIVATE=TRUE to allow private ones)`,
        );
      }
    }
  }
  return { url, address: first };
}

/** A lookup that always answers the already checked address (the connection is pinned to it). */
function pinnedLookup(pinned: ResolvedAddress): LookupFunction {
  return (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all) {
      (callback as unknown as (err: null, addresses: ResolvedAddress[]) => void)(null, [pinned]);
    } else {
      callback(null, pinned.address, pinned.family);
    }
  };
}

function once(
  hop: Hop,
  headers: Record<string, string>,
  signal: AbortSignal,
  maxBytes: number,
  ca?: GuardOptions['ca'],
) {
  return new Promise<Omit<GuardedResponse, 'url'>>((resolve, reject) => {
    const client = hop.url.protocol === 'https:' ? https : http;
    const req = client.request(
      hop.url,
      {
        method: 'GET',
        headers,
        // The host name stays in the URL, so Host, SNI and certificate checks use it.
        lookup: pinnedLookup(hop.address),
        signal,
        agent: false,
        ...(ca === undefined ? {} : { ca: [...rootCertificates, ...(typeof ca === 'string' ? [ca] : ca)] }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let truncated = false;
        const finish = () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            truncated,
          });
        res.on('data', (chunk: Buffer) => {
          if (truncated) return;
          const room = maxBytes - size;
          if (chunk.length > room) {
            chunks.push(chunk.subarray(0, room));
            size = maxBytes;
            truncated = true;
            // Stop downloading: the rest is not wanted.
            res.destroy();
            finish();
            return;
          }
          chunks.push(chunk);
          size += chunk.length;
        });
        res.on('end', finish);
        res.on('error', (err) => {
          if (!truncated) reject(err);
        });
        // A timeout or a dropped connection mid-body: no 'end', so fail rather than hang.
        res.on('close', () => {
          if (!res.complete && !truncated) reject(new Error('connection closed before the end of the body'));
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * GETs a URL from an untrusted source with the SSRF checks above, a size cap and one deadline
 * for the whole exchange. Redirects are followed by hand (at most `maxRedirects`), each re-checked.
 */
export async function guardedGet(request: GuardedRequest, opts: GuardOptions = {}): Promise<GuardedResponse> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxRedirects = opts.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const signal = AbortSignal.timeout(timeoutMs);
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    throw new ReleaseNotesError('E_NOTES_BLOCKED', 'the release notes URL is not an absolute URL');
  }
  const origin = url.origin;

  for (let redirects = 0; ; redirects++) {
    const hop = await checkHop(url, opts);
    const headers: Record<string, string> = { 'user-agent': 'image-watcher', ...request.headers };
    if (url.origin === origin) Object.assign(headers, request.originHeaders);
    let res: Omit<GuardedResponse, 'url'>;
    try {
      res = await once(hop, headers, signal, maxBytes, opts.ca);
    } catch (err) {
      if (signal.aborted) {
        throw new ReleaseNotesError('E_NOTES_TIMEOUT', `${url.host} did not answer within ${timeoutMs} ms`, {
          cause: err,
        });
      }
      throw new ReleaseNotesError('E_NOTES_NETWORK', `cannot reach ${url.host}: ${errorText(err)}`, {
        cause: err,
      });
    }
    if (!REDIRECTS.has(res.status)) return { url: url.href, ...res };
    const location = res.headers.location;
    if (location === undefined) {
      throw new ReleaseNotesError(
        'E_NOTES_RESPONSE',
        `${url.host} answered ${res.status} without a Location`,
      );
    }
    if (redirects >= maxRedirects) {
      throw new ReleaseNotesError(
        'E_NOTES_TOO_MANY_REDIRECTS',
        `${request.url.split('?')[0]} redirected more than ${maxRedirects} times`,
      );
    }
    try {
      url = new URL(location, url);
    } catch {
      throw new ReleaseNotesError('E_NOTES_RESPONSE', `${url.host} redirected to an invalid URL`);
    }
  }
}

function errorText(err: unknown): string {
  if (err instanceof Error) return (err as NodeJS.ErrnoException).code ?? err.message;
  return String(err);
}
