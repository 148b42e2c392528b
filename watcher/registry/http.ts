import pLimit from 'p-limit';
import type { LimitFunction } from 'p-limit';
import type { Logger } from 'pino';
import { RegistryError } from './errors.ts';
import { TokenBucket } from './rate-limit.ts';
import { parseRetryAfter } from '../../shared/retry-after.ts';
import { backoffDelay, isRetryableStatus } from './retry.ts';
import type { BackoffPolicy } from './retry.ts';
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
  backoff: BackoffPolicy;
  maxRetryAfterMs: number;
  concurrency: number;
  ratePerSecond: number;
  burst: number;
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
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  body: Buffer;
  url: string;
}

class BodyTooLargeError extends Error {}

async function readBody(res: Response, maxBytes: number): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw new BodyTooLargeError();
  }
  if (!res.body) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > maxBytes) throw new BodyTooLargeError();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function networkCode(err: unknown): string {
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

  constructor(opts: HttpOptions) {
    this.#o = opts;
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
    return this.#limit(req.limitKey)(() => this.#sendWithRetries(req));
  }

  async #sendWithRetries(req: HttpRequest): Promise<HttpResponse> {
    const o = this.#o;
    for (let attempt = 0; ; attempt++) {
      const last = attempt + 1 >= o.maxAttempts;
      await this.#bucket(req.limitKey).take();
      const started = performance.now();
      let res: HttpResponse;
      try {
        res = await this.#once(req);
      } catch (err) {
        const seconds = (performance.now() - started) / 1000;
        if (err instanceof BodyTooLargeError) {
          o.observer.observeRegistryRequest({
            registry: req.registry,
            method: req.method,
            code: 'too_large',
            seconds,
          });
          throw new RegistryError(
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
        await o.sleep(backoffDelay(attempt, o.backoff, o.random));
        continue;
      }
      o.observer.observeRegistryRequest({
        registry: req.registry,
        method: req.method,
        code: String(res.status),
        seconds: (performance.now() - started) / 1000,
      });
      if (!isRetryableStatus(res.status) || last) return res;
      let delay = backoffDelay(attempt, o.backoff, o.random);
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

  async #once(req: HttpRequest): Promise<HttpResponse> {
    const signal = AbortSignal.timeout(this.#o.timeoutMs);
    const res = await this.#o.fetch(req.url, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      signal,
      // fetch re-sends a body on 307/308 even to another host: a body (the OAuth2 refresh token)
      // must only reach the URL it was meant for. Authorization headers are dropped cross-origin.
      redirect: req.body === undefined ? 'follow' : 'manual',
    });
    // Error bodies are read too (bounded) so the connection can be reused.
    const limit = res.ok ? req.maxBytes : Math.min(req.maxBytes, 64 * 1024);
    let body: Buffer;
    try {
      body = req.method === 'HEAD' ? Buffer.alloc(0) : await readBody(res, limit);
    } catch (err) {
      if (err instanceof BodyTooLargeError && !res.ok) body = Buffer.alloc(0);
      else throw err;
    }
    return { status: res.status, headers: res.headers, body, url: res.url || req.url };
  }
}
