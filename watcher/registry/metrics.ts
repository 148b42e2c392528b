import { Counter, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import type { RegistryRequestObserver } from './types.ts';

/**
 * Registers `image_watcher_registry_requests_total{registry,method,code}` and
 * `image_watcher_registry_request_duration_seconds{registry}` in `registry` and returns the
 * observer the registry client reports every HTTP attempt to.
 */
export function registerRegistryMetrics(registry: Registry): RegistryRequestObserver {
  const requests = new Counter({
    name: 'image_watcher_registry_requests_total',
    help: 'HTTP requests to container registries, by registry, method and status code (or timeout/error).',
    labelNames: ['registry', 'method', 'code'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'image_watcher_registry_request_duration_seconds',
    help: 'Duration of HTTP requests to container registries.',
    labelNames: ['registry'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  return {
    observeRegistryRequest(e) {
      requests.inc({ registry: e.registry, method: e.method, code: e.code });
      duration.observe({ registry: e.registry }, e.seconds);
    },
  };
}
