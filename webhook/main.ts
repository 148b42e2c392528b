// Wiring only: configuration, logger, certificate, servers, signals.
import { pino } from 'pino';
import { ImageWatcherError } from '../shared/errors.ts';
import { listenError } from '../shared/listen.ts';
import { cachedSettingsParser } from './admission/settings-cache.ts';
import { cachedImageVersion } from './admission/review.ts';
import { loadWebhookConfig } from './config.ts';
import { WebhookMetrics } from './metrics.ts';
import { pooledRandomToken } from './random-token.ts';
import { startWebhook } from './server.ts';
import { readKeyPair } from './tls.ts';
import type { KeyPair } from './tls.ts';

/** Longest a shutdown may take before the process gives up on in-flight requests. */
const SHUTDOWN_TIMEOUT_MS = 25_000;

async function main(): Promise<void> {
  const config = loadWebhookConfig(process.env);
  // Synchronous writes: an async write still in flight at exit could land after the final flush,
  // so 'stopped' would precede 'stopping' in the log.
  const logger = pino(
    { level: config.logLevel, base: { component: 'webhook' } },
    pino.destination({ dest: 1, sync: true }),
  );

  let tls: KeyPair;
  if (config.tls !== undefined) {
    tls = await readKeyPair(config.tls.certFile, config.tls.keyFile);
  } else {
    // node-forge is ~10 MB of resident memory: load it only when no certificate is mounted.
    const { generateSelfSigned, webhookHosts, writeCaFile } = await import('./self-signed.ts');
    const hosts = webhookHosts(config.serviceName, config.namespace);
    const generated = generateSelfSigned({ hosts, now: new Date() });
    tls = { cert: generated.cert, key: generated.key };
    // The PEM in a JSON log line is one string of escaped \r\n: write it to a file instead.
    const caFile = writeCaFile(generated.caCert);
    logger.info(
      { hosts, caFile, caBundle: Buffer.from(generated.caCert).toString('base64') },
      `no TLS_CERT_FILE/TLS_KEY_FILE: generated a self-signed certificate; ${caFile ? `CA in ${caFile}, ` : ''}put caBundle into the MutatingWebhookConfiguration`,
    );
  }

  const metrics = new WebhookMetrics();
  const running = await startWebhook({
    host: config.listenAddress,
    logger,
    metrics,
    review: {
      watcherUsernames: config.watcherUsernames,
      randomToken: pooledRandomToken(),
      parseSettings: cachedSettingsParser(),
      imageVersion: cachedImageVersion(),
    },
    tls,
    ...(config.tls !== undefined ? { reloadFrom: config.tls } : {}),
    webhookPort: config.webhookPort,
    httpPort: config.httpPort,
  }).catch((err: unknown) => {
    throw listenError(err, { WEBHOOK_PORT: config.webhookPort, HTTP_PORT: config.httpPort });
  });
  logger.info(
    { webhookPort: running.webhookPort, httpPort: running.httpPort },
    'image-watcher webhook listening',
  );

  const shutdown = (signal: string): void => {
    logger.info({ signal }, 'shutting down: finishing in-flight reviews');
    setTimeout(() => {
      logger.error('shutdown timed out; exiting');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS).unref();
    running.close().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((err: unknown) => {
  // Configuration and certificate errors carry a message the user can act on; others a stack.
  console.error(
    err instanceof ImageWatcherError
      ? `image-watcher webhook: ${err.message}`
      : `image-watcher webhook failed to start: ${String((err as Error)?.stack ?? err)}`,
  );
  process.exit(1);
});
