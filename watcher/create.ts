// The one wiring of the watcher: every piece built from the validated settings and handed its
// dependencies. watcher/main.ts reads the environment and calls createWatcher; the end-to-end
// tests call it too, with their own I/O (kubeconfig, logger, timers, notifier).
import type { KubeConfig } from '@kubernetes/client-node';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../shared/config.ts';
import { loadConfig } from '../shared/config.ts';
import type { Env } from '../shared/env.ts';
import { ConfigError, ProblemCollector } from '../shared/env.ts';
import { ImageWatcherError } from '../shared/errors.ts';
import { listenError } from '../shared/listen.ts';
import { approvalPlugin } from './approval/plugin.ts';
import { approvalUrlFor } from './approval/links.ts';
import type { WatcherSettings } from './config.ts';
import { loadWatcherSettings } from './config.ts';
import type { CandidateGate } from './check/gates.ts';
import { policyGates } from './check/policy-gates.ts';
import type { ControllerConfig } from './controller/index.ts';
import { Controller } from './controller/index.ts';
import { approvalAdapter } from './http/approval.ts';
import { build } from './http/app.ts';
import { apiDeps } from './http/wiring.ts';
import { StringPool } from '../shared/string-pool.ts';
import { ClientNodeGateway } from './kube/client.ts';
import { KubeWorkloadWatch } from './kube/informers.ts';
import { LeaseLeaderElector } from './kube/leader.ts';
import { SelectedWorkloadWatch } from './kube/selected.ts';
import type { KubeGateway, LeaderElector, WorkloadWatch } from './kube/types.ts';
import { WatcherMetrics } from './metrics.ts';
import type { NotifyConfig } from './notify/config.ts';
import { createNotificationDispatcher, describeChannels, loadNotifyConfig } from './notify/config.ts';
import type { UpdateNotice } from './notify/types.ts';
import { batchNotices } from './reconcile/batch.ts';
import type { Timers } from './reconcile/queue.ts';
import type { RegistryClient } from './registry/index.ts';
import { createRegistryClient, credentialsFor } from './registry/index.ts';
import type { RegistryClientOptions } from './registry/client.ts';
import { releaseNotesFromConfig } from './release-notes/index.ts';
import { gitCredentialsOf } from './gitops/credentials.ts';
import { editFiles } from './gitops/edit/index.ts';
import type { GitClient } from './gitops/git.ts';
import { GitCli } from './gitops/git.ts';
import type { PullRequestClient, PullRequestOptions } from './gitops/pull-request.ts';
import { RestPullRequests } from './gitops/pull-request.ts';
import { GitWriteBack } from './gitops/writeback.ts';
import type { ReceiverOptions } from './push/receiver.ts';
import { buildReceiverApp } from './push/receiver.ts';
import { PushTrigger } from './push/trigger.ts';
import { SOURCES } from './push/sources.ts';
import { realTimers } from './reconcile/queue.ts';
import type { ReadObject } from './verify/key-source.ts';
import { signatureGateFromSettings } from './verify/wiring.ts';

/** Notices decided within this time of the first one are dispatched together. */
const NOTICE_BATCH_MS = 1000;

/** Everything the watcher process is configured with. */
export interface WatcherConfig {
  config: Config;
  settings: WatcherSettings;
  notify: NotifyConfig;
}

/**
 * The one settings loader of the watcher process: every loader runs, and every bad variable of
 * all of them is reported in one ConfigError.
 */
export function loadWatcherConfig(env: Env = process.env): WatcherConfig {
  const c = new ProblemCollector();
  const config = c.read(() => loadConfig(env), undefined);
  const settings = c.read(() => loadWatcherSettings(env), undefined);
  const notify = c.read(() => loadNotifyConfig(env), undefined);
  // RECEIVER_PORT without a token is allowed (the manifests set the port, the Secret may lack the
  // token): the receivers are simply off.
  if (settings?.receiverPort !== undefined && config && settings.receiverPort === config.httpPort) {
    c.add(
      'RECEIVER_PORT',
      `RECEIVER_PORT must differ from HTTP_PORT (${config.httpPort}); unset it to serve the receivers on HTTP_PORT`,
    );
  }
  c.throwIfAny();
  if (!config || !settings || !notify) throw new ConfigError('environment', 'invalid configuration');
  return { config, settings, notify };
}

/** The watcher's I/O: what a test replaces. */
export interface WatcherIo {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** Parsed DOCKER_CONFIG config.json (fallback credentials), when there is one. */
  dockerConfig?: unknown;
  now?: () => Date;
  timers?: Timers;
  /** Replaces the leader elector (tests); default from LEADER_ELECTION. */
  leader?: LeaderElector | null;
  /** Replaces the notification dispatcher (tests collect notices). */
  notify?: (notices: UpdateNotice[]) => Promise<unknown>;
  /** Registry client options a test tightens (timeouts, attempts, cache). */
  registry?: Partial<RegistryClientOptions>;
  /** Controller settings a test tightens (poll, debounce). */
  controller?: Partial<ControllerConfig>;
  /** Node.js process metrics on /metrics (default true; tests turn them off). */
  defaultMetrics?: boolean;
  /** Replaces the informers or the gateway (rarely: tests of one piece). */
  watch?: WorkloadWatch;
  gateway?: KubeGateway;
  /** Replaces the reader of verify-key Secrets and ConfigMaps (tests). */
  readVerifyKeys?: ReadObject;
  /** Extra candidate gates (e.g. the signature gate), after the built-in policy gates. */
  gates?: readonly CandidateGate[];
  /**
   * `run --once --dry-run`: the controller only plans, and as a second guard the gateway refuses
   * every write and the notifier every send (a slip would show as an error, never as a change).
   */
  dryRun?: boolean;
  /** Replaces the git CLI client or the pull-request client (tests wrap or fake a forge). */
  git?: GitClient;
  pullRequests?: PullRequestClient;
  /** Where the real pull-request client sends a repository's API calls (tests: a local forge). */
  pullRequestProvider?: PullRequestOptions['provider'];
  /** Requests due within this time share one commit (default 1 s, tests shorter). */
  gitWindowMs?: number;
}

export interface Watcher {
  controller: Controller;
  metrics: WatcherMetrics;
  registry: RegistryClient;
  watch: WorkloadWatch & { isSynced?: () => boolean };
  leader: LeaderElector | undefined;
  app: FastifyInstance;
  /** Registry push events (REGISTRY_WEBHOOK_TOKEN set), else undefined. */
  push: PushTrigger | undefined;
  /** The receivers' own server on RECEIVER_PORT, when set. */
  receiverApp: FastifyInstance | undefined;
  /** Leader election, informers, the reconcile queue; then the HTTP port when `listen`. */
  start(opts?: { listen?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

export async function createWatcher(wc: WatcherConfig, io: WatcherIo): Promise<Watcher> {
  const { config, settings, notify: notifyConfig } = wc;
  const { logger, kubeConfig, dockerConfig } = io;
  // One pool for the snapshots of the watch and the gateway, the controller and the metrics:
  // repeated values and each workload key are kept once. Sized for the workload keys of large clusters.
  const strings = new StringPool(65_536);
  const metrics = new WatcherMetrics({ defaultMetrics: io.defaultMetrics ?? true, strings });
  const registry = createRegistryClient({
    observer: metrics,
    logger,
    insecureRegistries: config.insecureRegistries,
    concurrency: config.registryConcurrency,
    ratePerSecond: settings.registryRatePerSecond,
    burst: settings.registryRatePerSecond,
    cacheTtlMs: config.registryCacheTtlMs,
    defaultCredentials: (host) =>
      dockerConfig === undefined ? undefined : credentialsFor(host, dockerConfig),
    ...io.registry,
  });
  const baseGateway =
    io.gateway ?? new ClientNodeGateway({ kubeConfig, logger, instance: config.podName, strings });
  const gateway = io.dryRun ? readOnlyGateway(baseGateway) : baseGateway;
  // WATCH_SELECTOR goes to the API server; annotated-only and the scope are judged on each snapshot.
  const watch: WorkloadWatch & { isSynced?: () => boolean } = new SelectedWorkloadWatch(
    io.watch ??
      new KubeWorkloadWatch({
        kubeConfig,
        logger,
        namespaces: config.watchNamespaces,
        labelSelector: settings.watchSelector,
        strings,
      }),
    {
      selection: { annotatedOnly: settings.watchAnnotatedOnly, scope: settings.watcherScope },
      labelSelector: settings.watchSelector,
      logger,
    },
  );
  const leader =
    io.leader === null
      ? undefined
      : (io.leader ??
        (config.leaderElection
          ? new LeaseLeaderElector({
              kubeConfig,
              logger,
              namespace: config.podNamespace,
              name: config.leaseName,
              identity: config.podName,
            })
          : undefined));
  // Channels plus NOTIFY_DIGEST_THRESHOLD, NOTIFY_TIMEOUT and NOTIFY_RETRIES.
  const dispatcher =
    io.notify || io.dryRun
      ? undefined
      : createNotificationDispatcher(notifyConfig, { observer: metrics, logger });
  if (dispatcher) logger.info({ channels: describeChannels(notifyConfig) }, 'notification channels');

  const approvals =
    config.publicUrl && config.approvalSecret
      ? { publicUrl: config.publicUrl, secret: config.approvalSecret }
      : undefined;
  const now = io.now ?? (() => new Date());
  // Git credentials come from Secrets by name (get only, as pull secrets; see the RBAC).
  const secrets =
    gateway instanceof ClientNodeGateway
      ? gateway
      : new ClientNodeGateway({ kubeConfig, logger, instance: config.podName });
  const git = settings.git;
  const writeBack = new GitWriteBack({
    git: io.git ?? new GitCli({ insecureHosts: git.insecureHosts }),
    edit: editFiles,
    credentials: async (namespace, name) => {
      const data = await secrets.getSecretData(namespace, name);
      return data === undefined ? undefined : gitCredentialsOf(data, `${namespace}/${name}`);
    },
    identity: { name: git.authorName, email: git.authorEmail },
    commitPerWorkload: git.commitPerWorkload,
    pullRequests:
      io.pullRequests ??
      new RestPullRequests({
        trustedHosts: git.insecureHosts,
        ...(io.pullRequestProvider ? { provider: io.pullRequestProvider } : {}),
      }),
    metrics,
    logger,
    ...(io.timers ? { timers: io.timers } : {}),
    windowMs: io.gitWindowMs ?? NOTICE_BATCH_MS,
  });
  // VERIFY_*: files read now; the gate applies only to workloads with verification on.
  const signatureGate = await signatureGateFromSettings({
    settings,
    registry,
    kubeConfig,
    ...(io.readVerifyKeys ? { readObject: io.readVerifyKeys } : {}),
    now: () => now().getTime(),
    metrics,
    logger,
  });
  const controller = new Controller({
    watch,
    gateway,
    leader,
    registry,
    credentialsFor,
    fallbackDockerConfig: dockerConfig,
    metrics,
    strings,
    // Notices decided within a second of each other share a dispatch (and so a digest).
    notify: batchNotices(
      io.dryRun ? refuseNotices : (io.notify ?? ((notices) => dispatcher!.dispatch(notices))),
      {
        windowMs: NOTICE_BATCH_MS,
        ...(io.timers ? { timers: io.timers } : {}),
      },
    ),
    releaseNotes: releaseNotesFromConfig({ registry, config, logger }),
    ...(approvals
      ? {
          // Bound to the running version and last update: refused after any change (links.ts).
          approvalUrl: (w, c) =>
            approvalUrlFor(w, c, {
              ...approvals,
              now: now().getTime(),
              ttlMs: notifyConfig.approvalLinkTtlMs,
            }),
        }
      : {}),
    gitops: { writeBack, defaults: { repo: git.repo, secret: git.secret } },
    logger,
    now,
    gates: [...policyGates(), ...(io.gates ?? []), signatureGate],
    ...(io.timers ? { timers: io.timers } : {}),
    config: {
      checkIntervalMs: config.checkIntervalMs,
      runOnBoot: config.runOnBoot,
      overrides: config.overrides,
      rolloutTimeoutMs: config.rolloutTimeoutMs,
      registryConcurrency: config.registryConcurrency,
      debounceMs: settings.debounceMs,
      policyDefaults: settings.policy,
      ...io.controller,
      ...(io.dryRun ? { dryRun: true } : {}),
    },
  });

  // Push events: only the workloads of the pushed repository, with one fresh tag list per burst.
  const push = settings.registryWebhookToken
    ? new PushTrigger({
        targets: {
          workloadsUsing: (r) => controller.workloadsUsing(r),
          applyTags: (r, tags) => controller.applyTags(r, tags),
        },
        registry,
        credentials: (w, host) => controller.credentialsFor(w, host),
        timers: io.timers ?? realTimers,
        observe: (source, result) => metrics.observeRegistryEvent(source, result),
        logger,
      })
    : undefined;
  const receiver: ReceiverOptions | undefined =
    push && settings.registryWebhookToken
      ? {
          token: settings.registryWebhookToken,
          trigger: push,
          isLeader: () => controller.isLeader(),
          observe: (source, result) => metrics.observeRegistryEvent(source, result),
        }
      : undefined;
  if (!receiver) logger.info('registry push receivers off: REGISTRY_WEBHOOK_TOKEN is not set');
  else metrics.expectRegistryEvents(SOURCES);
  const receiverApp =
    receiver && settings.receiverPort !== undefined
      ? await buildReceiverApp({ ...receiver, logger })
      : undefined;

  const app = await build({
    api: controller,
    receiver: receiverApp ? undefined : receiver,
    // API resolves: own registry client and queue, RBAC or API_TOKEN callers (watcher/http/wiring.ts).
    ...apiDeps({
      kubeConfig,
      apiToken: settings.apiToken,
      resolveRegistries: settings.resolveRegistries,
      registry: {
        observer: metrics,
        logger,
        insecureRegistries: config.insecureRegistries,
        cacheTtlMs: config.registryCacheTtlMs,
        ...io.registry,
      },
      credentialsFor: (host) => (dockerConfig === undefined ? undefined : credentialsFor(host, dockerConfig)),
    }),
    metrics,
    ready: () => watch.isSynced?.() ?? true,
    logger,
    approval: approvals
      ? {
          plugin: approvalPlugin,
          options: {
            ...approvals,
            now: () => now().getTime(),
            ...approvalAdapter(controller, {
              signerOf: (image, version) => signatureGate.signerOf(image, version),
            }),
          },
        }
      : undefined,
  });

  let started = false;
  return {
    controller,
    metrics,
    registry,
    watch,
    leader,
    app,
    push,
    receiverApp,
    async start(opts = {}) {
      started = true;
      if (opts.listen !== false) {
        await app.listen({ port: config.httpPort, host: config.listenAddress }).catch((err: unknown) => {
          throw listenError(err, { HTTP_PORT: config.httpPort });
        });
        if (receiverApp && settings.receiverPort !== undefined) {
          const port = settings.receiverPort;
          await receiverApp.listen({ port, host: config.listenAddress }).catch((err: unknown) => {
            throw listenError(err, { RECEIVER_PORT: port });
          });
          logger.info({ port }, 'registry push receivers listening');
        }
        // Logged now, not after the first list: against an unreachable API server that never comes.
        logger.info({ port: config.httpPort, host: config.listenAddress }, 'watcher started');
      }
      // GIT_REPO set: Git write-back is meant, so say now when this image has no git.
      if (git.repo !== undefined) void writeBack.probe();
      // An elector handed in by the caller is the caller's to start and stop.
      if (!io.leader) await leader?.start();
      await controller.start();
    },
    async stop() {
      try {
        // The controller first: it answers the manual updates waiting in the HTTP app (E_STOPPING,
        // or their result when the write had begun), which app.close() waits for.
        if (started) await controller.stop();
        await app.close();
        await receiverApp?.close();
        // After the receivers: no event can start a new batch once its timers are cleared.
        push?.stop();
        if (!io.leader) await leader?.stop();
      } finally {
        // SMTP connections are closed whatever failed above.
        dispatcher?.close();
      }
    },
  };
}

/** The gateway of a dry run: reads pass, writes fail loudly. */
function readOnlyGateway(g: KubeGateway): KubeGateway {
  const refuse = (what: string) =>
    Promise.reject(new ImageWatcherError('E_DRY_RUN', `dry run: refusing to ${what}`));
  return {
    getWorkload: (kind, namespace, name) => g.getWorkload(kind, namespace, name),
    getDockerConfigSecret: (namespace, name) => g.getDockerConfigSecret(namespace, name),
    getServiceAccountPullSecrets: (namespace, name) => g.getServiceAccountPullSecrets(namespace, name),
    patchWorkload: (kind, namespace, name) => refuse(`patch ${kind} ${namespace}/${name}`),
    createEvent: (target) => refuse(`create an event on ${target.kind} ${target.namespace}/${target.name}`),
  };
}

function refuseNotices(notices: UpdateNotice[]): Promise<unknown> {
  return Promise.reject(
    new ImageWatcherError('E_DRY_RUN', `dry run: refusing to send ${notices.length} notices`),
  );
}
