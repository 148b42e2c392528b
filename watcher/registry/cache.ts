interface Entry<T> {
  promise: Promise<T>;
  cycle: number;
  fetchedAt: number | undefined; // set once the load succeeded
  bytes: number; // counted once loaded
}

/**
 * Memo for registry answers. Within one cycle every caller shares one request (also while it
 * is in flight). Across cycles an answer is reused while younger than `ttlMs`; with the
 * default TTL (5 min) shorter than CHECK_INTERVAL (1 h) each cycle therefore asks again,
 * while ad-hoc callers (API, CLI) between cycles are served from cache. Failures are never cached.
 * `maxAgeMs` bounds staleness for callers that never start a new cycle (e.g. an API handler).
 */
export class CycleCache<T> {
  readonly #entries = new Map<string, Entry<T>>();
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #maxEntries: number;
  readonly #maxAgeMs: number;
  readonly #maxBytes: number;
  readonly #sizeOf: (value: T) => number;
  #bytes = 0;
  #cycle = 0;

  constructor(opts: {
    ttlMs: number;
    now: () => number;
    maxEntries?: number;
    maxAgeMs?: number;
    /** Total size of loaded values kept (memory); the oldest go first. Default unbounded. */
    maxBytes?: number;
    sizeOf?: (value: T) => number;
  }) {
    this.#ttlMs = opts.ttlMs;
    this.#now = opts.now;
    this.#maxEntries = opts.maxEntries ?? 10_000;
    this.#maxAgeMs = Math.max(opts.maxAgeMs ?? Infinity, opts.ttlMs);
    this.#maxBytes = opts.maxBytes ?? Infinity;
    this.#sizeOf = opts.sizeOf ?? (() => 0);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Sum of `sizeOf` over the loaded values kept. */
  get bytes(): number {
    return this.#bytes;
  }

  #delete(key: string): void {
    const e = this.#entries.get(key);
    if (e === undefined) return;
    this.#bytes -= e.bytes;
    this.#entries.delete(key);
  }

  /** `fresh`: load again whatever is kept (a push event said the answer changed); the new answer is kept. */
  get(key: string, load: () => Promise<T>, opts?: { fresh?: boolean }): Promise<T> {
    const found = this.#entries.get(key);
    if (found && opts?.fresh === true) this.#delete(key);
    else if (found) {
      const age = found.fetchedAt === undefined ? 0 : this.#now() - found.fetchedAt;
      if (found.cycle === this.#cycle && age < this.#maxAgeMs) return found.promise;
      if (found.fetchedAt !== undefined && age < this.#ttlMs) {
        found.cycle = this.#cycle;
        return found.promise;
      }
      this.#delete(key);
    }
    const entry: Entry<T> = { promise: load(), cycle: this.#cycle, fetchedAt: undefined, bytes: 0 };
    this.#entries.set(key, entry);
    entry.promise.then(
      (value) => {
        entry.fetchedAt = this.#now();
        if (this.#entries.get(key) !== entry) return;
        entry.bytes = this.#sizeOf(value);
        this.#bytes += entry.bytes;
        this.#evict();
      },
      () => {
        if (this.#entries.get(key) === entry) this.#delete(key);
      },
    );
    this.#evict();
    return entry.promise;
  }

  newCycle(): void {
    this.#cycle++;
    const now = this.#now();
    for (const [key, e] of this.#entries) {
      if (e.fetchedAt !== undefined && now - e.fetchedAt >= this.#ttlMs) this.#delete(key);
    }
  }

  #evict(): void {
    // Oldest first (Map keeps insertion order); bounded memory with many repositories. A value
    // larger than the whole budget is handed to its callers but not kept.
    for (const [key, e] of this.#entries) {
      const overCount = this.#entries.size > this.#maxEntries;
      if (!overCount && this.#bytes <= this.#maxBytes) break;
      // Bytes come from loaded values only: in-flight loads stay shared.
      if (overCount || e.fetchedAt !== undefined) this.#delete(key);
    }
  }
}
