import { ANNOTATIONS, parseWatchSettings, scopeProblem } from '../shared/annotations.ts';
import { labelSelectorProblem } from '../shared/label-selector.ts';
import type { PolicyDefaults } from '../shared/annotations.ts';
import type { Env } from '../shared/env.ts';
import { parseSchedule, parseTimeZone } from '../shared/schedule.ts';
import {
  ConfigError,
  parseBool,
  ProblemCollector,
  envOptional,
  envOr,
  parseDuration,
  parseEnum,
  parseInteger,
  parseList,
  parsePort,
} from '../shared/env.ts';

/** Watcher-only settings beyond shared/config.ts. */
export interface WatcherSettings {
  /** REGISTRY_RATE_LIMIT: sustained requests per second per registry (burst the same). */
  registryRatePerSecond: number;
  /** CHECK_DEBOUNCE: delay between a workload change and its check. */
  debounceMs: number;
  /** API_TOKEN: static bearer token for /api/v1/* and /images/* (secret; never logged). */
  apiToken: string | undefined;
  /** RESOLVE_REGISTRIES: registries resolve may ask besides those of watched workloads. */
  resolveRegistries: string[];
  /** WATCH_SELECTOR: label selector sent to the API server on every list and watch. */
  watchSelector: string | undefined;
  /** WATCH_ANNOTATED_ONLY: only workloads that carry image-watcher/mode. */
  watchAnnotatedOnly: boolean;
  /** WATCHER_SCOPE: handle only workloads whose image-watcher/scope is this; undefined: those without. */
  watcherScope: string | undefined;
  /** RUN_ONCE: one pass, then exit (a CronJob). */
  runOnce: boolean;
  /** REGISTRY_WEBHOOK_TOKEN: bearer token / HMAC secret of the registry push receivers (secret). Unset: no receiver. */
  registryWebhookToken: string | undefined;
  /** RECEIVER_PORT: the receivers (and /healthz) alone on this port; unset: on HTTP_PORT. */
  receiverPort: number | undefined;
  /** UPDATE_SCHEDULE, UPDATE_TIMEZONE, MIN_RELEASE_AGE: policy for workloads that set none. */
  policy: PolicyDefaults;
  /** VERIFY_SIGNATURES: signature check for workloads without `image-watcher/verify` (`none` or `cosign`). */
  verifySignatures: 'none' | 'cosign';
  /** VERIFY_KEYS_FILE: PEM file of public keys trusted for every workload. */
  verifyKeysFile: string | undefined;
  /** VERIFY_TRUSTED_ROOT: Sigstore trusted root JSON file for keyless bundles. */
  verifyTrustedRoot: string | undefined;
  /** The Git write-back's defaults and commit identity (see watcher/gitops/). */
  git: GitSettings;
}

export interface GitSettings {
  /** GIT_REPO: repository of workloads with write-back git and no git-repo annotation. */
  repo: string | undefined;
  /** GIT_SECRET: Secret (in the workload's namespace) with the Git credentials, by default. */
  secret: string | undefined;
  /** GIT_AUTHOR_NAME / GIT_AUTHOR_EMAIL: author and committer of write-back commits. */
  authorName: string;
  authorEmail: string;
  /** GIT_COMMIT_PER_WORKLOAD: one commit per workload instead of one per repository and branch. */
  commitPerWorkload: boolean;
  /** GIT_INSECURE_HOSTS: hosts spoken to over plain http and allowed on private addresses. */
  insecureHosts: string[];
}

function filePath(value: string, variable: string): string {
  if (value.includes('\0')) throw new ConfigError(variable, `${variable} is not a file path`);
  return value;
}

const REGISTRY_HOST = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(?::\d{1,5})?$/;

function apiToken(value: string, variable: string): string {
  // Checked for shape only; the value never appears in a message.
  if (/\s/.test(value) || value.length < 16) {
    throw new ConfigError(variable, `${variable} must be at least 16 characters without spaces`);
  }
  return value;
}

function registries(value: string, variable: string): string[] {
  const hosts = parseList(value).map((h) => h.toLowerCase());
  const bad = hosts.filter((h) => !REGISTRY_HOST.test(h));
  if (bad.length > 0) {
    throw new ConfigError(
      variable,
      `${variable} has entries that are not host[:port]: ${bad.join(', ')}; use e.g. ghcr.io,registry.local:5000`,
    );
  }
  return hosts;
}

function selector(value: string, variable: string): string | undefined {
  const problem = labelSelectorProblem(value);
  if (problem !== undefined) {
    throw new ConfigError(
      variable,
      `${variable}=${JSON.stringify(value.slice(0, 200))} is not a label selector: ${problem}; use e.g. app=web,tier!=db or env in (prod,staging)`,
    );
  }
  return value.trim() === '' ? undefined : value.trim();
}

function scopeName(value: string, variable: string): string {
  const problem = scopeProblem(value);
  if (problem !== undefined)
    throw new ConfigError(variable, `${variable}=${JSON.stringify(value.slice(0, 100))} ${problem}`);
  return value;
}

/** A default repository is checked by the annotation's own rule (the one schema). */
function gitRepoUrl(value: string, variable: string): string {
  const r = parseWatchSettings({ [ANNOTATIONS.gitRepo]: value });
  if (!r.ok) throw new ConfigError(variable, `${variable}: ${r.problems[0]!.message}`);
  return r.settings.gitRepo!;
}

function secretName(value: string, variable: string): string {
  const r = parseWatchSettings({ [ANNOTATIONS.gitSecret]: value });
  if (!r.ok) throw new ConfigError(variable, `${variable}: ${r.problems[0]!.message}`);
  return r.settings.gitSecret!;
}

function email(value: string, variable: string): string {
  if (!/^[^\s<>@]+@[^\s<>@]+$/.test(value)) {
    throw new ConfigError(variable, `${variable} is not an e-mail address (e.g. image-watcher@example.com)`);
  }
  return value;
}

function personName(value: string, variable: string): string {
  if (/[<>\n\r]/.test(value) || value.includes('\u0000') || value.length > 200) {
    throw new ConfigError(variable, `${variable} must be a name without <, > or line breaks`);
  }
  return value;
}

export const GIT_DEFAULTS: GitSettings = {
  repo: undefined,
  secret: undefined,
  authorName: 'image-watcher',
  authorEmail: 'image-watcher@users.noreply.local',
  commitPerWorkload: false,
  insecureHosts: [],
};

export const WATCHER_DEFAULTS: WatcherSettings = {
  registryRatePerSecond: 10,
  debounceMs: 2000,
  apiToken: undefined,
  resolveRegistries: [],
  watchSelector: undefined,
  watchAnnotatedOnly: false,
  watcherScope: undefined,
  runOnce: false,
  registryWebhookToken: undefined,
  receiverPort: undefined,
  policy: {},
  verifySignatures: 'none',
  verifyKeysFile: undefined,
  verifyTrustedRoot: undefined,
  git: GIT_DEFAULTS,
};

/** A value checked by the annotation schema's own parser, so env and annotations agree. */
function viaSchema<T>(parse: (v: string) => { ok: true; value: T } | { ok: false; message: string }) {
  return (value: string, variable: string): T => {
    const r = parse(value.trim());
    if (!r.ok) throw new ConfigError(variable, `${variable} ${r.message}`);
    return r.value;
  };
}

export function loadWatcherSettings(env: Env = process.env): WatcherSettings {
  const c = new ProblemCollector();
  const settings: WatcherSettings = {
    registryRatePerSecond: c.read(
      () =>
        envOr(
          env,
          'REGISTRY_RATE_LIMIT',
          (v, n) => parseInteger(v, n, { min: 1, max: 10_000 }),
          WATCHER_DEFAULTS.registryRatePerSecond,
        ),
      WATCHER_DEFAULTS.registryRatePerSecond,
    ),
    debounceMs: c.read(
      () =>
        envOr(
          env,
          'CHECK_DEBOUNCE',
          (v, n) => parseDuration(v, n, { min: 0, max: 600_000 }),
          WATCHER_DEFAULTS.debounceMs,
        ),
      WATCHER_DEFAULTS.debounceMs,
    ),
    apiToken: c.read(() => envOptional(env, 'API_TOKEN', apiToken), undefined),
    resolveRegistries: c.read(() => envOr(env, 'RESOLVE_REGISTRIES', registries, []), []),
    watchSelector: c.read(() => envOr(env, 'WATCH_SELECTOR', selector, undefined), undefined),
    watchAnnotatedOnly: c.read(() => envOr(env, 'WATCH_ANNOTATED_ONLY', parseBool, false), false),
    watcherScope: c.read(() => envOptional(env, 'WATCHER_SCOPE', scopeName), undefined),
    runOnce: c.read(() => envOr(env, 'RUN_ONCE', parseBool, false), false),
    registryWebhookToken: c.read(() => envOptional(env, 'REGISTRY_WEBHOOK_TOKEN', apiToken), undefined),
    receiverPort: c.read(() => envOptional(env, 'RECEIVER_PORT', parsePort), undefined),
    policy: {
      schedule: c.read(() => envOptional(env, 'UPDATE_SCHEDULE', viaSchema(parseSchedule)), undefined),
      timezone: c.read(() => envOptional(env, 'UPDATE_TIMEZONE', viaSchema(parseTimeZone)), undefined),
      minAgeMs: c.read(
        () =>
          envOptional(env, 'MIN_RELEASE_AGE', (v, n) =>
            parseDuration(v, n, { min: 0, max: 366 * 86_400_000 }),
          ),
        undefined,
      ),
    },
    verifySignatures: c.read(
      () =>
        envOr(
          env,
          'VERIFY_SIGNATURES',
          (v, n) => parseEnum(v, ['none', 'cosign'] as const, n),
          WATCHER_DEFAULTS.verifySignatures,
        ),
      WATCHER_DEFAULTS.verifySignatures,
    ),
    verifyKeysFile: c.read(() => envOptional(env, 'VERIFY_KEYS_FILE', filePath), undefined),
    verifyTrustedRoot: c.read(() => envOptional(env, 'VERIFY_TRUSTED_ROOT', filePath), undefined),
    git: {
      repo: c.read(() => envOptional(env, 'GIT_REPO', gitRepoUrl), undefined),
      secret: c.read(() => envOptional(env, 'GIT_SECRET', secretName), undefined),
      authorName: c.read(
        () => envOr(env, 'GIT_AUTHOR_NAME', personName, GIT_DEFAULTS.authorName),
        GIT_DEFAULTS.authorName,
      ),
      authorEmail: c.read(
        () => envOr(env, 'GIT_AUTHOR_EMAIL', email, GIT_DEFAULTS.authorEmail),
        GIT_DEFAULTS.authorEmail,
      ),
      commitPerWorkload: c.read(() => envOr(env, 'GIT_COMMIT_PER_WORKLOAD', parseBool, false), false),
      insecureHosts: c.read(() => envOr(env, 'GIT_INSECURE_HOSTS', registries, []), []),
    },
  };
  c.throwIfAny();
  return settings;
}
