// The watcher process: reads the environment and calls the one wiring (watcher/create.ts);
// SIGTERM stops it.
import { pino } from 'pino';
import { ImageWatcherError } from '../shared/errors.ts';
import { createWatcher, loadWatcherConfig } from './create.ts';
import { loadKubeConfig } from './kube/client.ts';
import { runOnce } from './once.ts';
import { readDockerConfig } from './registry/index.ts';

async function main(): Promise<void> {
  const wc = loadWatcherConfig(process.env);
  // Synchronous writes: an async write still in flight at exit could land after the final flush,
  // so 'stopped' would precede 'stopping' in the log.
  const logger = pino(
    { level: wc.config.logLevel, base: { component: 'watcher' } },
    pino.destination({ dest: 1, sync: true }),
  );
  const kubeConfig = loadKubeConfig(process.env);
  let dockerConfig: unknown;
  try {
    dockerConfig = await readDockerConfig(wc.config.dockerConfigDir);
  } catch (err) {
    // Not fatal: pull secrets still work; say which file is wrong.
    logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'ignoring DOCKER_CONFIG');
  }
  if (wc.settings.runOnce) {
    // A CronJob: one pass without HTTP port or leader election (concurrencyPolicy: Forbid keeps
    // runs apart), then exit 0, or 1 when a workload could not be checked or acted on.
    const result = await runOnce(
      await createWatcher(wc, {
        kubeConfig,
        logger,
        dockerConfig,
        leader: null,
        controller: { runOnBoot: false },
      }),
    );
    for (const row of result.rows) {
      if (row.action === 'none') continue;
      logger.info(
        {
          workload: { namespace: row.namespace, kind: row.kind, name: row.name },
          container: row.container,
          from: row.current,
          to: row.candidate,
          action: row.action,
          ...(row.error !== undefined ? { error: row.error } : {}),
        },
        'run once: plan',
      );
    }
    logger.info(
      { containers: result.rows.length, pending: result.pending, errors: result.errors },
      'run once: pass done; exiting',
    );
    process.exit(result.errors > 0 ? 1 : 0);
  }
  const watcher = await createWatcher(wc, { kubeConfig, logger, dockerConfig });

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    await watcher.stop();
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
  await watcher.start();
  if (!stopping)
    logger.info({ workloads: watcher.watch.list().length }, 'watcher synced with the Kubernetes API');
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
