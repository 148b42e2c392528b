// Shared setup of the end-to-end tests: the fake API server (spoken to by the real client-node),
// the real docker-registry, and the watcher's real pieces wired as in watcher/main.ts.
import { pino } from 'pino';
import type { KubeObject } from '../../support/fake-kube/index.ts';
import { startFakeKube } from '../../support/fake-kube/index.ts';
import type { FakeKube, FakeKubeOptions } from '../../support/fake-kube/index.ts';
import type { Controller, ControllerConfig } from '../../../watcher/controller/index.ts';
import { createWatcher, loadWatcherConfig } from '../../../watcher/create.ts';
import type { Watcher as CreatedWatcher, WatcherIo } from '../../../watcher/create.ts';
import type { LeaderElector, WorkloadWatch } from '../../../watcher/kube/types.ts';
import type { WatcherMetrics } from '../../../watcher/metrics.ts';
import type { UpdateNotice } from '../../../watcher/notify/types.ts';

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

/**
 * An AUTO_UPDATE workload (patch strategy) writing its updates back to `repo`'s `apps/` folder
 * with the credentials in Secret `secret`; through a pull request when `push` says so.
 */
export function gitWriteBack(repo: string, secret: string, push?: 'pull-request'): Record<string, string> {
  return {
    'image-watcher/mode': 'AUTO_UPDATE',
    'image-watcher/strategy': 'PATCH',
    'image-watcher/write-back': 'git',
    'image-watcher/git-repo': repo,
    'image-watcher/git-path': 'apps',
    'image-watcher/git-secret': secret,
    ...(push !== undefined ? { 'image-watcher/git-push': push } : {}),
  };
}

/**
 * The watcher's I/O for pull requests on a local forge (`org/deploy` on 127.0.0.1): its API URL
 * is read at each call, so a test may restart the forge.
 */
export function localForgeIo(kind: 'github' | 'gitlab', apiUrl: () => string): Partial<WatcherIo> {
  return {
    gitWindowMs: 10,
    pullRequestProvider: () => ({ kind, apiUrl: apiUrl(), path: 'org/deploy', host: '127.0.0.1' }),
  };
}

export { until } from '../../support/until.ts';

export async function fakeKube(teardown: Teardown, opts: FakeKubeOptions = {}): Promise<FakeKube> {
  const kube = await startFakeKube({ rolloutDelayMs: 20, ...opts });
  teardown(() => kube.close());
  return kube;
}

export interface Watcher {
  controller: Controller;
  metrics: WatcherMetrics;
  notices: UpdateNotice[];
  watch: WorkloadWatch & { isSynced(): boolean };
  metricsText(): Promise<string>;
  /** The push trigger (REGISTRY_WEBHOOK_TOKEN set). */
  push: CreatedWatcher['push'];
  /** The HTTP API (fastify inject). */
  app: CreatedWatcher['app'];
  /** The graceful stop (also run in teardown). */
  stop: CreatedWatcher['stop'];
}

/** One watcher replica against the fake API server, built by the production wiring (createWatcher). */
export async function startWatcher(
  teardown: Teardown,
  kube: FakeKube,
  opts: {
    leader?: LeaderElector;
    config?: Partial<ControllerConfig>;
    notices?: UpdateNotice[];
    env?: Record<string, string>;
    /** Replaces pieces of the watcher's I/O (a gateway with a short request timeout...). */
    io?: Partial<WatcherIo>;
    /** Listen on HTTP_PORT (and RECEIVER_PORT) of `env`: a real registry posts its events there. */
    listen?: boolean;
  } = {},
): Promise<Watcher> {
  const logger = pino({ level: 'silent' });
  const notices = opts.notices ?? [];
  const w = await createWatcher(loadWatcherConfig({ LEADER_ELECTION: 'false', ...opts.env }), {
    kubeConfig: kube.kubeConfig(),
    logger,
    leader: opts.leader ?? null,
    defaultMetrics: false,
    notify: (n) => {
      notices.push(...n);
      return Promise.resolve();
    },
    // Short timeouts and one attempt: a registry that is down must fail fast in tests.
    registry: { timeoutMs: 2000, maxAttempts: 1, cacheTtlMs: 0 },
    ...opts.io,
    controller: {
      checkIntervalMs: 3_600_000,
      runOnBoot: false,
      rolloutTimeoutMs: 5000,
      rolloutPollMs: 25,
      debounceMs: 50,
      ...opts.config,
    },
  });
  teardown(() => w.stop());
  await w.start({ listen: opts.listen ?? false });
  return {
    controller: w.controller,
    metrics: w.metrics,
    notices,
    watch: w.watch as WorkloadWatch & { isSynced(): boolean },
    metricsText: async () => (await w.metrics.render()).body,
    push: w.push,
    app: w.app,
    stop: () => w.stop(),
  };
}
