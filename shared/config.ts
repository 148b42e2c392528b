import { homedir } from 'node:os';
import { join } from 'node:path';
import { MODES } from './annotations.ts';
import type { Overrides } from './annotations.ts';
import {
  ConfigError,
  envOptional,
  envOr,
  envValue,
  parseBool,
  parseDuration,
  parseEnum,
  parseInteger,
  parseList,
  parsePort,
  parseUrl,
  ProblemCollector,
} from './env.ts';
import type { Env } from './env.ts';
import { DEFAULT_LISTEN_ADDRESS, parseListenAddress } from './listen.ts';
import { STRATEGIES } from './strategy.ts';

/** pino level names, from the contract's LOG_LEVEL values (plus SILENT for tests). */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export type NodeEnv = 'development' | 'production' | 'test';

export interface OpenAiConfig {
  url: string;
  key: string | undefined; // secret; local OpenAI-compatible servers may need none
  model: string;
}

/** Every setting of both processes, read once at start. Durations are milliseconds. */
export interface Config {
  overrides: Overrides; // IMAGE_WATCHER_MODE, IMAGE_WATCHER_STRATEGY
  runOnBoot: boolean;
  checkIntervalMs: number;
  logLevel: LogLevel;
  nodeEnv: NodeEnv;
  githubToken: string | undefined; // secret
  openAi: OpenAiConfig | undefined; // OPEN_AI_URL, OPEN_AI_KEY, OPEN_AI_MODEL
  httpPort: number;
  webhookPort: number;
  listenAddress: string; // LISTEN_ADDRESS
  tlsCertFile: string | undefined;
  tlsKeyFile: string | undefined;
  dockerConfigDir: string; // DOCKER_CONFIG
  insecureRegistries: string[]; // host[:port], lower-case
  watchNamespaces: string[]; // empty: all namespaces
  watcherServiceAccounts: string[]; // WATCHER_SERVICE_ACCOUNT: comma list of system:serviceaccount:NS:NAME
  leaderElection: boolean;
  leaseName: string;
  podName: string;
  podNamespace: string;
  publicUrl: string | undefined; // without a trailing slash
  approvalSecret: string | undefined; // secret
  registryConcurrency: number; // per registry
  registryCacheTtlMs: number;
  registryListTimeoutMs: number; // REGISTRY_LIST_TIMEOUT: all tag pages of one repository per pass
  registryTrustedHosts: string[]; // REGISTRY_TRUSTED_HOSTS: private hosts redirects/token realms may reach
  rolloutTimeoutMs: number;
  releaseNotesAllowPrivate: boolean;
}

export const DEFAULTS = {
  checkIntervalMs: 3_600_000,
  httpPort: 8080,
  webhookPort: 8443,
  watcherServiceAccount: 'system:serviceaccount:image-watcher:image-watcher-watcher',
  leaseName: 'image-watcher-watcher',
  podNamespace: 'image-watcher',
  registryConcurrency: 4,
  registryCacheTtlMs: 300_000,
  registryListTimeoutMs: 120_000,
  rolloutTimeoutMs: 600_000,
} as const;

/** Checking more often than this only hammers registries (and hits their rate limits). */
export const MIN_CHECK_INTERVAL_MS = 10_000;
/** With NODE_ENV=test, end-to-end tests may check quickly. */
export const MIN_CHECK_INTERVAL_TEST_MS = 100;

const LOG_LEVELS = ['ERROR', 'WARN', 'INFO', 'DEBUG', 'TRACE', 'SILENT'] as const;
const NODE_ENVS: readonly NodeEnv[] = ['development', 'production', 'test'];
const REGISTRY_HOST =
  /^(?:[a-z0-9]([a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const SERVICE_ACCOUNT_USER =
  /^system:serviceaccount:[a-z0-9]([-a-z0-9]*[a-z0-9])?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const MIN_SECRET_LENGTH = 16;

/**
 * Reads and validates every variable of the contract (and the extras of the design), reporting
 * all invalid ones at once in a ConfigError. Secrets never appear in messages.
 */
export function loadConfig(env: Env = process.env): Config {
  const c = new ProblemCollector();

  const nodeEnv = c.read(
    () => envOr(env, 'NODE_ENV', (v, n) => parseEnum(v, NODE_ENVS, n), 'production'),
    'production',
  );
  const minInterval = nodeEnv === 'test' ? MIN_CHECK_INTERVAL_TEST_MS : MIN_CHECK_INTERVAL_MS;

  const overrides: Overrides = {
    mode: c.read(() => envOptional(env, 'IMAGE_WATCHER_MODE', (v, n) => parseEnum(v, MODES, n)), undefined),
    strategy: c.read(
      () => envOptional(env, 'IMAGE_WATCHER_STRATEGY', (v, n) => parseEnum(v, STRATEGIES, n)),
      undefined,
    ),
  };

  const config: Config = {
    overrides,
    runOnBoot: c.read(() => envOr(env, 'RUN_ON_BOOT', parseBool, false), false),
    checkIntervalMs: c.read(
      () =>
        envOr(
          env,
          'CHECK_INTERVAL',
          (v, n) => parseDuration(v, n, { min: minInterval }),
          DEFAULTS.checkIntervalMs,
        ),
      DEFAULTS.checkIntervalMs,
    ),
    logLevel: c.read(
      () => envOr(env, 'LOG_LEVEL', (v, n) => parseEnum(v, LOG_LEVELS, n).toLowerCase() as LogLevel, 'info'),
      'info',
    ),
    nodeEnv,
    githubToken: c.read(() => envOptional(env, 'GITHUB_TOKEN', (v, n) => token(v, n, 1)), undefined),
    openAi: c.read(() => openAi(env), undefined),
    httpPort: c.read(() => envOr(env, 'HTTP_PORT', parsePort, DEFAULTS.httpPort), DEFAULTS.httpPort),
    webhookPort: c.read(
      () => envOr(env, 'WEBHOOK_PORT', parsePort, DEFAULTS.webhookPort),
      DEFAULTS.webhookPort,
    ),
    listenAddress: c.read(
      () => envOr(env, 'LISTEN_ADDRESS', parseListenAddress, DEFAULT_LISTEN_ADDRESS),
      DEFAULT_LISTEN_ADDRESS,
    ),
    tlsCertFile: envValue(env, 'TLS_CERT_FILE'),
    tlsKeyFile: envValue(env, 'TLS_KEY_FILE'),
    dockerConfigDir: envValue(env, 'DOCKER_CONFIG') ?? join(envValue(env, 'HOME') ?? homedir(), '.docker'),
    insecureRegistries: c.read(() => envOr(env, 'INSECURE_REGISTRIES', registryHosts, []), []),
    watchNamespaces: c.read(() => envOr(env, 'WATCH_NAMESPACES', namespaces, []), []),
    watcherServiceAccounts: c.read(
      () => envOr(env, 'WATCHER_SERVICE_ACCOUNT', serviceAccounts, [DEFAULTS.watcherServiceAccount]),
      [DEFAULTS.watcherServiceAccount],
    ),
    leaderElection: c.read(() => envOr(env, 'LEADER_ELECTION', parseBool, true), true),
    leaseName: c.read(() => envOr(env, 'LEASE_NAME', dnsSubdomain, DEFAULTS.leaseName), DEFAULTS.leaseName),
    // The downward API sets POD_NAME; HOSTNAME is the pod name too, and keeps local runs unique.
    podName: envValue(env, 'POD_NAME') ?? envValue(env, 'HOSTNAME') ?? 'image-watcher',
    podNamespace: c.read(
      () => envOr(env, 'POD_NAMESPACE', dnsLabel, DEFAULTS.podNamespace),
      DEFAULTS.podNamespace,
    ),
    publicUrl: c.read(
      () => envOptional(env, 'PUBLIC_URL', (v, n) => parseUrl(v, n).replace(/\/+$/, '')),
      undefined,
    ),
    approvalSecret: c.read(
      () => envOptional(env, 'APPROVAL_SECRET', (v, n) => token(v, n, MIN_SECRET_LENGTH)),
      undefined,
    ),
    registryConcurrency: c.read(
      () =>
        envOr(
          env,
          'REGISTRY_CONCURRENCY',
          (v, n) => parseInteger(v, n, { min: 1, max: 64 }),
          DEFAULTS.registryConcurrency,
        ),
      DEFAULTS.registryConcurrency,
    ),
    registryCacheTtlMs: c.read(
      () => envOr(env, 'REGISTRY_CACHE_TTL', (v, n) => parseDuration(v, n), DEFAULTS.registryCacheTtlMs),
      DEFAULTS.registryCacheTtlMs,
    ),
    registryListTimeoutMs: c.read(
      () =>
        envOr(
          env,
          'REGISTRY_LIST_TIMEOUT',
          (v, n) => parseDuration(v, n, { min: 1000, max: 3_600_000 }),
          DEFAULTS.registryListTimeoutMs,
        ),
      DEFAULTS.registryListTimeoutMs,
    ),
    registryTrustedHosts: c.read(() => envOr(env, 'REGISTRY_TRUSTED_HOSTS', hostNames, []), []),
    rolloutTimeoutMs: c.read(
      () =>
        envOr(
          env,
          'ROLLOUT_TIMEOUT',
          (v, n) => parseDuration(v, n, { min: 1000 }),
          DEFAULTS.rolloutTimeoutMs,
        ),
      DEFAULTS.rolloutTimeoutMs,
    ),
    releaseNotesAllowPrivate: c.read(
      () => envOr(env, 'RELEASE_NOTES_ALLOW_PRIVATE', parseBool, false),
      false,
    ),
  };

  if ((config.tlsCertFile === undefined) !== (config.tlsKeyFile === undefined)) {
    const [set, unset] =
      config.tlsCertFile === undefined
        ? ['TLS_KEY_FILE', 'TLS_CERT_FILE']
        : ['TLS_CERT_FILE', 'TLS_KEY_FILE'];
    c.add(unset, `${set} is set but ${unset} is not; set both (or neither, for a generated certificate)`);
  }

  c.throwIfAny();
  return config;
}

/** A copy safe to log: secrets replaced by `[redacted]` (absent ones stay undefined). */
export function redactConfig(config: Config): Config {
  const hide = (v: string | undefined) => (v === undefined ? undefined : '[redacted]');
  return {
    ...config,
    overrides: { ...config.overrides },
    insecureRegistries: [...config.insecureRegistries],
    registryTrustedHosts: [...config.registryTrustedHosts],
    watchNamespaces: [...config.watchNamespaces],
    watcherServiceAccounts: [...config.watcherServiceAccounts],
    githubToken: hide(config.githubToken),
    approvalSecret: hide(config.approvalSecret),
    openAi: config.openAi && { ...config.openAi, key: hide(config.openAi.key) },
  };
}

// --- variable-specific parsers (they throw ConfigError like those of env.ts) -----------------------------

/** A secret: checked for shape only, and never echoed. */
function token(value: string, variable: string, minLength: number): string {
  if (/\s/.test(value)) throw new ConfigError(variable, `${variable} must not contain spaces or line breaks`);
  if (value.length < minLength) {
    throw new ConfigError(variable, `${variable} is too short; use at least ${minLength} characters`);
  }
  return value;
}

function openAi(env: Env): OpenAiConfig | undefined {
  const url = envOptional(env, 'OPEN_AI_URL', (v, n) => parseUrl(v, n, { secret: true }));
  const model = envValue(env, 'OPEN_AI_MODEL');
  const key = envOptional(env, 'OPEN_AI_KEY', (v, n) => token(v, n, 1));
  if (url === undefined) {
    if (model !== undefined || key !== undefined) {
      const set = model !== undefined ? 'OPEN_AI_MODEL' : 'OPEN_AI_KEY';
      throw new ConfigError(
        'OPEN_AI_URL',
        `${set} is set but OPEN_AI_URL is not; set OPEN_AI_URL too, or unset ${set}`,
      );
    }
    return undefined;
  }
  if (model === undefined) {
    throw new ConfigError(
      'OPEN_AI_MODEL',
      'OPEN_AI_URL is set but OPEN_AI_MODEL is not; name the model, e.g. gpt-4o-mini',
    );
  }
  return { url, key, model };
}

function registryHosts(value: string, variable: string): string[] {
  const hosts = parseList(value).map((h) => h.toLowerCase());
  const bad = hosts.filter((h) => !REGISTRY_HOST.test(h) || Number(h.split(':').pop()) > 65535);
  if (bad.length > 0) {
    throw new ConfigError(
      variable,
      `${variable}=${JSON.stringify(value)} has entries that are not host[:port]: ${bad.join(', ')}; use e.g. registry.local:5000 (no scheme or path)`,
    );
  }
  return hosts;
}

/** Host names (a port, if written, is ignored: the address guard judges hosts). */
function hostNames(value: string, variable: string): string[] {
  return registryHosts(value, variable).map((h) => h.replace(/:\d+$/, '').replace(/^\[|\]$/g, ''));
}

function namespaces(value: string, variable: string): string[] {
  const names = parseList(value);
  const bad = names.filter((n) => !DNS_LABEL.test(n));
  if (bad.length > 0) {
    throw new ConfigError(
      variable,
      `${variable}=${JSON.stringify(value)} has invalid namespace names: ${bad.join(', ')} (lower-case letters, digits and "-")`,
    );
  }
  return names;
}

/** A comma list of service account user names (as webhook/config.ts reads it). */
function serviceAccounts(value: string, variable: string): string[] {
  const names = parseList(value);
  const bad = names.filter((n) => !SERVICE_ACCOUNT_USER.test(n));
  if (names.length === 0 || bad.length > 0) {
    const what =
      names.length === 0
        ? 'is empty'
        : `has entries that are not service account user names: ${bad.join(', ')}`;
    throw new ConfigError(
      variable,
      `${variable}=${JSON.stringify(value)} ${what}; use a comma list of system:serviceaccount:NAMESPACE:NAME`,
    );
  }
  return names;
}

function dnsLabel(value: string, variable: string): string {
  if (!DNS_LABEL.test(value)) {
    throw new ConfigError(
      variable,
      `${variable}=${JSON.stringify(value)} is not a valid name (lower-case letters, digits and "-", at most 63)`,
    );
  }
  return value;
}

function dnsSubdomain(value: string, variable: string): string {
  if (!DNS_SUBDOMAIN.test(value)) {
    throw new ConfigError(
      variable,
      `${variable}=${JSON.stringify(value)} is not a valid name (lower-case letters, digits, "-" and ".")`,
    );
  }
  return value;
}
