import type { AddressInfo } from 'node:net';
import type { Server as HttpsServer } from 'node:https';
import type { Logger } from 'pino';
import type { ReviewDeps } from './admission/review.ts';
import { buildHttpApp, buildWebhookApp } from './app.ts';
import type { ServerLimits } from '../shared/inbound.ts';
import type { WebhookMetrics } from './metrics.ts';
import { CertificateReloader, TLS_OPTIONS } from './tls.ts';
import type { KeyPair } from './tls.ts';

export interface WebhookServerOptions {
  logger: Logger;
  metrics: WebhookMetrics;
  review: ReviewDeps;
  tls: KeyPair;
  /** When set, the certificate is re-read from these files when they change. */
  reloadFrom?: { certFile: string; keyFile: string; intervalMs?: number; debounceMs?: number };
  webhookPort: number;
  httpPort: number;
  /** Listen address; all interfaces by default. Tests use 127.0.0.1. */
  host?: string;
  /** Overrides of WEBHOOK_LIMITS and HTTP_LIMITS (tests use short timeouts). */
  limits?: { webhook?: Partial<ServerLimits>; http?: Partial<ServerLimits> };
}

export interface RunningWebhook {
  webhookPort: number;
  httpPort: number;
  reloader: CertificateReloader | undefined;
  /** Stops accepting, lets in-flight reviews finish, closes idle sockets. Idempotent. */
  close(): Promise<void>;
}

/** Starts both listeners; readiness turns true only when both listen and false again on close. */
export async function startWebhook(opts: WebhookServerOptions): Promise<RunningWebhook> {
  const host = opts.host ?? '0.0.0.0';
  let ready = false;
  const webhook = buildWebhookApp({
    logger: opts.logger,
    metrics: opts.metrics,
    review: opts.review,
    tls: opts.tls,
    ...(opts.limits?.webhook ? { limits: opts.limits.webhook } : {}),
  });
  const http = buildHttpApp({
    logger: opts.logger,
    metrics: opts.metrics,
    isReady: () => ready,
    ...(opts.limits?.http ? { limits: opts.limits.http } : {}),
  });

  let reloader: CertificateReloader | undefined;
  try {
    await webhook.listen({ port: opts.webhookPort, host });
    await http.listen({ port: opts.httpPort, host });
  } catch (err) {
    await Promise.allSettled([webhook.close(), http.close()]);
    throw err;
  }
  if (opts.reloadFrom !== undefined) {
    const server = webhook.server as HttpsServer;
    reloader = new CertificateReloader({
      ...opts.reloadFrom,
      current: opts.tls,
      // New handshakes use the new pair; open connections keep theirs until they close.
      apply: (pair) => server.setSecureContext({ ...TLS_OPTIONS, cert: pair.cert, key: pair.key }),
      logger: opts.logger,
    });
    reloader.start();
  }
  ready = true;

  let closing: Promise<void> | undefined;
  return {
    webhookPort: (webhook.server.address() as AddressInfo).port,
    httpPort: (http.server.address() as AddressInfo).port,
    reloader,
    close() {
      closing ??= (async () => {
        ready = false;
        reloader?.stop();
        // fastify.close(): stop accepting, answer 503 to new requests on open sockets, wait for
        // in-flight ones, close idle keep-alive sockets (forceCloseConnections: 'idle').
        await webhook.close();
        await http.close();
      })();
      return closing;
    },
  };
}
