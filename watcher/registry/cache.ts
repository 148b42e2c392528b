interface Entry<T> {
  promise: Promise<T>;
  cycle: number;
  fetchedAt: number | undefined; // set once the load succeeded
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
  #cycle = 0;

  constructor(opts: { ttlMs: number; now: () => number; maxEntries?: number; maxAgeMs?: number }) {
    this.#ttlMs = opts.ttlMs;
    this.#now = opts.now;
    this.#maxEntries = opts.maxEntries ?? 10_000;
    this.#maxAgeMs = Math.max(opts.maxAgeMs ?? Infinity, opts.ttlMs);
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string, load: () => Promise<T>): Promise<T> {
    const found = this.#entries.get(key);
    if (found) {
      const age = found.fetchedAt === undefined ? 0 : this.#now() - found.fetchedAt;
      if (found.cycle === this.#cycle && age < this.#maxAgeMs) return found.promise;
      if (found.fetchedAt !== undefined && age < this.#ttlMs) {
        found.cycle = this.#cycle;
        return found.promise;
      }
      this.#entries.delete(key);
    }
    const entry: Entry<T> = { promise: load(), cycle: this.#cycle, fetchedAt: undefined };
    this.#entries.set(key, entry);
    entry.promise.then(
      () => {
        entry.fetchedAt = this.#now();
      },
      () => {
        if (this.#entries.get(key) === entry) this.#entries.delete(key);
      },
    );
    this.#evict();
    return entry.promise;
  }

  newCycle(): void {
    this.#cycle++;
    const now = this.#now();
    for (const [key, e] of this.#entries) {
      if (e.fetchedAt !== undefined && now - e.fetchedAt >= this.#ttlMs) this.#entries.delete(key);
    }
  }

  #evict(): void {
    // Oldest first (Map keeps insertion order); bounded memory with many repositories.
    for (const key of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxEntries) break;
      this.#entries.delete(key);
    }
  }
}
