// A keyed work queue in the shape of client-go's workqueue: a key is queued at most once, is never
// handled by two workers at once, and a key added while it is handled runs once more afterwards.
// `addAfter` keeps the earliest due time; a failing key is retried with a per-key capped backoff.
import { backoffDelay } from '../../shared/backoff.ts';

/** Timer functions, injected so tests drive time themselves. */
export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface ReconcileResult {
  /** Look at the key again after this many ms (a rollout in progress, a claim to expire). */
  requeueAfter?: number | undefined;
}

export type Handler<K> = (key: K) => Promise<ReconcileResult>;

export interface WorkQueueOptions {
  /** Keys handled at once. */
  concurrency: number;
  timers?: Timers;
  /** Delay before retrying a key whose handler threw; `failures` counts from 1. */
  backoff?: (failures: number) => number;
  /** Called when a handler throws (the key is retried after its backoff). */
  onError?: (key: string, err: unknown) => void;
}

/** Capped exponential delay without jitter (the shared rule, shared/backoff.ts). */
export function cappedBackoff(attempt: number, baseMs: number, maxMs: number): number {
  return backoffDelay(attempt, { initialMs: baseMs, maxMs });
}

export class WorkQueue {
  readonly #opts: Required<Pick<WorkQueueOptions, 'concurrency' | 'backoff'>> & WorkQueueOptions;
  readonly #timers: Timers;
  /** Keys ready to run, in order; `#queued` mirrors it for dedupe. */
  #ready: string[] = [];
  #head = 0;
  readonly #queued = new Set<string>();
  readonly #processing = new Set<string>();
  /** Added again while processing: queued once the handler returns. */
  readonly #dirty = new Set<string>();
  /** Due time of delayed keys (the earliest wins). */
  readonly #delayed = new Map<string, number>();
  readonly #failures = new Map<string, number>();
  #timer: unknown;
  #timerDue = Infinity;
  #handler: Handler<string> | undefined;
  #stopped = false;
  #idleWaiters: (() => void)[] = [];
  readonly #running = new Set<Promise<void>>();

  constructor(opts: WorkQueueOptions) {
    this.#opts = {
      backoff: (n) => cappedBackoff(n, 1000, 5 * 60_000),
      ...opts,
    };
    this.#timers = opts.timers ?? realTimers;
  }

  get length(): number {
    return this.#ready.length - this.#head;
  }

  has(key: string): boolean {
    return this.#queued.has(key) || this.#processing.has(key) || this.#delayed.has(key);
  }

  /** Runs `handler` for queued keys from now on. */
  start(handler: Handler<string>): void {
    this.#handler = handler;
    this.#pump();
  }

  add(key: string): void {
    if (this.#stopped) return;
    this.#delayed.delete(key);
    if (this.#processing.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#ready.push(key);
    this.#pump();
  }

  /** Adds the key once `ms` have passed; an earlier pending time for the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.#stopped) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    if (this.#queued.has(key)) return; // runs sooner anyway
    const due = this.#timers.now() + ms;
    const prev = this.#delayed.get(key);
    if (prev !== undefined && prev <= due) return;
    this.#delayed.set(key, due);
    this.#arm(due);
  }

  /** Drops a key's pending runs and failure count (the workload is gone). */
  forget(key: string): void {
    this.#delayed.delete(key);
    this.#dirty.delete(key);
    this.#failures.delete(key);
    if (this.#queued.delete(key)) {
      const i = this.#ready.indexOf(key, this.#head);
      if (i >= 0) this.#ready.splice(i, 1);
    }
  }

  /** Milliseconds until the earliest delayed key is due, or undefined when none is delayed. */
  nextDueIn(): number | undefined {
    let min = Infinity;
    for (const due of this.#delayed.values()) if (due < min) min = due;
    return min === Infinity ? undefined : Math.max(0, min - this.#timers.now());
  }

  /** Resolves when nothing is ready or running (delayed keys do not count). */
  idle(): Promise<void> {
    if (this.length === 0 && this.#processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Accepts no more keys, drops queued and delayed ones, and waits for running handlers. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#delayed.clear();
    this.#dirty.clear();
    this.#ready = [];
    this.#head = 0;
    this.#queued.clear();
    await Promise.allSettled([...this.#running]);
    this.#settleIdle();
  }

  #arm(due: number): void {
    if (due >= this.#timerDue) return;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timerDue = due;
    this.#timer = this.#timers.setTimeout(() => this.#fire(), Math.max(0, due - this.#timers.now()));
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerDue = Infinity;
    const now = this.#timers.now();
    let next = Infinity;
    for (const [key, due] of this.#delayed) {
      if (due <= now) {
        this.#delayed.delete(key);
        this.add(key);
      } else if (due < next) next = due;
    }
    if (next < Infinity) this.#arm(next);
  }

  #pump(): void {
    const handler = this.#handler;
    if (!handler) return;
    while (!this.#stopped && this.#processing.size < this.#opts.concurrency && this.length > 0) {
      const key = this.#ready[this.#head++]!;
      if (this.#head > 1024 && this.#head * 2 > this.#ready.length) {
        this.#ready = this.#ready.slice(this.#head);
        this.#head = 0;
      }
      this.#queued.delete(key);
      this.#processing.add(key);
      const run = this.#run(handler, key);
      this.#running.add(run);
      void run.finally(() => this.#running.delete(run));
    }
    this.#settleIdle();
  }

  async #run(handler: Handler<string>, key: string): Promise<void> {
    let result: ReconcileResult | undefined;
    let failed = false;
    try {
      result = await handler(key);
    } catch (err) {
      failed = true;
      this.#opts.onError?.(key, err);
    }
    this.#processing.delete(key);
    if (failed) {
      const n = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, n);
      if (this.#dirty.delete(key)) this.add(key);
      else this.addAfter(key, this.#opts.backoff(n));
    } else {
      this.#failures.delete(key);
      if (this.#dirty.delete(key)) this.add(key);
      if (result?.requeueAfter !== undefined) this.addAfter(key, result.requeueAfter);
    }
    this.#pump();
  }

  #settleIdle(): void {
    if (this.length !== 0 || this.#processing.size !== 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }
}
