// Who may call the watcher's API: the static API_TOKEN, or a Kubernetes bearer token that the API
// server authenticates (TokenReview) and authorizes (SubjectAccessReview) for an attribute in the
// `image-watcher.io` group, the way kube-rbac-proxy does. Answers are cached briefly, in bounded
// maps, so a burst of calls costs the API server one review per caller and attribute.
import { createHash, timingSafeEqual } from 'node:crypto';

/** The API group of the SubjectAccessReview attributes (nothing is served under it). */
export const API_GROUP = 'image-watcher.io';

export interface KubeUser {
  username: string;
  uid?: string | undefined;
  groups: string[];
  extra?: Record<string, string[]> | undefined;
}

/**
 * What a route asks the authorizer, as `resourceAttributes` of a SubjectAccessReview in
 * API_GROUP: `list workloads` (inventory), `get images` (resolve), `update workloads` in a
 * namespace with a name (manual update).
 */
export interface ResourceAccess {
  verb: 'list' | 'get' | 'update';
  resource: 'workloads' | 'images';
  namespace?: string;
  name?: string;
}

/** The two reviews, against the API server (kube-review.ts) or a fake. */
export interface IdentityReviewer {
  /** The user the token belongs to; undefined when the API server does not authenticate it. */
  reviewToken(token: string): Promise<KubeUser | undefined>;
  reviewAccess(user: KubeUser, access: ResourceAccess): Promise<boolean>;
}

export type AccessDecision =
  | { result: 'allowed'; caller: string }
  | { result: 'unauthenticated' }
  | { result: 'forbidden' }
  /** The API server could not be asked (not cached): 503, try again. */
  | { result: 'unavailable' };

export interface ApiAccessOptions {
  /** API_TOKEN: full access. */
  apiToken?: string | undefined;
  /** Kubernetes identities; without it only the API token is accepted. */
  reviewer?: IdentityReviewer | undefined;
  /** Milliseconds, for the cache. */
  now: () => number;
  /** How long an allowed / refused answer is reused. Default 60 s / 10 s. */
  positiveTtlMs?: number;
  negativeTtlMs?: number;
  /** Entries per cache (tokens, access answers). Default 1024. */
  maxEntries?: number;
  /** Reviews in flight at once; further unknown tokens get `unavailable`. Default 16. */
  maxInFlight?: number;
}

/** Hashing first gives equal lengths, so timingSafeEqual compares without leaking the token's length. */
export function tokensMatch(given: string, expected: string | undefined): boolean {
  if (expected === undefined || expected === '') return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The token of `Authorization: Bearer <token>`, else undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer[ \t]+(\S{1,8192})[ \t]*$/i.exec(header ?? '');
  return m?.[1];
}

/** A map whose entries expire and whose oldest entries go first when it is full. */
export class TtlCache<V> {
  readonly #max: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, { value: V; until: number }>();

  constructor(max: number, now: () => number) {
    this.#max = Math.max(1, max);
    this.#now = now;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): V | undefined {
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    if (e.until <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: V, ttlMs: number): void {
    this.#entries.delete(key);
    if (ttlMs <= 0) return;
    while (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { value, until: this.#now() + ttlMs });
  }
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('base64url');

export class ApiAccess {
  readonly #opts: ApiAccessOptions;
  readonly #positiveTtl: number;
  readonly #negativeTtl: number;
  readonly #maxInFlight: number;
  /** Token hash -> user, or null for a token the API server refused. */
  readonly #users: TtlCache<KubeUser | null>;
  readonly #answers: TtlCache<boolean>;
  readonly #pending = new Map<string, Promise<unknown>>();

  constructor(opts: ApiAccessOptions) {
    this.#opts = opts;
    this.#positiveTtl = opts.positiveTtlMs ?? 60_000;
    this.#negativeTtl = opts.negativeTtlMs ?? 10_000;
    this.#maxInFlight = opts.maxInFlight ?? 16;
    this.#users = new TtlCache(opts.maxEntries ?? 1024, opts.now);
    this.#answers = new TtlCache(opts.maxEntries ?? 1024, opts.now);
  }

  /** True when Kubernetes identities are checked (the watcher runs in a cluster). */
  get kubernetes(): boolean {
    return this.#opts.reviewer !== undefined;
  }

  /**
   * The decision for one request: `access` undefined means a route that only the API token may
   * use (a route without a declared attribute is never opened to Kubernetes users by accident).
   */
  async decide(
    authorization: string | undefined,
    access: ResourceAccess | undefined,
  ): Promise<AccessDecision> {
    const token = bearerToken(authorization);
    if (token === undefined) return { result: 'unauthenticated' };
    if (this.#opts.apiToken !== undefined && tokensMatch(token, this.#opts.apiToken)) {
      return { result: 'allowed', caller: 'API_TOKEN' };
    }
    const reviewer = this.#opts.reviewer;
    if (reviewer === undefined) return { result: 'unauthenticated' };
    let user: KubeUser | null;
    try {
      user = await this.#user(reviewer, token);
    } catch {
      return { result: 'unavailable' };
    }
    if (user === null) return { result: 'unauthenticated' };
    if (access === undefined) return { result: 'forbidden' };
    let allowed: boolean;
    try {
      allowed = await this.#allowed(reviewer, user, access);
    } catch {
      return { result: 'unavailable' };
    }
    return allowed ? { result: 'allowed', caller: user.username } : { result: 'forbidden' };
  }

  async #user(reviewer: IdentityReviewer, token: string): Promise<KubeUser | null> {
    const key = sha256(token);
    const cached = this.#users.get(key);
    if (cached !== undefined) return cached;
    return this.#once(`u|${key}`, async () => {
      const user = (await reviewer.reviewToken(token)) ?? null;
      this.#users.set(key, user, user === null ? this.#negativeTtl : this.#positiveTtl);
      return user;
    });
  }

  async #allowed(reviewer: IdentityReviewer, user: KubeUser, access: ResourceAccess): Promise<boolean> {
    const key = sha256(
      JSON.stringify([
        user.username,
        user.uid ?? '',
        [...user.groups].sort(),
        Object.entries(user.extra ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        access.verb,
        access.resource,
        access.namespace ?? '',
        access.name ?? '',
      ]),
    );
    const cached = this.#answers.get(key);
    if (cached !== undefined) return cached;
    return this.#once(`a|${key}`, async () => {
      const allowed = await reviewer.reviewAccess(user, access);
      this.#answers.set(key, allowed, allowed ? this.#positiveTtl : this.#negativeTtl);
      return allowed;
    });
  }

  /** Concurrent asks for the same key share one review; too many distinct ones are refused. */
  #once<T>(key: string, review: () => Promise<T>): Promise<T> {
    const pending = this.#pending.get(key) as Promise<T> | undefined;
    if (pending !== undefined) return pending;
    if (this.#pending.size >= this.#maxInFlight)
      return Promise.reject(new Error('too many reviews in flight'));
    const p = review().finally(() => this.#pending.delete(key));
    this.#pending.set(key, p);
    return p;
  }
}
