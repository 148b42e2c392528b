import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AdmissionResult } from './admission/types.ts';

export interface AdmissionObservation {
  operation: string;
  kind: string;
  result: AdmissionResult;
  seconds: number;
}

interface Pending {
  labels: { operation: string; kind: string; result: AdmissionResult };
  count: number;
}

/** Durations held before they are handed to prom-client in one loop (8 KB). */
const PENDING_DURATIONS = 1024;

/**
 * The webhook's metrics on its own registry (no global state, so tests get fresh counters).
 * A review only counts into plain fields; prom-client gets the counts when it collects (on every
 * scrape, through its `collect` hook) and the durations also whenever 1,024 are pending. Per call,
 * prom-client hashes and validates the label object and converts the bucket bound to a property
 * key: a few microseconds on each review (bench/webhook.ts), far less in one tight loop.
 */
export class WebhookMetrics {
  readonly registry: Registry;
  readonly #requests: Counter<'operation' | 'kind' | 'result'>;
  readonly #duration: Histogram;
  /**
   * Reviews not yet handed to the counter, by operation, kind and result (bounded: known values
   * only). Nested maps of the label strings as they come: no key string built per review.
   */
  readonly #counts = new Map<string, Map<string, Map<string, Pending>>>();
  readonly #durations = new Float64Array(PENDING_DURATIONS);
  #pendingDurations = 0;

  constructor(opts: { registry?: Registry; defaultMetrics?: boolean } = {}) {
    this.registry = opts.registry ?? new Registry();
    this.#requests = new Counter({
      name: 'image_watcher_admission_requests_total',
      help: 'Admission reviews answered, by operation, workload kind and result (allowed|mutated|denied|error).',
      labelNames: ['operation', 'kind', 'result'] as const,
      registers: [this.registry],
      collect: () => this.#flushCounts(),
    });
    this.#duration = new Histogram({
      name: 'image_watcher_admission_duration_seconds',
      help: 'Time to answer an admission review, from parsed body to response.',
      // The API server's default webhook timeout is 10 s; reviews normally take well under 10 ms.
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5, 10],
      registers: [this.registry],
      collect: () => this.#flushDurations(),
    });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  observeAdmission(e: AdmissionObservation): void {
    // prom-client's own check, made now: a bad value must fail this call, not a later scrape.
    if (!Number.isFinite(e.seconds)) throw new TypeError(`not a duration: ${e.seconds}`);
    let byKind = this.#counts.get(e.operation);
    if (byKind === undefined)
      this.#counts.set(e.operation, (byKind = new Map<string, Map<string, Pending>>()));
    let byResult = byKind.get(e.kind);
    if (byResult === undefined) byKind.set(e.kind, (byResult = new Map<string, Pending>()));
    const entry = byResult.get(e.result);
    if (entry === undefined) {
      const labels = { operation: e.operation, kind: e.kind, result: e.result };
      byResult.set(e.result, { labels, count: 1 });
    } else {
      entry.count++;
    }
    this.#durations[this.#pendingDurations++] = e.seconds;
    if (this.#pendingDurations === PENDING_DURATIONS) this.#flushDurations();
  }

  #flushCounts(): void {
    for (const byKind of this.#counts.values()) {
      for (const byResult of byKind.values()) {
        for (const entry of byResult.values()) {
          if (entry.count === 0) continue;
          this.#requests.inc(entry.labels, entry.count);
          entry.count = 0;
        }
      }
    }
  }

  #flushDurations(): void {
    const n = this.#pendingDurations;
    this.#pendingDurations = 0;
    for (let i = 0; i < n; i++) this.#duration.observe(this.#durations[i]!);
  }
}
