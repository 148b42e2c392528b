import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { ImageReference } from '../../shared/image-ref.ts';
import { Authenticator, credentialsKey, missingCredentials, refusedCredentials } from './auth.ts';
import type { AuthContext } from './auth.ts';
import { CycleCache } from './cache.ts';
import { parseNextLink, parseWwwAuthenticate } from './challenge.ts';
import { hostOf, registryBaseUrl } from './endpoint.ts';
import { DEFAULTS } from '../../shared/config.ts';
import { defaultResolve } from '../outbound/address-guard.ts';
import type { Resolve } from '../outbound/address-guard.ts';
import { ByteBudget } from './budget.ts';
import { abortedError, RegistryError } from './errors.ts';
import { RegistryHttp } from './http.ts';
import type { HttpResponse } from './http.ts';
import {
  createdFromConfig,
  labelsFromConfig,
  parseManifest,
  pickPlatform,
  samePlatform,
} from './manifest.ts';
import type { ParsedManifest } from './manifest.ts';
import { MANIFEST_ACCEPT, OCI_INDEX } from './media-types.ts';
import type {
  Descriptor,
  FetchedManifest,
  ImageManifestFacts,
  Platform,
  RegistryArtifacts,
  RegistryCallOptions,
  RegistryClient,
  RegistryCredentials,
  RegistryRequestObserver,
} from './types.ts';
import { noopRegistryObserver } from './types.ts';

export interface RegistryClientOptions {
  fetch?: typeof fetch;
  observer?: RegistryRequestObserver;
  logger?: Logger;
  /** Wall clock in ms (token expiry, cache TTL, Retry-After dates). */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** `host:port` entries spoken to over plain HTTP (loopback always is). */
  insecureRegistries?: readonly string[];
  /** Credentials when the call passes none (e.g. from DOCKER_CONFIG). */
  defaultCredentials?: (registry: string) => RegistryCredentials | undefined;
  /** Parallel requests per registry. Default 4. */
  concurrency?: number;
  /** Sustained requests per second per registry, and burst. Default 10/s, burst 10. */
  ratePerSecond?: number;
  burst?: number;
  /** How long a tag list is reused across cycles. Default 5 min. */
  cacheTtlMs?: number;
  /** Per attempt, body included. Default 30 s. */
  timeoutMs?: number;
  /** Attempts per request for 429/5xx/network errors. Default 4. */
  maxAttempts?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** Longest `Retry-After` honoured; longer asks fail at once. Default 60 s. */
  maxRetryAfterMs?: number;
  /** `n` of the tag list. Default 1000. */
  pageSize?: number;
  /** Guard against endless pagination. Default 1000 pages. */
  maxPages?: number;
  /** Most tags kept for one repository, all pages together (memory). Default 100,000. */
  maxTags?: number;
  /** Bytes of one response (streamed, aborted past it). Tag page 4 MiB, manifest 4 MiB, config 4 MiB. */
  maxTagPageBytes?: number;
  maxManifestBytes?: number;
  maxConfigBytes?: number;
  /** Estimated heap bytes of the tags kept for one repository, all pages together. Default 8 MiB. */
  maxRepositoryTagBytes?: number;
  /** The same over every tag list being assembled at once. Default 24 MiB. */
  maxListBytesInFlight?: number;
  /** Response bytes being read at once over all requests. Default 24 MiB. */
  maxBytesInFlight?: number;
  /** Estimated heap bytes of the cached tag lists; the oldest go first. Default 24 MiB. */
  maxCacheBytes?: number;
  /** All pages of one repository (REGISTRY_LIST_TIMEOUT). Default 2 min. */
  listTimeoutMs?: number;
  /** DNS for the address guard and the per-target limits (tests inject one). */
  resolve?: Resolve;
  /** Redirect targets and token realms may be private addresses too (tests, on-prem token services). */
  allowPrivate?: boolean;
  /** Host names (lower-case) that redirects and token realms may reach even when private. */
  trustedHosts?: readonly string[];
}

/** Docker distribution tag grammar: at most 128 characters. */
export const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/**
 * Heap bytes a kept tag costs beyond its characters (64-bit V8: string header and padding 24,
 * array slot 8, a caller's copy 8, slack 8). Tags are ASCII by grammar: one byte per character.
 */
export const TAG_OVERHEAD_BYTES = 48;

export const DEFAULT_LIST_TIMEOUT_MS: number = DEFAULTS.registryListTimeoutMs;

interface TagList {
  tags: string[];
  /** Estimated heap bytes (what the cache counts). */
  bytes: number;
}

/** One shared tag-list request and the callers waiting for it (see listTags). */
interface ListJob {
  controller: AbortController;
  /** Callers with a signal still waiting. */
  waiters: number;
  /** A caller without a signal joined: the request is never stopped early. */
  pinned: boolean;
}

/** `promise`, or the signal's error as soon as it aborts (the work behind it stops at its next step). */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal, onAbort: () => Error): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(onAbort());
  }
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(onAbort());
    signal.addEventListener('abort', abort, { once: true });
    promise.finally(() => signal.removeEventListener('abort', abort)).then(resolve, reject);
  });
}

const USER_AGENT = 'image-watcher';

interface Call {
  method: 'GET' | 'HEAD';
  url: string;
  accept: string;
  maxBytes: number;
  what: string;
  notFound: string;
  signal?: AbortSignal | undefined;
}

function sha256(body: Buffer): string {
  return `sha256:${createHash('sha256').update(body).digest('hex')}`;
}

/** Digests a registry may name in a manifest: only these are fetched (they go into a URL path) and verified. */
const CONTENT_DIGEST = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

function contentDigest(algorithm: string, body: Buffer): string {
  return `${algorithm}:${createHash(algorithm).update(body).digest('hex')}`;
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

function parseDescriptor(v: unknown): Descriptor | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const d = v as Record<string, unknown>;
  if (typeof d.mediaType !== 'string' || typeof d.digest !== 'string' || !CONTENT_DIGEST.test(d.digest)) {
    return undefined;
  }
  const annotations: Record<string, string> = {};
  if (d.annotations && typeof d.annotations === 'object') {
    for (const [k, val] of Object.entries(d.annotations)) if (typeof val === 'string') annotations[k] = val;
  }
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    size: typeof d.size === 'number' ? d.size : 0,
    artifactType: typeof d.artifactType === 'string' ? d.artifactType : undefined,
    annotations,
  };
}

/** OCI distribution (registry v2) client: tags, digests and labels, gentle on registries. */
export class OciRegistryClient implements RegistryClient, RegistryArtifacts {
  readonly #http: RegistryHttp;
  readonly #auth: Authenticator;
  readonly #tags: CycleCache<TagList>;
  readonly #jobs = new Map<string, ListJob>();
  readonly #listBudget: ByteBudget;
  readonly #maxRepositoryTagBytes: number;
  readonly #listTimeoutMs: number;
  readonly #digests: CycleCache<string>;
  readonly #labels: CycleCache<Record<string, string>>;
  readonly #manifests: CycleCache<ImageManifestFacts>;
  readonly #insecure: readonly string[];
  readonly #defaultCredentials: (registry: string) => RegistryCredentials | undefined;
  readonly #logger: Logger | undefined;
  readonly #pageSize: number;
  readonly #maxPages: number;
  readonly #maxTags: number;
  readonly #maxTagPageBytes: number;
  readonly #maxManifestBytes: number;
  readonly #maxConfigBytes: number;

  constructor(opts: RegistryClientOptions = {}) {
    const now = opts.now ?? Date.now;
    this.#http = new RegistryHttp({
      fetch: opts.fetch ?? fetch,
      observer: opts.observer ?? noopRegistryObserver,
      logger: opts.logger,
      now,
      sleep: opts.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
      random: opts.random ?? Math.random,
      timeoutMs: opts.timeoutMs ?? 30_000,
      maxAttempts: Math.max(1, opts.maxAttempts ?? 4),
      backoff: { initialMs: opts.backoffBaseMs ?? 500, maxMs: opts.backoffCapMs ?? 30_000, jitter: 1 },
      maxRetryAfterMs: opts.maxRetryAfterMs ?? 60_000,
      concurrency: opts.concurrency ?? 4,
      ratePerSecond: opts.ratePerSecond ?? 10,
      burst: opts.burst ?? 10,
      resolve: opts.resolve ?? defaultResolve,
      allowPrivate: opts.allowPrivate ?? false,
      // Hosts the user declared insecure are hosts the user named.
      trustedHosts: [
        ...(opts.trustedHosts ?? []),
        ...(opts.insecureRegistries ?? []).map((r) => hostOf(r).toLowerCase()),
      ],
      maxBytesInFlight: opts.maxBytesInFlight ?? 24 * 1024 * 1024,
    });
    this.#auth = new Authenticator({
      http: this.#http,
      now,
      insecureRegistries: opts.insecureRegistries ?? [],
    });
    this.#tags = new CycleCache({
      ttlMs: opts.cacheTtlMs ?? 5 * 60_000,
      now,
      maxAgeMs: 15 * 60_000,
      maxBytes: opts.maxCacheBytes ?? 24 * 1024 * 1024,
      sizeOf: (list) => list.bytes,
    });
    this.#listBudget = new ByteBudget(opts.maxListBytesInFlight ?? 24 * 1024 * 1024);
    this.#maxRepositoryTagBytes = opts.maxRepositoryTagBytes ?? 8 * 1024 * 1024;
    this.#listTimeoutMs = opts.listTimeoutMs ?? DEFAULT_LIST_TIMEOUT_MS;
    // Digests and labels are only shared within a cycle: a moved `latest` must be seen next cycle.
    this.#digests = new CycleCache({ ttlMs: 0, now, maxAgeMs: 5 * 60_000 });
    this.#labels = new CycleCache({ ttlMs: 0, now, maxAgeMs: 5 * 60_000 });
    this.#manifests = new CycleCache({ ttlMs: 0, now, maxAgeMs: 5 * 60_000 });
    this.#insecure = opts.insecureRegistries ?? [];
    this.#defaultCredentials = opts.defaultCredentials ?? (() => undefined);
    this.#logger = opts.logger;
    this.#pageSize = opts.pageSize ?? 1000;
    this.#maxPages = opts.maxPages ?? 1000;
    this.#maxTags = opts.maxTags ?? 100_000;
    this.#maxTagPageBytes = opts.maxTagPageBytes ?? 4 * 1024 * 1024;
    this.#maxManifestBytes = opts.maxManifestBytes ?? 4 * 1024 * 1024;
    this.#maxConfigBytes = opts.maxConfigBytes ?? 4 * 1024 * 1024;
  }

  newCycle(): void {
    this.#tags.newCycle();
    this.#digests.newCycle();
    this.#labels.newCycle();
    this.#manifests.newCycle();
  }

  /** Estimated heap bytes of the cached tag lists (tests, metrics). */
  get cachedTagBytes(): number {
    return this.#tags.bytes;
  }

  listTags(ref: ImageReference, opts?: RegistryCallOptions): Promise<string[]> {
    const creds = this.#credentials(ref, opts);
    const key = `${ref.registry}/${ref.repository}|${credentialsKey(creds)}`;
    const shared = this.#tags.get(
      key,
      () => {
        const job: ListJob = { controller: new AbortController(), waiters: 0, pinned: false };
        this.#jobs.set(key, job);
        return this.#fetchTags(ref, creds, job.controller.signal).finally(() => {
          if (this.#jobs.get(key) === job) this.#jobs.delete(key);
        });
      },
      { fresh: opts?.fresh === true },
    );
    // Callers get their own copy: the cached list must not be mutated.
    const copy = shared.then((list) => [...list.tags]);
    const job = this.#jobs.get(key); // undefined when the cache answered
    const signal = opts?.signal;
    if (signal === undefined) {
      if (job) job.pinned = true;
      return copy;
    }
    if (job) job.waiters++;
    const leave = () => {
      if (!job) return;
      job.waiters--;
      // Nobody left who wants it: stop the request rather than keep a slow registry busy.
      if (job.waiters === 0 && !job.pinned && signal.aborted) job.controller.abort(signal.reason);
    };
    const what = `the tag list of ${ref.repository}`;
    return raceAbort(copy, signal, () => abortedError(signal, `registry ${ref.registry}`, what)).finally(
      leave,
    );
  }

  getDigest(ref: ImageReference, reference: string, opts?: RegistryCallOptions): Promise<string> {
    const creds = this.#credentials(ref, opts);
    const key = `${ref.registry}/${ref.repository}:${reference}|${credentialsKey(creds)}`;
    return this.#digests.get(key, () => this.#fetchDigest(ref, reference, creds), {
      fresh: opts?.fresh === true,
    });
  }

  getImageLabels(
    ref: ImageReference,
    reference: string,
    opts?: RegistryCallOptions,
  ): Promise<Record<string, string>> {
    const creds = this.#credentials(ref, opts);
    const key = `${ref.registry}/${ref.repository}:${reference}|${credentialsKey(creds)}`;
    return this.#labels.get(key, () => this.#fetchLabels(ref, reference, creds)).then((l) => ({ ...l }));
  }

  getManifestFacts(
    ref: ImageReference,
    reference: string,
    opts?: RegistryCallOptions,
  ): Promise<ImageManifestFacts> {
    const creds = this.#credentials(ref, opts);
    const key = `${ref.registry}/${ref.repository}:${reference}|${credentialsKey(creds)}`;
    return this.#manifests.get(key, async () => {
      const m = await this.#fetchManifest(ref, reference, creds, opts?.signal);
      return m.kind === 'index'
        ? {
            kind: 'index',
            platforms: m.manifests.flatMap((x) =>
              x.os === undefined || x.architecture === undefined || x.os === 'unknown'
                ? [] // attestation manifests (buildx) carry unknown/unknown
                : [{ os: x.os, architecture: x.architecture, ...(x.variant ? { variant: x.variant } : {}) }],
            ),
          }
        : { kind: 'image' };
    });
  }

  async getImageCreated(
    ref: ImageReference,
    reference: string,
    platform?: Platform,
    opts?: RegistryCallOptions,
  ): Promise<string | undefined> {
    const creds = this.#credentials(ref, opts);
    const config = await this.#fetchConfig(ref, reference, creds, platform, opts?.signal);
    return config === undefined ? undefined : createdFromConfig(config);
  }

  async getManifest(
    ref: ImageReference,
    reference: string,
    opts?: RegistryCallOptions,
  ): Promise<FetchedManifest> {
    const res = await this.#manifestBody(ref, reference, this.#credentials(ref, opts), opts?.signal);
    const body = parseJson(res.body);
    const declared =
      body && typeof body === 'object' && typeof (body as { mediaType?: unknown }).mediaType === 'string'
        ? (body as { mediaType: string }).mediaType
        : undefined;
    return {
      digest: CONTENT_DIGEST.test(reference) ? reference : sha256(res.body),
      mediaType: declared ?? res.headers.get('content-type')?.split(';')[0]?.trim(),
      body: res.body,
    };
  }

  async getBlob(
    ref: ImageReference,
    digest: string,
    opts?: RegistryCallOptions & { maxBytes?: number },
  ): Promise<Buffer> {
    if (!CONTENT_DIGEST.test(digest)) {
      throw new RegistryError('E_REGISTRY_RESPONSE', `invalid blob digest for ${ref.repository}`);
    }
    const what = `the blob ${ref.repository}@${digest}`;
    return this.#blob(ref, digest, this.#credentials(ref, opts), {
      what,
      notFound: `${what} is missing on ${ref.registry}`,
      maxBytes: opts?.maxBytes ?? this.#maxConfigBytes,
      signal: opts?.signal,
    });
  }

  async getReferrers(
    ref: ImageReference,
    digest: string,
    opts?: RegistryCallOptions & { artifactType?: string },
  ): Promise<{ descriptors: Descriptor[]; via: 'api' | 'tag' }> {
    if (!CONTENT_DIGEST.test(digest)) {
      throw new RegistryError('E_REGISTRY_RESPONSE', `invalid subject digest for ${ref.repository}`);
    }
    const creds = this.#credentials(ref, opts);
    const type = opts?.artifactType;
    const what = `the referrers of ${ref.repository}@${digest}`;
    const query = type === undefined ? '' : `?artifactType=${encodeURIComponent(type)}`;
    let body: unknown;
    let via: 'api' | 'tag' = 'api';
    try {
      const res = await this.#request(ref, creds, {
        method: 'GET',
        url: `${this.#base(ref)}/v2/${ref.repository}/referrers/${digest}${query}`,
        accept: OCI_INDEX,
        maxBytes: this.#maxManifestBytes,
        what,
        notFound: `no referrers API on ${ref.registry}`,
        signal: opts?.signal,
      });
      body = parseJson(res.body);
    } catch (err) {
      // A registry without the API answers 404: the referrers tag schema is the documented fallback.
      if (!(err instanceof RegistryError) || err.code !== 'E_REGISTRY_NOT_FOUND') throw err;
      via = 'tag';
      const tag = digest.replace(':', '-');
      try {
        body = parseJson((await this.getManifest(ref, tag, opts)).body);
      } catch (e) {
        if (e instanceof RegistryError && e.code === 'E_REGISTRY_NOT_FOUND') return { descriptors: [], via };
        throw e;
      }
    }
    const manifests = (body as { manifests?: unknown } | undefined)?.manifests;
    if (!body || typeof body !== 'object' || !Array.isArray(manifests)) {
      throw new RegistryError(
        'E_REGISTRY_RESPONSE',
        `registry ${ref.registry} answered ${what} with something that is not an image index`,
      );
    }
    const descriptors: Descriptor[] = [];
    for (const m of manifests as unknown[]) {
      const d = parseDescriptor(m);
      // The tag schema has no server-side filter, and a filter is only a hint: check it here.
      if (d && (type === undefined || d.artifactType === type)) descriptors.push(d);
    }
    return { descriptors, via };
  }

  #credentials(ref: ImageReference, opts: RegistryCallOptions | undefined): RegistryCredentials | undefined {
    return opts?.credentials ?? this.#defaultCredentials(ref.registry);
  }

  #base(ref: ImageReference): string {
    return registryBaseUrl(ref.registry, this.#insecure);
  }

  /** All pages of a repository within the list deadline, or the first error. */
  async #fetchTags(
    ref: ImageReference,
    creds: RegistryCredentials | undefined,
    stop: AbortSignal,
  ): Promise<TagList> {
    const deadline = new AbortController();
    const ms = this.#listTimeoutMs;
    const timer = setTimeout(() => {
      deadline.abort(
        new RegistryError(
          'E_REGISTRY_TIMEOUT',
          `registry ${ref.registry} did not list the tags of ${ref.repository} within ${ms} ms (all pages; REGISTRY_LIST_TIMEOUT)`,
        ),
      );
    }, ms);
    timer.unref();
    const signal = AbortSignal.any([deadline.signal, stop]);
    try {
      const what = `the tag list of ${ref.repository}`;
      return await raceAbort(this.#collectTags(ref, creds, signal), signal, () =>
        abortedError(signal, `registry ${ref.registry}`, what),
      );
    } finally {
      clearTimeout(timer);
    }
  }

  async #collectTags(
    ref: ImageReference,
    creds: RegistryCredentials | undefined,
    signal: AbortSignal,
  ): Promise<TagList> {
    const base = this.#base(ref);
    const origin = new URL(base).origin;
    const what = `the tag list of ${ref.repository}`;
    const tags: string[] = [];
    const seen = new Set<string>();
    let bytes = 0; // estimated heap bytes kept, reserved in the shared list budget
    let dropped = 0;
    const keep = (cost: number): void => {
      if (bytes + cost > this.#maxRepositoryTagBytes) {
        throw new RegistryError(
          'E_REGISTRY_RESPONSE',
          `registry ${ref.registry} listed more than ${this.#maxRepositoryTagBytes} bytes of tags for ${ref.repository}; ` +
            'pin a digest or narrow the repository',
        );
      }
      if (!this.#listBudget.take(cost)) {
        throw new RegistryError(
          'E_REGISTRY_UNAVAILABLE',
          `tag lists being read hold ${this.#listBudget.limit} bytes already (the watcher's memory budget); ` +
            `the tags of ${ref.repository} on ${ref.registry} are asked again next time`,
        );
      }
      bytes += cost;
    };
    let url = `${base}/v2/${ref.repository}/tags/list?n=${this.#pageSize}`;
    try {
      for (let page = 1; ; page++) {
        keep(url.length + TAG_OVERHEAD_BYTES);
        seen.add(url);
        const res = await this.#request(ref, creds, {
          method: 'GET',
          url,
          accept: 'application/json',
          maxBytes: this.#maxTagPageBytes,
          what,
          notFound: `repository ${ref.repository} not found on ${ref.registry}`,
          signal,
        });
        const body = parseJson(res.body) as { tags?: unknown } | undefined;
        const pageTags = body && typeof body === 'object' ? body.tags : undefined;
        if (pageTags !== null && (!Array.isArray(pageTags) || pageTags.some((t) => typeof t !== 'string'))) {
          throw new RegistryError(
            'E_REGISTRY_RESPONSE',
            `registry ${ref.registry} answered with invalid JSON for the tag list of ${ref.repository}`,
          );
        }
        for (const tag of (pageTags ?? []) as string[]) {
          if (!TAG_RE.test(tag)) {
            dropped++;
            continue;
          }
          if (tags.length >= this.#maxTags) {
            throw new RegistryError(
              'E_REGISTRY_RESPONSE',
              `registry ${ref.registry} listed more than ${this.#maxTags} tags for ${ref.repository}; ` +
                'pin a digest or narrow the repository',
            );
          }
          keep(tag.length + TAG_OVERHEAD_BYTES);
          tags.push(tag);
        }
        const next = parseNextLink(res.headers.get('link'));
        if (!next) break;
        let nextUrl: URL;
        try {
          nextUrl = new URL(next, base);
        } catch {
          break;
        }
        // Never follow a link elsewhere: our credentials go with the request.
        if (nextUrl.origin !== origin) {
          throw new RegistryError(
            'E_REGISTRY_RESPONSE',
            `registry ${ref.registry} sent a pagination link to another host for ${ref.repository}; refusing to follow it`,
          );
        }
        if (seen.has(nextUrl.href)) break;
        if (page >= this.#maxPages) {
          throw new RegistryError(
            'E_REGISTRY_RESPONSE',
            `registry ${ref.registry} returned more than ${this.#maxPages} pages of tags for ${ref.repository}`,
          );
        }
        url = nextUrl.href;
      }
    } finally {
      // The finished list is counted by the cache from here on.
      this.#listBudget.give(bytes);
    }
    if (dropped > 0) {
      this.#logger?.warn(
        { registry: ref.registry, repository: ref.repository, dropped },
        'registry listed tags that are not valid tag names; they are ignored',
      );
    }
    this.#logger?.debug(
      { registry: ref.registry, repository: ref.repository, tags: tags.length },
      'tags listed',
    );
    return { tags, bytes: tags.reduce((n, t) => n + t.length + TAG_OVERHEAD_BYTES, 0) };
  }

  async #fetchDigest(
    ref: ImageReference,
    reference: string,
    creds: RegistryCredentials | undefined,
  ): Promise<string> {
    const call: Call = {
      method: 'HEAD',
      url: `${this.#base(ref)}/v2/${ref.repository}/manifests/${reference}`,
      accept: MANIFEST_ACCEPT,
      maxBytes: this.#maxManifestBytes,
      what: `the manifest ${ref.repository}:${reference}`,
      notFound: `${reference} of repository ${ref.repository} not found on ${ref.registry}`,
    };
    const head = await this.#request(ref, creds, call);
    const header = head.headers.get('docker-content-digest');
    if (header !== null) {
      const digest = header.trim();
      // The digest ends up in a pod spec: a malformed one is the registry's error, never used.
      if (!CONTENT_DIGEST.test(digest)) {
        throw new RegistryError(
          'E_REGISTRY_RESPONSE',
          `registry ${ref.registry} answered ${call.what} with a malformed digest (want sha256:<64 hex> or sha512:<128 hex>)`,
        );
      }
      if (CONTENT_DIGEST.test(reference) && digest !== reference) {
        throw new RegistryError(
          'E_REGISTRY_RESPONSE',
          `registry ${ref.registry} answered ${call.what} with another digest (${digest})`,
        );
      }
      return digest;
    }
    // Some registries omit the header on HEAD: hash the manifest itself (this GET may count as a pull).
    this.#logger?.debug(
      { registry: ref.registry, repository: ref.repository },
      'no digest header on HEAD, using GET',
    );
    const res = await this.#request(ref, creds, { ...call, method: 'GET' });
    this.#verify(ref, reference, res.body, call.what);
    return sha256(res.body);
  }

  /** Content fetched by digest must hash to it: a mismatch is never used. */
  #verify(ref: ImageReference, reference: string, body: Buffer, what: string): void {
    if (!CONTENT_DIGEST.test(reference)) return;
    if (contentDigest(reference.slice(0, reference.indexOf(':')), body) !== reference) {
      throw new RegistryError(
        'E_REGISTRY_RESPONSE',
        `registry ${ref.registry} sent ${what} whose bytes do not match its digest; refusing to use it`,
      );
    }
  }

  async #fetchLabels(
    ref: ImageReference,
    reference: string,
    creds: RegistryCredentials | undefined,
  ): Promise<Record<string, string>> {
    const config = await this.#fetchConfig(ref, reference, creds, undefined, undefined);
    return config === undefined ? {} : labelsFromConfig(config);
  }

  /** The bytes of one manifest or index (GET), checked against its digest when asked by digest. */
  async #manifestBody(
    ref: ImageReference,
    r: string,
    creds: RegistryCredentials | undefined,
    signal: AbortSignal | undefined,
  ): Promise<HttpResponse> {
    const res = await this.#request(ref, creds, {
      method: 'GET',
      url: `${this.#base(ref)}/v2/${ref.repository}/manifests/${r}`,
      accept: MANIFEST_ACCEPT,
      maxBytes: this.#maxManifestBytes,
      what: `the manifest ${ref.repository}:${r}`,
      notFound: `${r} of repository ${ref.repository} not found on ${ref.registry}`,
      ...(signal ? { signal } : {}),
    });
    this.#verify(ref, r, res.body, `the manifest ${ref.repository}@${r}`);
    return res;
  }

  /** The bytes of one blob (GET), checked against its digest. */
  async #blob(
    ref: ImageReference,
    digest: string,
    creds: RegistryCredentials | undefined,
    call: { what: string; notFound: string; maxBytes: number; signal: AbortSignal | undefined },
  ): Promise<Buffer> {
    const res = await this.#request(ref, creds, {
      method: 'GET',
      url: `${this.#base(ref)}/v2/${ref.repository}/blobs/${digest}`,
      accept: '*/*',
      maxBytes: call.maxBytes,
      what: call.what,
      notFound: call.notFound,
      ...(call.signal ? { signal: call.signal } : {}),
    });
    this.#verify(ref, digest, res.body, call.what);
    return res.body;
  }

  /** One manifest or index (GET), checked against its digest when asked by digest. */
  async #fetchManifest(
    ref: ImageReference,
    r: string,
    creds: RegistryCredentials | undefined,
    signal: AbortSignal | undefined,
  ): Promise<ParsedManifest> {
    const res = await this.#manifestBody(ref, r, creds, signal);
    const parsed = parseManifest(parseJson(res.body), res.headers.get('content-type') ?? undefined);
    if (!parsed) {
      throw new RegistryError(
        'E_REGISTRY_RESPONSE',
        `registry ${ref.registry} answered with an unsupported manifest for ${ref.repository}:${r}`,
      );
    }
    if (parsed.kind === 'index') {
      for (const m of parsed.manifests) {
        if (!CONTENT_DIGEST.test(m.digest)) {
          throw new RegistryError(
            'E_REGISTRY_RESPONSE',
            `registry ${ref.registry} answered with an index naming an invalid digest for ${ref.repository}:${r}`,
          );
        }
      }
    }
    return parsed;
  }

  /**
   * The image config (JSON) behind a reference: for an index, of `platform` (else linux/amd64 or
   * the first entry); undefined when an index has no such platform.
   */
  async #fetchConfig(
    ref: ImageReference,
    reference: string,
    creds: RegistryCredentials | undefined,
    platform: Platform | undefined,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    let manifest = await this.#fetchManifest(ref, reference, creds, signal);
    if (manifest.kind === 'index') {
      const digest =
        platform === undefined
          ? pickPlatform(manifest.manifests)
          : manifest.manifests.find((m) => samePlatform(m, platform))?.digest;
      if (!digest) return undefined;
      manifest = await this.#fetchManifest(ref, digest, creds, signal);
      if (manifest.kind !== 'image') {
        throw new RegistryError(
          'E_REGISTRY_RESPONSE',
          `registry ${ref.registry} answered with a nested index for ${ref.repository}:${reference}`,
        );
      }
    }
    const configDigest = manifest.configDigest;
    if (!CONTENT_DIGEST.test(configDigest)) {
      throw new RegistryError(
        'E_REGISTRY_RESPONSE',
        `registry ${ref.registry} answered with a manifest naming an invalid config digest for ${ref.repository}:${reference}`,
      );
    }
    const what = `the image config of ${ref.repository}:${reference}`;
    const body = await this.#blob(ref, configDigest, creds, {
      what,
      notFound: `${what} is missing on ${ref.registry}`,
      maxBytes: this.#maxConfigBytes,
      signal,
    });
    return parseJson(body);
  }

  /** One registry call with the auth dance; maps failures to RegistryError. */
  async #request(
    ref: ImageReference,
    creds: RegistryCredentials | undefined,
    call: Call,
  ): Promise<HttpResponse> {
    const ctx: AuthContext = {
      registry: ref.registry,
      repository: ref.repository,
      scope: `repository:${ref.repository}:pull`,
      credentials: creds,
    };
    let authorization = this.#auth.cachedHeader(ctx);
    for (let pass = 0; ; pass++) {
      const headers: Record<string, string> = { accept: call.accept, 'user-agent': USER_AGENT };
      if (authorization) headers.authorization = authorization;
      const res = await this.#http.send({
        registry: ref.registry,
        limitKey: new URL(call.url).host,
        method: call.method,
        url: call.url,
        headers,
        maxBytes: call.maxBytes,
        what: call.what,
        trustedHost: new URL(call.url).hostname.replace(/^\[|\]$/g, '').toLowerCase(),
        signal: call.signal,
      });
      if (res.status === 401) {
        const challenge = parseWwwAuthenticate(res.headers.get('www-authenticate'));
        if (!challenge) {
          throw new RegistryError(
            'E_REGISTRY_AUTH',
            `registry ${ref.registry} answered HTTP 401 for ${ref.repository} without a Basic or Bearer challenge`,
            { status: 401 },
          );
        }
        const basicRejected = challenge.scheme === 'basic' && authorization?.startsWith('Basic ');
        if (pass >= 1 || basicRejected) {
          this.#auth.forget(ctx);
          throw creds ? refusedCredentials(ctx, 401) : missingCredentials(ctx, 401);
        }
        authorization = await this.#auth.headerFor(ctx, challenge, call.signal);
        continue;
      }
      if (res.status === 403) {
        throw new RegistryError(
          'E_REGISTRY_AUTH',
          `registry ${ref.registry} denied access to ${ref.repository} (HTTP 403): the credentials lack pull permission`,
          { status: 403 },
        );
      }
      if (res.status === 404) throw new RegistryError('E_REGISTRY_NOT_FOUND', call.notFound, { status: 404 });
      if (res.status === 429) {
        throw new RegistryError(
          'E_REGISTRY_UNAVAILABLE',
          `registry ${ref.registry} is rate limiting requests for ${call.what} (HTTP 429); try again later`,
          { status: 429 },
        );
      }
      if (res.status >= 500) {
        throw new RegistryError(
          'E_REGISTRY_UNAVAILABLE',
          `registry ${ref.registry} failed to answer ${call.what} (HTTP ${res.status})`,
          { status: res.status },
        );
      }
      if (res.status < 200 || res.status > 299) {
        throw new RegistryError(
          'E_REGISTRY_RESPONSE',
          `registry ${ref.registry} answered HTTP ${res.status} for ${call.what}`,
          {
            status: res.status,
          },
        );
      }
      return res;
    }
  }
}

export function createRegistryClient(opts: RegistryClientOptions = {}): RegistryClient & RegistryArtifacts {
  return new OciRegistryClient(opts);
}
