// Shared setup of the end-to-end tests: the fake API server (spoken to by the real client-node),
// the real docker-registry, and the watcher's real pieces wired as in watcher/main.ts.
import { pino } from 'pino';
import type { KubeObject } from '../../support/fake-kube/index.ts';
import { startFakeKube } from '../../support/fake-kube/index.ts';
import type { FakeKube, FakeKubeOptions } from '../../support/fake-kube/index.ts';
import { Controller } from '../../../watcher/controller.ts';
import type { ControllerConfig } from '../../../watcher/controller.ts';
import { ClientNodeGateway } from '../../../watcher/kube/client.ts';
import { KubeWorkloadWatch } from '../../../watcher/kube/informers.ts';
import type { LeaderElector } from '../../../watcher/kube/types.ts';
import { WatcherMetrics } from '../../../watcher/metrics.ts';
import type { UpdateNotice } from '../../../watcher/notify/types.ts';
import { createRegistryClient, credentialsFor } from '../../../watcher/registry/index.ts';

type Teardown = (fn: () => unknown) => void;

export function deployment(name: string, image: string, annotations: Record<string, string> = {}): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace: 'shop',
      annotations: { 'image-watcher/token-update': 'tok_0123456789abcdef', ...annotations },
    },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
    },
  };
}

export function imageOf(o: KubeObject | undefined): string | undefined {
  return (o?.spec as { template: { spec: { containers: { image: string }[] } } } | undefined)?.template.spec
    .containers[0]?.image;
}

export function annotationsOf(o: KubeObject | undefined): Record<string, string> {
  return o?.metadata.annotations ?? {};
}

export async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function fakeKube(teardown: Teardown, opts: FakeKubeOptions = {}): Promise<FakeKube> {
  const kube = await startFakeKube({ rolloutDelayMs: 20, ...opts });
  teardown(() => kube.close());
  return kube;
}

export interface Watcher {
  controller: Controller;
  metrics: WatcherMetrics;
  notices: UpdateNotice[];
  watch: KubeWorkloadWatch;
  metricsText(): Promise<string>;
}

/** One watcher replica against the fake API server, with the real registry client. */
export async function startWatcher(
  teardown: Teardown,
  kube: FakeKube,
  opts: { leader?: LeaderElector; config?: Partial<ControllerConfig>; notices?: UpdateNotice[] } = {},
): Promise<Watcher> {
  const logger = pino({ level: 'silent' });
  const kubeConfig = kube.kubeConfig();
  const metrics = new WatcherMetrics({ defaultMetrics: false });
  const notices = opts.notices ?? [];
  const watch = new KubeWorkloadWatch({ kubeConfig, logger });
  const controller = new Controller({
    watch,
    gateway: new ClientNodeGateway({ kubeConfig, logger, instance: 'test' }),
    leader: opts.leader,
    // Short timeouts and one attempt: a registry that is down must fail fast in tests.
    registry: createRegistryClient({
      observer: metrics,
      logger,
      timeoutMs: 2000,
      maxAttempts: 1,
      cacheTtlMs: 0,
    }),
    credentialsFor,
    metrics,
    notify: (n) => {
      notices.push(...n);
      return Promise.resolve();
    },
    logger,
    now: () => new Date(),
    config: {
      checkIntervalMs: 3_600_000,
      runOnBoot: false,
      overrides: {},
      rolloutTimeoutMs: 5000,
      rolloutPollMs: 25,
      debounceMs: 50,
      registryConcurrency: 4,
      ...opts.config,
    },
  });
  teardown(() => controller.stop());
  await controller.start();
  return {
    controller,
    metrics,
    notices,
    watch,
    metricsText: async () => (await metrics.render()).body,
  };
}
