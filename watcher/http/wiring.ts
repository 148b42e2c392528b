// The API's own pieces, built from the settings: its registry client (own queue, no default
// credentials), who may call it, and what resolve may ask. main.ts spreads this into build().
import type { KubeConfig } from '@kubernetes/client-node';
import type { RegistryClientOptions, RegistryCredentials } from '../registry/index.ts';
import { createRegistryClient } from '../registry/index.ts';
import { ApiAccess } from './access.ts';
import type { AppDeps } from './app.ts';
import { kubeIdentityReviewer } from './kube-review.ts';

export interface ApiWiringOptions {
  /** Kubernetes identities are checked against this API server; undefined: API_TOKEN only. */
  kubeConfig: KubeConfig | undefined;
  apiToken: string | undefined;
  resolveRegistries: readonly string[];
  /** The options of the workload checks' client; the API's client gets its own smaller limits. */
  registry: Omit<RegistryClientOptions, 'defaultCredentials' | 'concurrency' | 'ratePerSecond' | 'burst'>;
  /** The watcher's DOCKER_CONFIG credentials (for watched repositories only). */
  credentialsFor: (registry: string) => RegistryCredentials | undefined;
  now?: () => number;
}

export function apiDeps(opts: ApiWiringOptions): Pick<AppDeps, 'registry' | 'access' | 'resolve'> {
  const now = opts.now ?? Date.now;
  return {
    // Separate per-registry concurrency and rate limits: API calls never delay workload checks.
    registry: createRegistryClient({ ...opts.registry, concurrency: 2, ratePerSecond: 5, burst: 5 }),
    access: new ApiAccess({
      apiToken: opts.apiToken,
      reviewer: opts.kubeConfig ? kubeIdentityReviewer({ kubeConfig: opts.kubeConfig }) : undefined,
      now,
    }),
    resolve: { allowRegistries: opts.resolveRegistries, credentialsFor: opts.credentialsFor },
  };
}
