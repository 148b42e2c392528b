import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { ImageWatcherError } from '../../shared/errors.ts';
import { bareHostname, checkHost, pinnedLookup } from '../outbound/address-guard.ts';
import type { Resolve, ResolvedAddress } from '../outbound/address-guard.ts';

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

export type { Resolve, ResolvedAddress } from '../outbound/address-guard.ts';

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

// Address classification lives in the one outbound guard (ipaddr.js), shared with the registry client.
export { blockedReason } from '../outbound/address-guard.ts';

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
  const host = bareHostname(url);
  const trusted = opts.allowPrivate === true || (opts.allowHosts ?? []).includes(host);
  let verdict;
  try {
    verdict = await checkHost(host, { resolve: opts.resolve, trusted });
  } catch (err) {
    throw new ReleaseNotesError('E_NOTES_NETWORK', `cannot resolve ${host}`, { cause: err });
  }
  const first = verdict.addresses[0];
  if (first === undefined) throw new ReleaseNotesError('E_NOTES_NETWORK', `${host} has no address`);
  if (verdict.blocked !== undefined) {
    const { address, why } = verdict.blocked;
    throw new ReleaseNotesError(
      'E_NOTES_BLOCKED',
      `${host} resolves to ${address}, ${why}; release notes are only fetched from public hosts (set RELEASE_NOTES_ALLOW_PRIVATE=TRUE to allow private ones)`,
    );
  }
  return { url, address: first };
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
