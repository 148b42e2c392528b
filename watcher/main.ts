// The watcher process: wiring only. Every piece is built from the validated config and handed
// its dependencies; SIGTERM stops them in reverse order.
import { pino } from 'pino';
import { loadConfig } from '../shared/config.ts';
import { ImageWatcherError } from '../shared/errors.ts';
import { approvalPlugin } from './approval/plugin.ts';
import { createApprovalUrl } from './approval/links.ts';
import { loadWatcherSettings } from './config.ts';
import { Controller } from './controller.ts';
import { approvalAdapter } from './http/approval.ts';
import { build } from './http/app.ts';
import { ClientNodeGateway, loadKubeConfig } from './kube/client.ts';
import { KubeWorkloadWatch } from './kube/informers.ts';
import { LeaseLeaderElector } from './kube/leader.ts';
import { WatcherMetrics } from './metrics.ts';
import { createNotificationDispatcher, describeChannels, loadNotifyConfig } from './notify/config.ts';
import { createRegistryClient, credentialsFor, readDockerConfig } from './registry/index.ts';
import { releaseNotesFromConfig } from './release-notes/index.ts';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const settings = loadWatcherSettings(process.env);
  const logger = pino({ level: config.logLevel, base: { component: 'watcher' } });
  const notifyConfig = loadNotifyConfig(process.env);
  const metrics = new WatcherMetrics();
  const kubeConfig = loadKubeConfig(process.env);

  let dockerConfig: unknown;
  try {
    dockerConfig = await readDockerConfig(config.dockerConfigDir);
  } catch (err) {
    // Not fatal: pull secrets still work; say which file is wrong.
    logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'ignoring DOCKER_CONFIG');
  }

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
  });
  const gateway = new ClientNodeGateway({ kubeConfig, logger, instance: config.podName });
  const watch = new KubeWorkloadWatch({ kubeConfig, logger, namespaces: config.watchNamespaces });
  const leader = config.leaderElection
    ? new LeaseLeaderElector({
        kubeConfig,
        logger,
        namespace: config.podNamespace,
        name: config.leaseName,
        identity: config.podName,
      })
    : undefined;
  // Channels plus NOTIFY_DIGEST_THRESHOLD, NOTIFY_TIMEOUT and NOTIFY_RETRIES.
  const dispatcher = createNotificationDispatcher(notifyConfig, { observer: metrics, logger });
  logger.info({ channels: describeChannels(notifyConfig) }, 'notification channels');

  const approvals =
    config.publicUrl && config.approvalSecret
      ? { publicUrl: config.publicUrl, secret: config.approvalSecret }
      : undefined;
  const controller: Controller = new Controller({
    watch,
    gateway,
    leader,
    registry,
    credentialsFor,
    fallbackDockerConfig: dockerConfig,
    metrics,
    notify: (notices) => dispatcher.dispatch(notices),
    releaseNotes: releaseNotesFromConfig({ registry, config, logger }),
    ...(approvals
      ? {
          approvalUrl: (w, c) =>
            createApprovalUrl(
              { namespace: w.namespace, kind: w.kind, name: w.name, version: c.newVersion },
              { ...approvals, now: Date.now(), ttlMs: notifyConfig.approvalLinkTtlMs },
            ),
        }
      : {}),
    logger,
    now: () => new Date(),
    config: {
      checkIntervalMs: config.checkIntervalMs,
      runOnBoot: config.runOnBoot,
      overrides: config.overrides,
      rolloutTimeoutMs: config.rolloutTimeoutMs,
      registryConcurrency: config.registryConcurrency,
      debounceMs: settings.debounceMs,
    },
  });

  const app = await build({
    api: controller,
    registry,
    metrics,
    ready: () => watch.isSynced(),
    logger,
    approval: approvals
      ? {
          plugin: approvalPlugin,
          options: { ...approvals, now: Date.now, ...approvalAdapter(controller) },
        }
      : undefined,
  });
  await app.listen({ port: config.httpPort, host: '0.0.0.0' });

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    try {
      await app.close();
      await controller.stop();
      await leader?.stop();
    } finally {
      // SMTP connections are closed whatever failed above.
      dispatcher.close();
    }
    logger.info('stopped');
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      stop(signal).then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, 'unclean stop');
          process.exit(1);
        },
      );
    });
  }

  await leader?.start();
  await controller.start();
  logger.info({ port: config.httpPort, workloads: watch.list().length }, 'watcher started');
}

main().catch((err: unknown) => {
  // Config and kubeconfig problems: one clear line naming what to fix.
  const message =
    err instanceof ImageWatcherError
      ? `${err.code}: ${err.message}`
      : err instanceof Error
        ? (err.stack ?? err.message)
        : String(err);
  console.error(`image-watcher watcher: ${message}`);
  process.exit(1);
});
