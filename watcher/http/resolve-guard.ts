// What an API resolve may ask: only registries that watched workloads use (or RESOLVE_REGISTRIES
// lists), with the watcher's credentials only for a repository a watched workload uses, and
// through its own bounded queue, so API callers never wait in front of workload checks.
import { ImageWatcherError } from '../../shared/errors.ts';
import type { ImageReference } from '../../shared/image-ref.ts';
import { parseImageReference } from '../../shared/image-ref.ts';
import type { RegistryCredentials } from '../registry/types.ts';

/** The resolve queue is full (429 with Retry-After). */
export class ResolveBusyError extends ImageWatcherError {
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number) {
    super('E_RESOLVE_BUSY', 'too many resolve requests; try again later');
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The registry is neither used by a watched workload nor allowed (403). */
export class ResolveNotAllowedError extends ImageWatcherError {
  constructor(registry: string) {
    super(
      'E_RESOLVE_NOT_ALLOWED',
      `registry ${registry} is not used by a watched workload nor listed in RESOLVE_REGISTRIES`,
    );
  }
}

/** Runs at most `concurrency` tasks, queues at most `maxQueued` more, refuses the rest at once. */
export class BoundedQueue {
  readonly #concurrency: number;
  readonly #maxQueued: number;
  readonly #retryAfterSeconds: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(opts: { concurrency: number; maxQueued: number; retryAfterSeconds?: number }) {
    this.#concurrency = Math.max(1, opts.concurrency);
    this.#maxQueued = Math.max(0, opts.maxQueued);
    this.#retryAfterSeconds = opts.retryAfterSeconds ?? 5;
  }

  get running(): number {
    return this.#running;
  }

  get queued(): number {
    return this.#waiting.length;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#concurrency) {
      if (this.#waiting.length >= this.#maxQueued) throw new ResolveBusyError(this.#retryAfterSeconds);
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#running += 1;
    }
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next waiter (running stays counted).
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running -= 1;
    }
  }
}

export interface ResolvePolicyOptions {
  /** Images of the watched workloads' containers, as written in the specs. */
  watchedImages: () => Iterable<string>;
  /** RESOLVE_REGISTRIES: more registries (host[:port], lower-case) anonymous resolves may ask. */
  allowRegistries?: readonly string[];
  /** The watcher's credentials for a registry (DOCKER_CONFIG). */
  credentialsFor?: (registry: string) => RegistryCredentials | undefined;
  now: () => number;
  /** How long the set of watched repositories is reused. Default 5 s. */
  refreshMs?: number;
}

/** No username, password or token: the registry client asks anonymously (never its defaults). */
export const ANONYMOUS: RegistryCredentials = Object.freeze({});

export interface ResolvePlan {
  /**
   * A watched repository: `credentialsFor`'s answer, or undefined (the client's own defaults).
   * Any other repository: ANONYMOUS.
   */
  credentials: RegistryCredentials | undefined;
}

/** Decides registry and credentials for each resolve (pure apart from the injected lookups). */
export class ResolvePolicy {
  readonly #opts: ResolvePolicyOptions;
  readonly #allow: Set<string>;
  #registries = new Set<string>();
  #repositories = new Set<string>();
  #builtAt = Number.NEGATIVE_INFINITY;

  constructor(opts: ResolvePolicyOptions) {
    this.#opts = opts;
    this.#allow = new Set((opts.allowRegistries ?? []).map((r) => r.toLowerCase()));
  }

  #refresh(): void {
    const now = this.#opts.now();
    if (now - this.#builtAt < (this.#opts.refreshMs ?? 5000)) return;
    const registries = new Set<string>();
    const repositories = new Set<string>();
    for (const image of this.#opts.watchedImages()) {
      try {
        const ref = parseImageReference(image);
        registries.add(ref.registry.toLowerCase());
        repositories.add(`${ref.registry.toLowerCase()}/${ref.repository}`);
      } catch {
        // An image the checker cannot parse either: it widens nothing.
      }
    }
    this.#registries = registries;
    this.#repositories = repositories;
    this.#builtAt = now;
  }

  /** Throws ResolveNotAllowedError for a registry nobody watches or allows. */
  plan(ref: ImageReference): ResolvePlan {
    this.#refresh();
    const registry = ref.registry.toLowerCase();
    if (!this.#registries.has(registry) && !this.#allow.has(registry)) {
      throw new ResolveNotAllowedError(registry);
    }
    const watched = this.#repositories.has(`${registry}/${ref.repository}`);
    if (!watched) return { credentials: ANONYMOUS };
    return { credentials: this.#opts.credentialsFor?.(ref.registry) };
  }
}
