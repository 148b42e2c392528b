import pLimit from 'p-limit';
import type { LimitFunction } from 'p-limit';
import type { Logger } from 'pino';
import { bareHostname, checkHost } from '../outbound/address-guard.ts';
import type { Resolve } from '../outbound/address-guard.ts';
import { abortedError, RegistryError } from './errors.ts';
import { ByteBudget } from './budget.ts';
import { TokenBucket } from './rate-limit.ts';
import { parseRetryAfter } from '../../shared/retry-after.ts';
import { backoffDelay } from '../../shared/backoff.ts';
import type { BackoffRule } from '../../shared/backoff.ts';
import { isRetryableStatus } from './retry.ts';
import type { RegistryRequestObserver } from './types.ts';

export interface HttpOptions {
  fetch: typeof fetch;
  observer: RegistryRequestObserver;
  logger: Logger | undefined;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  timeoutMs: number;
  maxAttempts: number;
  /** Retry `attempt` (from 0) waits backoffDelay(attempt + 1, backoff); use jitter 1 (full jitter). */
  backoff: BackoffRule;
  maxRetryAfterMs: number;
  concurrency: number;
  ratePerSecond: number;
  burst: number;
  /**
   * With a resolver, every hop is resolved first: limits are keyed by the address actually
   * contacted (host names pointing at one target share its limits), and hosts other than the
   * one the user named (redirect targets, token realms) go through the address guard.
   * Without one (unit tests with a fake fetch), limits are keyed by `limitKey` and nothing is resolved.
   */
  resolve?: Resolve | undefined;
  /** Private targets allowed for indirect hops too (REGISTRY_ALLOW_PRIVATE-like; tests, on-prem). */
  allowPrivate?: boolean;
  /** Host names (lower-case) that indirect hops may reach even when private. */
  trustedHosts?: readonly string[];
  /** Redirects followed per request, each hop guarded. Default 5. */
  maxRedirects?: number;
  /** Response bytes being read at once over all requests (memory). Default 24 MiB. */
  maxBytesInFlight?: number;
}

export interface HttpRequest {
  /** Registry as named in the image reference: metrics label and messages. */
  registry: string;
  /** Key of the concurrency limit and rate bucket (registry host, or the token realm's origin). */
  limitKey: string;
  method: 'GET' | 'HEAD' | 'POST';
  url: string;
  headers: Record<string, string>;
  body?: string;
  maxBytes: number;
  /** What is being fetched, for messages: "the tag list of app". */
  what: string;
  /** Host name the user named (the registry of the image): reached without the address guard. */
  trustedHost?: string | undefined;
  /** Stops the request (and its retries); its reason (a RegistryError) is what is thrown. */
  signal?: AbortSignal | undefined;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  body: Buffer;
  url: string;
}

class BodyTooLargeError extends Error {}
class BudgetExhaustedError extends Error {}

/** Streams a body up to `maxBytes`, each chunk reserved in the shared budget while it is held. */
async function readBody(res: Response, maxBytes: number, budget: ByteBudget): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw new BodyTooLargeError();
  }
  if (!res.body) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      total += chunk.byteLength;
      // Leaving the loop cancels the stream: the rest is never downloaded.
      if (total > maxBytes) throw new BodyTooLargeError();
      if (!budget.take(chunk.byteLength)) {
        total -= chunk.byteLength;
        throw new BudgetExhaustedError();
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks, total);
  } finally {
    // The caller parses the body right away; until then it is one buffer, no longer a queue of chunks.
    budget.give(total);
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function networkCode(err: unknown): string {
  const own = (err as { code?: unknown }).code;
  if (typeof own === 'string') return own;
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (cause && typeof cause.code === 'string') return cause.code;
  if (cause && typeof cause.message === 'string') return cause.message;
  return err instanceof Error ? err.message : 'network error';
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
}

/**
 * Sends registry requests: per-registry concurrency limit and token bucket, a timeout on
 * every attempt (body included), retries with full-jitter backoff for network errors and
 * 5xx, and `Retry-After` for 429/503 up to a cap. Every attempt is observed for metrics.
 * The last response is returned when retries run out, so the caller can explain it.
 */
/** Registries whose limiter state is kept before idle ones are dropped. */
const MAX_IDLE_HOSTS = 256;

export class RegistryHttp {
  readonly #o: HttpOptions;
  readonly #limits = new Map<string, LimitFunction>();
  readonly #buckets = new Map<string, TokenBucket>();
  readonly #inFlight: ByteBudget;

  constructor(opts: HttpOptions) {
    this.#o = opts;
    this.#inFlight = new ByteBudget(opts.maxBytesInFlight ?? 24 * 1024 * 1024);
  }

  /** Response bytes being read right now (tests, metrics). */
  get bytesInFlight(): number {
    return this.#inFlight.used;
  }

  #limit(key: string): LimitFunction {
    let l = this.#limits.get(key);
    if (!l) {
      if (this.#limits.size >= MAX_IDLE_HOSTS) this.#prune();
      l = pLimit(this.#o.concurrency);
      this.#limits.set(key, l);
    }
    return l;
  }

  /** Drops the state of idle registries (no request running or queued, bucket full): it is the same as new. */
  #prune(): void {
    for (const [key, l] of this.#limits) {
      if (l.activeCount === 0 && l.pendingCount === 0) this.#limits.delete(key);
    }
    for (const [key, b] of this.#buckets) {
      if (!this.#limits.has(key) && b.isFull()) this.#buckets.delete(key);
    }
  }

  /** Registries with state kept (tests). */
  get trackedHosts(): number {
    return this.#limits.size;
  }

  #bucket(key: string): TokenBucket {
    let b = this.#buckets.get(key);
    if (!b) {
      b = new TokenBucket({
        ratePerSecond: this.#o.ratePerSecond,
        burst: this.#o.burst,
        now: this.#o.now,
        sleep: this.#o.sleep,
      });
      this.#buckets.set(key, b);
    }
    return b;
  }

  send(req: HttpRequest): Promise<HttpResponse> {
    return this.#sendWithRetries(req);
  }

  async #sendWithRetries(req: HttpRequest): Promise<HttpResponse> {
    const o = this.#o;
    for (let attempt = 0; ; attempt++) {
      const last = attempt + 1 >= o.maxAttempts;
      if (req.signal?.aborted) throw abortedError(req.signal, `registry ${req.registry}`, req.what);
      const started = performance.now();
      let res: HttpResponse;
      try {
        res = await this.#follow(req);
      } catch (err) {
        const seconds = (performance.now() - started) / 1000;
        if (err instanceof RegistryError) throw err;
        if (req.signal?.aborted) throw abortedError(req.signal, `registry ${req.registry}`, req.what);
        if (err instanceof BudgetExhaustedError || err instanceof BodyTooLargeError) {
          o.observer.observeRegistryRequest({
            registry: req.registry,
            method: req.method,
            code: 'too_large',
            seconds,
          });
          throw err instanceof BudgetExhaustedError
            ? new RegistryError(
                'E_REGISTRY_UNAVAILABLE',
                `registry responses being read hold ${this.#inFlight.limit} bytes already (the watcher's memory budget); ${req.what} from ${req.registry} is asked again next time`,
              )
            : new RegistryError(
                'E_REGISTRY_RESPONSE',
                `registry ${req.registry} sent more than ${req.maxBytes} bytes for ${req.what}; refusing to read it`,
              );
        }
        const timeout = isTimeout(err);
        o.observer.observeRegistryRequest({
          registry: req.registry,
          method: req.method,
          code: timeout ? 'timeout' : 'error',
          seconds,
        });
        o.logger?.debug(
          { registry: req.registry, method: req.method, attempt, timeout },
          'registry request failed',
        );
        if (last) {
          if (timeout) {
            throw new RegistryError(
              'E_REGISTRY_TIMEOUT',
              `registry ${req.registry} did not answer ${req.what} within ${o.timeoutMs} ms (${o.maxAttempts} attempts)`,
            );
          }
          throw new RegistryError(
            'E_REGISTRY_UNAVAILABLE',
            `cannot reach registry ${req.registry} for ${req.what}: ${networkCode(err)} (${o.maxAttempts} attempts)`,
          );
        }
        await o.sleep(retryDelay(attempt, o));
        continue;
      }
      o.observer.observeRegistryRequest({
        registry: req.registry,
        method: req.method,
        code: String(res.status),
        seconds: (performance.now() - started) / 1000,
      });
      if (!isRetryableStatus(res.status) || last) return res;
      let delay = retryDelay(attempt, o);
      if (res.status === 429 || res.status === 503) {
        const retryAfter = parseRetryAfter(res.headers.get('retry-after'), o.now());
        // A registry asking for a longer pause than we are willing to wait: give up now rather than hammer it.
        if (retryAfter !== undefined && retryAfter > o.maxRetryAfterMs) return res;
        if (retryAfter !== undefined) delay = retryAfter;
      }
      o.logger?.debug(
        { registry: req.registry, method: req.method, status: res.status, attempt, delayMs: delay },
        'registry request retried',
      );
      await o.sleep(delay);
    }
  }

  /**
   * One attempt: the request and the redirects it gets, followed by hand so every hop is
   * guarded and limited by the target it reaches. A body (the OAuth2 refresh token) is never
   * re-sent to a redirect; Authorization is dropped when a hop leaves the origin (S3 and CDNs
   * answer registries' blob redirects and must not see registry credentials).
   */
  async #follow(req: HttpRequest): Promise<HttpResponse> {
    const o = this.#o;
    const timeout = AbortSignal.timeout(o.timeoutMs);
    const signal = req.signal ? AbortSignal.any([timeout, req.signal]) : timeout;
    const maxRedirects = o.maxRedirects ?? 5;
    let url = new URL(req.url);
    let headers = req.headers;
    for (let hop = 0; ; hop++) {
      const key = await this.#target(req, url, hop);
      const res = await this.#limit(key)(async () => {
        await this.#bucket(key).take();
        if (signal.aborted) throw signal.reason;
        return this.#once(req, url, headers, signal);
      });
      if (!REDIRECTS.has(res.status) || req.body !== undefined) return res;
      const location = res.headers.get('location');
      if (location === null) return res;
      if (hop >= maxRedirects) {
        throw new RegistryError(
          'E_REGISTRY_RESPONSE',
          `registry ${req.registry} redirected ${req.what} more than ${maxRedirects} times`,
        );
      }
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw new RegistryError(
          'E_REGISTRY_RESPONSE',
          `registry ${req.registry} redirected ${req.what} to an invalid URL`,
        );
      }
      if (next.protocol !== 'https:' && next.protocol !== 'http:') {
        throw new RegistryError(
          'E_REGISTRY_RESPONSE',
          `registry ${req.registry} redirected ${req.what} to a ${next.protocol} URL`,
        );
      }
      if (next.origin !== url.origin && headers.authorization !== undefined) {
        headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k !== 'authorization'));
      }
      url = next;
    }
  }

  /**
   * Key of the limits for one hop; guards hops to hosts the user did not name. Throws
   * RegistryError for a guarded target, the resolver's error (retried like any network error) else.
   */
  async #target(req: HttpRequest, url: URL, hop: number): Promise<string> {
    const o = this.#o;
    if (o.resolve === undefined) return hop === 0 ? req.limitKey : url.host;
    const host = bareHostname(url);
    const trusted =
      o.allowPrivate === true || host === req.trustedHost || (o.trustedHosts ?? []).includes(host);
    const verdict = await checkHost(host, { resolve: o.resolve, trusted });
    if (verdict.blocked !== undefined) {
      const { address, why } = verdict.blocked;
      const via = hop === 0 ? 'names' : 'redirected to';
      throw new RegistryError(
        'E_REGISTRY_RESPONSE',
        `registry ${req.registry} ${via} ${host} for ${req.what}, which is ${address}, ${why}; refusing to contact it`,
      );
    }
    // Round-robin DNS reorders answers: the lowest address names the target stably.
    const lowest = verdict.addresses.map((a) => a.address).sort()[0] ?? host;
    const port = url.port || (url.protocol === 'https:' ? '443' : '80');
    return `${lowest}|${port}`;
  }

  async #once(
    req: HttpRequest,
    url: URL,
    headers: Record<string, string>,
    signal: AbortSignal,
  ): Promise<HttpResponse> {
    const res = await this.#o.fetch(url.href, {
      method: req.method,
      headers,
      body: req.body,
      signal,
      redirect: 'manual',
    });
    // Error bodies are read too (bounded) so the connection can be reused; redirects' are skipped.
    const limit = res.ok ? req.maxBytes : Math.min(req.maxBytes, 64 * 1024);
    let body: Buffer;
    try {
      body =
        req.method === 'HEAD' || REDIRECTS.has(res.status)
          ? Buffer.alloc(0)
          : await readBody(res, limit, this.#inFlight);
    } catch (err) {
      if (err instanceof BodyTooLargeError && !res.ok) body = Buffer.alloc(0);
      else throw err;
    }
    if (REDIRECTS.has(res.status)) await res.body?.cancel().catch(() => undefined);
    return { status: res.status, headers: res.headers, body, url: url.href };
  }
}

/** Full jitter: a random wait in [0, min(cap, base * 2^attempt)], so clients do not retry in step. */
export function retryDelay(attempt: number, o: Pick<HttpOptions, 'backoff' | 'random'>): number {
  return backoffDelay(attempt + 1, o.backoff, () => 1 - o.random());
}
