import type { Env } from '../shared/env.ts';
import { ProblemCollector, envOr, parseDuration, parseInteger } from '../shared/env.ts';

/** Watcher-only settings beyond shared/config.ts. */
export interface WatcherSettings {
  /** REGISTRY_RATE_LIMIT: sustained requests per second per registry (burst the same). */
  registryRatePerSecond: number;
  /** CHECK_DEBOUNCE: delay between a workload change and its check. */
  debounceMs: number;
}

export const WATCHER_DEFAULTS: WatcherSettings = { registryRatePerSecond: 10, debounceMs: 2000 };

export function loadWatcherSettings(env: Env = process.env): WatcherSettings {
  const c = new ProblemCollector();
  const settings: WatcherSettings = {
    registryRatePerSecond: c.read(
      () =>
        envOr(
          env,
          'REGISTRY_RATE_LIMIT',
          (v, n) => parseInteger(v, n, { min: 1, max: 10_000 }),
          WATCHER_DEFAULTS.registryRatePerSecond,
        ),
      WATCHER_DEFAULTS.registryRatePerSecond,
    ),
    debounceMs: c.read(
      () =>
        envOr(
          env,
          'CHECK_DEBOUNCE',
          (v, n) => parseDuration(v, n, { min: 0, max: 600_000 }),
          WATCHER_DEFAULTS.debounceMs,
        ),
      WATCHER_DEFAULTS.debounceMs,
    ),
  };
  c.throwIfAny();
  return settings;
}
