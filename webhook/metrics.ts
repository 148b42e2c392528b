import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AdmissionResult } from './admission/types.ts';

export interface AdmissionObservation {
  operation: string;
  kind: string;
  result: AdmissionResult;
  seconds: number;
}

/** The webhook's metrics on its own registry (no global state, so tests get fresh counters). */
export class WebhookMetrics {
  readonly registry: Registry;
  readonly #requests: Counter<'operation' | 'kind' | 'result'>;
  readonly #duration: Histogram;
  /** Counter children by label values: prom-client hashes the label object on every inc() otherwise. */
  readonly #children = new Map<string, { inc(): void }>();

  constructor(opts: { registry?: Registry; defaultMetrics?: boolean } = {}) {
    this.registry = opts.registry ?? new Registry();
    this.#requests = new Counter({
      name: 'image_watcher_admission_requests_total',
      help: 'Admission reviews answered, by operation, workload kind and result (allowed|mutated|denied|error).',
      labelNames: ['operation', 'kind', 'result'] as const,
      registers: [this.registry],
    });
    this.#duration = new Histogram({
      name: 'image_watcher_admission_duration_seconds',
      help: 'Time to answer an admission review, from parsed body to response.',
      // The API server's default webhook timeout is 10 s; reviews normally take well under 10 ms.
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5, 10],
      registers: [this.registry],
    });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  observeAdmission(e: AdmissionObservation): void {
    // Label values are bounded (known operations, kinds and results), so the map is too.
    const key = `${e.operation}|${e.kind}|${e.result}`;
    let child = this.#children.get(key);
    if (child === undefined) {
      child = this.#requests.labels({ operation: e.operation, kind: e.kind, result: e.result });
      this.#children.set(key, child);
    }
    child.inc();
    this.#duration.observe(e.seconds);
  }
}
