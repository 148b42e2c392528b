import { createHash } from 'node:crypto';
import type { AuthChallenge } from './challenge.ts';
import { bareHostname } from '../outbound/address-guard.ts';
import { hostOf, registryBaseUrl } from './endpoint.ts';
import { RegistryError } from './errors.ts';
import type { RegistryHttp } from './http.ts';
import type { RegistryCredentials } from './types.ts';

/** Short in-memory key for a set of credentials (never logged; tells cache entries apart). */
export function credentialsKey(creds: RegistryCredentials | undefined): string {
  if (!creds) return 'anonymous';
  return createHash('sha256')
    .update(`${creds.username ?? ''}\0${creds.password ?? ''}\0${creds.identityToken ?? ''}`)
    .digest('hex')
    .slice(0, 16);
}

export function basicHeader(creds: RegistryCredentials): string | undefined {
  if (creds.username === undefined || creds.password === undefined) return undefined;
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Tokens are renewed this long before the registry says they expire. */
const EXPIRY_SKEW_MS = 10_000;
const DEFAULT_EXPIRES_IN_S = 60;
/**
 * Most bearer tokens kept. There is one per repository and credentials, and repositories can come
 * from callers (e.g. the resolve API), so the cache must not grow without bound.
 */
export const MAX_CACHED_TOKENS = 1000;
/** A token answer (JWTs are a few KiB). */
const MAX_TOKEN_BYTES = 256 * 1024;

export interface AuthContext {
  registry: string;
  repository: string;
  scope: string;
  credentials: RegistryCredentials | undefined;
}

/**
 * Remembers how each registry wants to be authenticated (learned from its 401 challenge) and
 * caches bearer tokens per (registry, realm, service, scope, credentials) until `expires_in`.
 */
export class Authenticator {
  readonly #http: RegistryHttp;
  readonly #now: () => number;
  readonly #challenges = new Map<string, AuthChallenge>();
  readonly #tokens = new Map<string, CachedToken>();
  readonly #inflight = new Map<string, Promise<CachedToken>>();

  readonly #insecure: readonly string[];

  constructor(opts: { http: RegistryHttp; now: () => number; insecureRegistries?: readonly string[] }) {
    this.#http = opts.http;
    this.#now = opts.now;
    this.#insecure = opts.insecureRegistries ?? [];
  }

  /** Authorization header to send up front, when the registry's scheme is already known. */
  cachedHeader(ctx: AuthContext): string | undefined {
    const challenge = this.#challenges.get(ctx.registry);
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') return ctx.credentials ? basicHeader(ctx.credentials) : undefined;
    const cached = this.#tokens.get(this.#tokenKey(ctx, challenge));
    if (cached && cached.expiresAt > this.#now()) return `Bearer ${cached.token}`;
    return undefined;
  }

  /**
   * Header to retry with after a 401 carrying `challenge`; fetches a token for Bearer.
   * Throws E_REGISTRY_AUTH when there is nothing better to send.
   */
  async headerFor(ctx: AuthContext, challenge: AuthChallenge, signal?: AbortSignal): Promise<string> {
    this.#challenges.set(ctx.registry, challenge);
    if (challenge.scheme === 'basic') {
      const header = ctx.credentials ? basicHeader(ctx.credentials) : undefined;
      if (!header) throw missingCredentials(ctx, 401);
      return header;
    }
    const key = this.#tokenKey(ctx, challenge);
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = this.#fetchToken(ctx, challenge, signal).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    const token = await pending;
    this.#tokens.delete(key); // re-inserted last: Map order is then oldest first
    this.#tokens.set(key, token);
    this.#prune();
    return `Bearer ${token.token}`;
  }

  /** Drops expired tokens once the cache is full, then the oldest while it still is. */
  #prune(): void {
    if (this.#tokens.size <= MAX_CACHED_TOKENS) return;
    const now = this.#now();
    for (const [key, t] of this.#tokens) if (t.expiresAt <= now) this.#tokens.delete(key);
    for (const key of this.#tokens.keys()) {
      if (this.#tokens.size <= MAX_CACHED_TOKENS) break;
      this.#tokens.delete(key);
    }
  }

  /** Drops a cached token the registry rejected, so the next call fetches a fresh one. */
  forget(ctx: AuthContext): void {
    const challenge = this.#challenges.get(ctx.registry);
    if (challenge?.scheme === 'bearer') this.#tokens.delete(this.#tokenKey(ctx, challenge));
  }

  #tokenKey(ctx: AuthContext, challenge: AuthChallenge): string {
    return [
      ctx.registry,
      challenge.params.realm ?? '',
      challenge.params.service ?? '',
      ctx.scope,
      credentialsKey(ctx.credentials),
    ].join('|');
  }

  async #fetchToken(ctx: AuthContext, challenge: AuthChallenge, signal?: AbortSignal): Promise<CachedToken> {
    const realm = challenge.params.realm;
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm ?? '');
      if (realmUrl.protocol !== 'https:' && realmUrl.protocol !== 'http:') throw new Error('scheme');
    } catch {
      throw new RegistryError(
        'E_REGISTRY_RESPONSE',
        `registry ${ctx.registry} sent a Bearer challenge without a usable realm URL`,
      );
    }
    const service = challenge.params.service;
    const creds = ctx.credentials;
    // The realm comes from the registry's answer: only the registry's own host is as trusted as the
    // registry; any other host goes through the address guard (in RegistryHttp), and never in clear.
    const registryHost = bareHostname(new URL(registryBaseUrl(ctx.registry, this.#insecure)));
    const realmHost = bareHostname(realmUrl);
    const sameHost = realmHost === registryHost || realmHost === hostOf(ctx.registry).toLowerCase();
    const declaredInsecure = this.#insecure.some((r) => r.toLowerCase() === realmUrl.host.toLowerCase());
    if (!sameHost && realmUrl.protocol === 'http:' && (creds !== undefined || !declaredInsecure)) {
      throw new RegistryError(
        'E_REGISTRY_AUTH',
        `registry ${ctx.registry} sends token requests to another host over plain HTTP (${realmUrl.origin}); refusing (a token realm on another host must use https)`,
      );
    }
    // Credentials travel to the realm: never in clear text to a host that is not loopback or declared insecure.
    if (
      creds &&
      realmUrl.protocol === 'http:' &&
      registryBaseUrl(realmUrl.host, this.#insecure).startsWith('https:')
    ) {
      throw new RegistryError(
        'E_REGISTRY_AUTH',
        `registry ${ctx.registry} asks for credentials over plain HTTP (${realmUrl.origin}); refusing to send them (add the host to INSECURE_REGISTRIES if that is intended)`,
      );
    }
    let res;
    if (creds?.identityToken !== undefined) {
      // OAuth2 refresh-token grant, as Docker does for `identitytoken` entries.
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        client_id: 'image-watcher',
        refresh_token: creds.identityToken,
        scope: ctx.scope,
      });
      if (service !== undefined) form.set('service', service);
      res = await this.#http.send({
        registry: ctx.registry,
        limitKey: `auth:${realmUrl.origin}`,
        method: 'POST',
        url: realmUrl.href,
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form.toString(),
        maxBytes: MAX_TOKEN_BYTES,
        what: `a token for ${ctx.repository}`,
        trustedHost: sameHost ? realmHost : registryHost,
        signal,
      });
    } else {
      if (service !== undefined) realmUrl.searchParams.set('service', service);
      realmUrl.searchParams.set('scope', ctx.scope);
      const headers: Record<string, string> = { accept: 'application/json' };
      const basic = creds ? basicHeader(creds) : undefined;
      if (basic) headers.authorization = basic;
      res = await this.#http.send({
        registry: ctx.registry,
        limitKey: `auth:${realmUrl.origin}`,
        method: 'GET',
        url: realmUrl.href,
        headers,
        maxBytes: MAX_TOKEN_BYTES,
        what: `a token for ${ctx.repository}`,
        trustedHost: sameHost ? realmHost : registryHost,
        signal,
      });
    }
    if (res.status === 401 || res.status === 403) {
      throw creds ? refusedCredentials(ctx, res.status) : missingCredentials(ctx, res.status);
    }
    if (res.status < 200 || res.status > 299) {
      throw new RegistryError(
        'E_REGISTRY_UNAVAILABLE',
        `the token service of registry ${ctx.registry} answered HTTP ${res.status} for ${ctx.repository}`,
        { status: res.status },
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.body.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    const obj = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
    const token = typeof obj.token === 'string' && obj.token ? obj.token : obj.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new RegistryError(
        'E_REGISTRY_RESPONSE',
        `the token service of registry ${ctx.registry} answered without a token for ${ctx.repository}`,
      );
    }
    const expiresIn =
      typeof obj.expires_in === 'number' && obj.expires_in > 0 ? obj.expires_in : DEFAULT_EXPIRES_IN_S;
    return { token, expiresAt: this.#now() + Math.max(0, expiresIn * 1000 - EXPIRY_SKEW_MS) };
  }
}

export function refusedCredentials(ctx: AuthContext, status: number): RegistryError {
  return new RegistryError(
    'E_REGISTRY_AUTH',
    `registry ${ctx.registry} refused the credentials for ${ctx.repository} (HTTP ${status}): check the username/password in DOCKER_CONFIG or imagePullSecrets`,
    { status },
  );
}

export function missingCredentials(ctx: AuthContext, status: number): RegistryError {
  return new RegistryError(
    'E_REGISTRY_AUTH',
    `registry ${ctx.registry} requires credentials for ${ctx.repository} (HTTP ${status}): add them to DOCKER_CONFIG or imagePullSecrets`,
    { status },
  );
}
