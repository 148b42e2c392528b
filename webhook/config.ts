import { DEFAULTS } from '../shared/config.ts';
import { DEFAULT_LISTEN_ADDRESS, parseListenAddress } from '../shared/listen.ts';
import type { Env } from '../shared/env.ts';
import {
  ConfigError,
  ProblemCollector,
  envOr,
  envOptional,
  envValue,
  parseEnum,
  parseList,
  parsePort,
} from '../shared/env.ts';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface WebhookConfig {
  webhookPort: number;
  httpPort: number;
  /** LISTEN_ADDRESS, for both ports. */
  listenAddress: string;
  /** Both set or both undefined; undefined means a self-signed certificate is generated. */
  tls: { certFile: string; keyFile: string } | undefined;
  logLevel: LogLevel;
  /** Requesters whose UPDATEs pass unchanged (managed annotations are theirs to write). */
  watcherUsernames: string[];
  /** Names for the self-signed certificate's SANs. */
  serviceName: string;
  namespace: string;
}

// Same names and defaults as shared/config.ts; the webhook reads only what it needs.
const LOG_LEVELS = ['ERROR', 'WARN', 'INFO', 'DEBUG', 'TRACE', 'SILENT'] as const;
const DEFAULT_WATCHER_SA = DEFAULTS.watcherServiceAccount;
const SERVICE_ACCOUNT =
  /^system:serviceaccount:[a-z0-9]([-a-z0-9]*[a-z0-9])?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function dnsLabel(value: string, variable: string): string {
  if (!DNS_LABEL.test(value)) {
    throw new ConfigError(
      variable,
      `${variable}=${JSON.stringify(value)} is not a DNS label (lower-case letters, digits, "-")`,
    );
  }
  return value;
}

function serviceAccounts(value: string, variable: string): string[] {
  const names = parseList(value);
  const bad = names.filter((n) => !SERVICE_ACCOUNT.test(n));
  if (names.length === 0 || bad.length > 0) {
    // A typo here would make the webhook revert the watcher's own writes, so refuse to start.
    throw new ConfigError(
      variable,
      `${variable}=${JSON.stringify(value)} must be a comma list of system:serviceaccount:<namespace>:<name>`,
    );
  }
  return names;
}

/** The webhook's settings from the environment; throws one ConfigError naming every bad variable. */
export function loadWebhookConfig(env: Env = process.env): WebhookConfig {
  const c = new ProblemCollector();
  const webhookPort = c.read(
    () => envOr(env, 'WEBHOOK_PORT', parsePort, DEFAULTS.webhookPort),
    DEFAULTS.webhookPort,
  );
  const httpPort = c.read(() => envOr(env, 'HTTP_PORT', parsePort, DEFAULTS.httpPort), DEFAULTS.httpPort);
  const listenAddress = c.read(
    () => envOr(env, 'LISTEN_ADDRESS', parseListenAddress, DEFAULT_LISTEN_ADDRESS),
    DEFAULT_LISTEN_ADDRESS,
  );
  const level = c.read(() => envOr(env, 'LOG_LEVEL', (v, n) => parseEnum(v, LOG_LEVELS, n), 'INFO'), 'INFO');
  const watcherUsernames = c.read(
    () => envOr(env, 'WATCHER_SERVICE_ACCOUNT', serviceAccounts, [DEFAULT_WATCHER_SA]),
    [DEFAULT_WATCHER_SA],
  );
  const serviceName = c.read(() => envOr(env, 'WEBHOOK_SERVICE_NAME', dnsLabel, 'image-watcher-webhook'), '');
  const namespace = c.read(() => envOr(env, 'POD_NAMESPACE', dnsLabel, DEFAULTS.podNamespace), '');
  const certFile = envOptional(env, 'TLS_CERT_FILE', (v) => v);
  const keyFile = envValue(env, 'TLS_KEY_FILE');
  if ((certFile === undefined) !== (keyFile === undefined)) {
    c.add(
      certFile === undefined ? 'TLS_CERT_FILE' : 'TLS_KEY_FILE',
      'TLS_CERT_FILE and TLS_KEY_FILE must be set together (or neither, for a self-signed certificate)',
    );
  }
  if (webhookPort !== 0 && webhookPort === httpPort) {
    c.add('WEBHOOK_PORT', `WEBHOOK_PORT and HTTP_PORT are both ${webhookPort}; use two different ports`);
  }
  c.throwIfAny();
  return {
    webhookPort,
    httpPort,
    listenAddress,
    tls: certFile !== undefined && keyFile !== undefined ? { certFile, keyFile } : undefined,
    logLevel: level.toLowerCase() as LogLevel,
    watcherUsernames,
    serviceName,
    namespace,
  };
}
