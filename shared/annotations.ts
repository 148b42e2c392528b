import type { VersionConstraint } from './constraint.ts';
import { parseConstraint } from './constraint.ts';
import { ConfigError, formatDuration, parseDuration } from './env.ts';
import { compileUserPattern, InvalidPatternError } from './regex.ts';
import type { Schedule } from './schedule.ts';
import { parseSchedule, parseTimeZone } from './schedule.ts';
import type { TagPattern } from './regex.ts';
import { parsePendingRollout } from './pending-rollout.ts';
import { showText } from './show.ts';
import { STRATEGIES } from './strategy.ts';
import { isRfc3339Timestamp } from './timestamp.ts';
import type { Strategy } from './strategy.ts';

/**
 * The annotation schema: every image-watcher annotation is defined once here, with its default,
 * parser and message. The webhook and the watcher read annotations only through this module.
 */

export const PREFIX = 'image-watcher/';

export const ANNOTATIONS = {
  // set by users
  mode: 'image-watcher/mode',
  strategy: 'image-watcher/strategy',
  releaseUrl: 'image-watcher/release-url',
  include: 'image-watcher/include',
  exclude: 'image-watcher/exclude',
  containers: 'image-watcher/containers',
  verify: 'image-watcher/verify',
  verifyKey: 'image-watcher/verify-key',
  verifyIdentity: 'image-watcher/verify-identity',
  schedule: 'image-watcher/schedule',
  timezone: 'image-watcher/timezone',
  minAge: 'image-watcher/min-age',
  constraint: 'image-watcher/constraint',
  /** Which installation handles the workload (WATCHER_SCOPE); absent: the one without a scope. */
  scope: 'image-watcher/scope',
  writeBack: 'image-watcher/write-back',
  gitRepo: 'image-watcher/git-repo',
  gitBranch: 'image-watcher/git-branch',
  gitPath: 'image-watcher/git-path',
  gitSecret: 'image-watcher/git-secret',
  gitPush: 'image-watcher/git-push',
  // managed by image-watcher
  lastUpdated: 'image-watcher/last-updated',
  lastUpdatedVersion: 'image-watcher/last-updated-version',
  lastNotified: 'image-watcher/last-notified',
  lastNotifiedVersion: 'image-watcher/last-notified-version',
  previousVersion: 'image-watcher/previous-version',
  currentVersion: 'image-watcher/current-version',
  tokenUpdate: 'image-watcher/token-update',
  lastFailedVersion: 'image-watcher/last-failed-version',
  lastCheck: 'image-watcher/last-check',
  rollout: 'image-watcher/rollout',
  /** Versions whose notice is being sent: written before the send, removed with the stamp after it. */
  noticePending: 'image-watcher/notice-pending',
  /** JSON as `rollout`, plus the Git target: versions written to Git, not yet seen live (watcher/gitops/state.ts). */
  gitPending: 'image-watcher/git-pending',
  /** Versions last written to Git: never written again (a restart never pushes twice). */
  lastPushedVersion: 'image-watcher/last-pushed-version',
} as const;

/** Where an AUTO_UPDATE goes: the live object (default) or the Git repository it is synced from. */
export type WriteBack = 'live' | 'git';
export const WRITE_BACKS: readonly WriteBack[] = ['live', 'git'];
/** How a Git write-back lands: on the branch, on a branch per update, or as a pull/merge request. */
export type GitPush = 'direct' | 'branch' | 'pull-request';
export const GIT_PUSHES: readonly GitPush[] = ['direct', 'branch', 'pull-request'];

export type Mode = 'AUTO_UPDATE' | 'NOTIFICATION' | 'DISABLED';
export const MODES: readonly Mode[] = ['AUTO_UPDATE', 'NOTIFICATION', 'DISABLED'];

export interface WatchSettings {
  mode: Mode;
  strategy: Strategy;
  releaseUrl: string | undefined;
  /** RE2 syntax (see regex.ts): matched in linear time. */
  include: TagPattern | undefined;
  exclude: TagPattern | undefined;
  containers: string[] | undefined;
  /** Maintenance window (with `timezone`); undefined: any time (or the cluster's UPDATE_SCHEDULE). */
  schedule: Schedule | undefined;
  /** IANA zone of `schedule`; undefined: UPDATE_TIMEZONE, else UTC. */
  timezone: string | undefined;
  /** Minimum release age in ms (`min-age`, else MIN_RELEASE_AGE); undefined or 0: none. */
  minAgeMs: number | undefined;
  /** Semver range a candidate must satisfy besides the strategy. */
  constraint: VersionConstraint | undefined;
  scope: string | undefined;
  /** Optional so settings written before the GitOps keys stay valid; parseWatchSettings sets them. */
  writeBack?: WriteBack;
  gitRepo?: string | undefined;
  gitBranch?: string | undefined;
  gitPath?: string | undefined;
  gitSecret?: string | undefined;
  gitPush?: GitPush;
  /** Signature gate: `cosign` verifies candidates; undefined leaves it to VERIFY_SIGNATURES. */
  verify: VerifyMode | undefined;
  /** Secret or ConfigMap in the workload's namespace holding PEM public keys. */
  verifyKey: VerifyKeySource | undefined;
  /** Keyless signers accepted (certificate issuer and subject, whole-string RE2 matches). */
  verifyIdentity: IdentityRule[] | undefined;
}

export type VerifyMode = 'cosign';
export const VERIFY_MODES: readonly VerifyMode[] = ['cosign'];

export interface VerifyKeySource {
  kind: 'Secret' | 'ConfigMap';
  name: string;
}

/** A keyless signer rule: both patterns must match the whole issuer / subject. */
export interface IdentityRule {
  issuer: TagPattern;
  subject: TagPattern;
}

/** Cluster-wide policy defaults (UPDATE_SCHEDULE, UPDATE_TIMEZONE, MIN_RELEASE_AGE) for unset keys. */
export interface PolicyDefaults {
  schedule?: Schedule | undefined;
  timezone?: string | undefined;
  minAgeMs?: number | undefined;
}

export interface AnnotationProblem {
  /** The key and value as found (may be huge or hold control characters: show only `message`). */
  key: string;
  value: string;
  /** Bounded in length, control characters escaped. */
  message: string;
  allowed?: readonly string[];
}

/** Process-wide overrides from IMAGE_WATCHER_MODE / IMAGE_WATCHER_STRATEGY; they win over annotations. */
export interface Overrides {
  mode?: Mode | undefined;
  strategy?: Strategy | undefined;
}

export interface ParseOptions {
  /** Names of the workload's containers and init containers; `containers` must name only these. */
  containerNames?: readonly string[];
  overrides?: Overrides;
  /** Used for policy keys a workload does not set. */
  defaults?: PolicyDefaults;
}

// --- user keys: one row per key -------------------------------------------------------------------------

type Parsed<T> = { ok: true; value: T } | { ok: false; message: string; allowed?: readonly string[] };

interface UserKey<T> {
  key: string;
  default: T;
  /** `value` is trimmed and non-empty (an empty value means "use the default"). */
  parse(value: string, opts: ParseOptions): Parsed<T>;
  /** The value as a problem shows it (a URL's password is never echoed). */
  shown?: (value: string) => string;
}

/** Longest release-url accepted; URLs in annotations are short, this only stops abuse. */
const MAX_URL_LENGTH = 2048;
/** Kubernetes container names are DNS-1123 labels. */
const CONTAINER_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** How many names a message lists before "and N more": lists come from user-sized input. */
const MAX_LISTED = 10;

function list(names: readonly string[]): string {
  const shown = names.slice(0, MAX_LISTED).map((n) => showText(n, 64, false));
  const more = names.length - shown.length;
  return more > 0 ? `${shown.join(', ')} and ${more} more` : shown.join(', ');
}

function oneOf<T extends string>(what: string, allowed: readonly T[]) {
  return (value: string): Parsed<T> => {
    const wanted = value.toLowerCase();
    const hit = allowed.find((a) => a.toLowerCase() === wanted);
    return hit !== undefined
      ? { ok: true, value: hit }
      : { ok: false, message: `is not a valid ${what}; allowed: ${allowed.join(', ')}`, allowed };
  };
}

function pattern(value: string): Parsed<TagPattern> {
  try {
    return { ok: true, value: compileUserPattern(value) };
  } catch (err) {
    if (err instanceof InvalidPatternError) return { ok: false, message: `is not allowed: ${err.reason}` };
    throw err;
  }
}

function releaseUrl(value: string): Parsed<string> {
  const example = 'e.g. https://api.github.com/repos/org/repo/releases/tags/${tag}';
  if (value.length > MAX_URL_LENGTH) {
    return { ok: false, message: `is longer than ${MAX_URL_LENGTH} characters` };
  }
  const placeholder = /\$\{([^}]*)\}/g;
  const unknown = [...value.matchAll(placeholder)].map((m) => m[0]).filter((p) => p !== '${tag}');
  if (unknown.length > 0) {
    return { ok: false, message: `uses ${list(unknown)}; the only placeholder is \${tag} (${example})` };
  }
  let url: URL;
  try {
    url = new URL(value.replaceAll('${tag}', '1.0.0'));
  } catch {
    return { ok: false, message: `is not an absolute http(s) URL (${example})` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { ok: false, message: `is not an absolute http(s) URL (${example})` };
  }
  if (url.username !== '' || url.password !== '') {
    return {
      ok: false,
      message: 'must not contain credentials; set GITHUB_TOKEN for private GitHub repositories',
    };
  }
  return { ok: true, value };
}

function containers(value: string, opts: ParseOptions): Parsed<string[]> {
  const names = [
    ...new Set(
      value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    ),
  ];
  if (names.length === 0) {
    return { ok: false, message: 'lists no container; give a comma list of container names or remove it' };
  }
  const invalid = names.filter((n) => !CONTAINER_NAME.test(n));
  if (invalid.length > 0) {
    return {
      ok: false,
      message: `has invalid container names: ${list(invalid)} (lower-case letters, digits and "-")`,
    };
  }
  const existing = opts.containerNames;
  if (existing !== undefined) {
    // A Set: a pod may list tens of thousands of containers, and the annotation name them all.
    const known = new Set(existing);
    const missing = names.filter((n) => !known.has(n));
    if (missing.length > 0) {
      return {
        ok: false,
        message: `names containers that do not exist: ${list(missing)}; existing: ${list(existing) || '(none)'}`,
        allowed: existing,
      };
    }
  }
  return { ok: true, value: names };
}

/** https://host/path, ssh://[user@]host[:port]/path or scp-like user@host:path (no credentials). */
const SCP_LIKE = /^[A-Za-z0-9._-]+@([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(?!\/\/)[^\s]+$/;

/** Control characters (C0 and DEL) have no place in URLs, branches or paths. */
function hasControl(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function gitRepo(value: string): Parsed<string> {
  const example = 'e.g. https://github.com/org/deploy.git or ssh://git@github.com/org/deploy.git';
  if (value.length > MAX_URL_LENGTH)
    return { ok: false, message: `is longer than ${MAX_URL_LENGTH} characters` };
  if (/\s/.test(value) || hasControl(value) || value.startsWith('-')) {
    return { ok: false, message: `is not a Git repository URL (${example})` };
  }
  if (SCP_LIKE.test(value)) return { ok: true, value };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { ok: false, message: `is not a Git repository URL (${example})` };
  }
  // http only for hosts in GIT_INSECURE_HOSTS (checked by the watcher, like INSECURE_REGISTRIES).
  if (!['https:', 'ssh:', 'http:'].includes(url.protocol) || url.hostname === '') {
    return { ok: false, message: `is not an https or ssh URL (${example})` };
  }
  if (url.password !== '' || (url.protocol !== 'ssh:' && url.username !== '')) {
    return {
      ok: false,
      message: 'must not contain credentials; put them in the Secret named by image-watcher/git-secret',
    };
  }
  if (url.search !== '' || url.hash !== '' || url.pathname.length <= 1) {
    return { ok: false, message: `must name a repository path without query or fragment (${example})` };
  }
  return { ok: true, value };
}

/** `https://user:pass@host/...` shown as `https://***@host/...`. */
function withoutUserInfo(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, '$1***@');
}

/** A branch name git check-ref-format accepts (the common subset), never an option. */
const BRANCH = /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)(?!.*\.lock(\/|$))[A-Za-z0-9._/-]{1,200}(?<![./])$/;

function gitBranch(value: string): Parsed<string> {
  return BRANCH.test(value) && !value.startsWith('/')
    ? { ok: true, value }
    : { ok: false, message: 'is not a valid Git branch name (letters, digits, "/", ".", "_", "-")' };
}

function gitPath(value: string): Parsed<string> {
  const parts = value.split('/').filter((p) => p !== '' && p !== '.');
  if (
    value.length > 1024 ||
    value.startsWith('/') ||
    parts.includes('..') ||
    hasControl(value) ||
    value.includes('\\')
  ) {
    return { ok: false, message: 'must be a relative path inside the repository (no "..", no leading "/")' };
  }
  return { ok: true, value: parts.length === 0 ? '.' : parts.join('/') };
}

/** Kubernetes Secret names are DNS-1123 subdomains. */
const SECRET_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function secretName(value: string): Parsed<string> {
  return SECRET_NAME.test(value)
    ? { ok: true, value }
    : { ok: false, message: 'is not a Secret name (lower-case letters, digits, "-" and ".")' };
}

/** DNS-1123 subdomain: Secret and ConfigMap names. */
const OBJECT_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function verifyKey(value: string): Parsed<VerifyKeySource> {
  const slash = value.indexOf('/');
  const kindText = slash < 0 ? 'secret' : value.slice(0, slash).toLowerCase();
  const name = slash < 0 ? value : value.slice(slash + 1);
  const kind = kindText === 'secret' ? 'Secret' : kindText === 'configmap' ? 'ConfigMap' : undefined;
  if (kind === undefined || !OBJECT_NAME.test(name)) {
    return {
      ok: false,
      message:
        "is not secret/NAME or configmap/NAME (a Secret or ConfigMap in the workload's namespace holding PEM public keys)",
    };
  }
  return { ok: true, value: { kind, name } };
}

/** Whole-string match: an identity rule that matched a substring would let look-alikes in. */
function anchored(source: string): TagPattern {
  const compiled = compileUserPattern(`^(?:${source})$`);
  return { source, test: (text) => compiled.test(text) };
}

const MAX_IDENTITY_RULES = 16;

function verifyIdentity(value: string): Parsed<IdentityRule[]> {
  const format = 'want "issuer=REGEX subject=REGEX", several rules separated by ";"';
  const rules: IdentityRule[] = [];
  const parts = value
    .split(';')
    .map((r) => r.trim())
    .filter((r) => r !== '');
  if (parts.length > MAX_IDENTITY_RULES) {
    return { ok: false, message: `has more than ${MAX_IDENTITY_RULES} rules` };
  }
  for (const part of parts) {
    const fields = new Map<string, string>();
    for (const field of part.split(/\s+/)) {
      const eq = field.indexOf('=');
      if (eq <= 0) return { ok: false, message: `has ${showText(field, 40)}; ${format}` };
      fields.set(field.slice(0, eq), field.slice(eq + 1));
    }
    const issuer = fields.get('issuer');
    const subject = fields.get('subject');
    if (
      issuer === undefined ||
      subject === undefined ||
      fields.size !== 2 ||
      issuer === '' ||
      subject === ''
    ) {
      return { ok: false, message: `has a rule without both issuer and subject; ${format}` };
    }
    try {
      rules.push({ issuer: anchored(issuer), subject: anchored(subject) });
    } catch (err) {
      if (err instanceof InvalidPatternError) return { ok: false, message: `is not allowed: ${err.reason}` };
      throw err;
    }
  }
  if (rules.length === 0) return { ok: false, message: `has no rule; ${format}` };
  return { ok: true, value: rules };
}

/** Longest minimum release age: a year (beyond that nothing would ever be eligible). */
const MAX_MIN_AGE_MS = 366 * 86_400_000;

function minAge(value: string): Parsed<number> {
  try {
    return { ok: true, value: parseDuration(value, 'min-age', { min: 0, max: MAX_MIN_AGE_MS }) };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return {
      ok: false,
      message: `is not a duration from 0s to ${formatDuration(MAX_MIN_AGE_MS)} (e.g. 72h, 7d, 1d12h)`,
    };
  }
}

/** A scope is a label value: at most 63 letters, digits, "-", "_" or ".", alphanumeric at both ends. */
const SCOPE_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** Why `value` is not a scope (the annotation and WATCHER_SCOPE alike), or undefined. */
export function scopeProblem(value: string): string | undefined {
  return SCOPE_VALUE.test(value)
    ? undefined
    : 'is not a scope name (at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit)';
}

function scope(value: string): Parsed<string> {
  const p = scopeProblem(value);
  return p === undefined ? { ok: true, value } : { ok: false, message: p };
}

const USER_SCHEMA: { readonly [F in keyof Required<WatchSettings>]: UserKey<WatchSettings[F]> } = {
  mode: { key: ANNOTATIONS.mode, default: 'NOTIFICATION', parse: oneOf('mode', MODES) },
  strategy: { key: ANNOTATIONS.strategy, default: 'ALL', parse: oneOf('strategy', STRATEGIES) },
  releaseUrl: { key: ANNOTATIONS.releaseUrl, default: undefined, parse: releaseUrl },
  include: { key: ANNOTATIONS.include, default: undefined, parse: pattern },
  exclude: { key: ANNOTATIONS.exclude, default: undefined, parse: pattern },
  containers: { key: ANNOTATIONS.containers, default: undefined, parse: containers },
  schedule: { key: ANNOTATIONS.schedule, default: undefined, parse: parseSchedule },
  timezone: { key: ANNOTATIONS.timezone, default: undefined, parse: parseTimeZone },
  minAgeMs: { key: ANNOTATIONS.minAge, default: undefined, parse: minAge },
  constraint: { key: ANNOTATIONS.constraint, default: undefined, parse: parseConstraint },
  scope: { key: ANNOTATIONS.scope, default: undefined, parse: scope },
  verify: { key: ANNOTATIONS.verify, default: undefined, parse: oneOf('signature check', VERIFY_MODES) },
  verifyKey: { key: ANNOTATIONS.verifyKey, default: undefined, parse: verifyKey },
  verifyIdentity: { key: ANNOTATIONS.verifyIdentity, default: undefined, parse: verifyIdentity },
  writeBack: { key: ANNOTATIONS.writeBack, default: 'live', parse: oneOf('write-back', WRITE_BACKS) },
  gitRepo: { key: ANNOTATIONS.gitRepo, default: undefined, parse: gitRepo, shown: withoutUserInfo },
  gitBranch: { key: ANNOTATIONS.gitBranch, default: undefined, parse: gitBranch },
  gitPath: { key: ANNOTATIONS.gitPath, default: undefined, parse: gitPath },
  gitSecret: { key: ANNOTATIONS.gitSecret, default: undefined, parse: secretName },
  gitPush: { key: ANNOTATIONS.gitPush, default: 'direct', parse: oneOf('git-push', GIT_PUSHES) },
};

const USER_FIELDS = Object.keys(USER_SCHEMA) as (keyof Required<WatchSettings>)[];

/** Keys users may set. */
export const USER_KEYS: readonly string[] = USER_FIELDS.map((f) => USER_SCHEMA[f].key);

// --- managed keys ---------------------------------------------------------------------------------------

export interface ManagedState {
  lastUpdated?: string;
  lastUpdatedVersion?: string;
  lastNotified?: string;
  lastNotifiedVersion?: string;
  previousVersion?: string;
  currentVersion?: string;
  tokenUpdate?: string;
  lastFailedVersion?: string;
  lastCheck?: string;
  /** JSON: the update whose rollout is being watched (see pending-rollout.ts). */
  rollout?: string;
  /** Versions (as in last-notified-version) whose notice was decided and not yet confirmed sent. */
  noticePending?: string;
  gitPending?: string;
  lastPushedVersion?: string;
}

type ValueKind = 'timestamp' | 'versions' | 'token' | 'rollout';

const MANAGED_SCHEMA: { readonly [F in keyof Required<ManagedState>]: { key: string; kind: ValueKind } } = {
  lastUpdated: { key: ANNOTATIONS.lastUpdated, kind: 'timestamp' },
  lastUpdatedVersion: { key: ANNOTATIONS.lastUpdatedVersion, kind: 'versions' },
  lastNotified: { key: ANNOTATIONS.lastNotified, kind: 'timestamp' },
  lastNotifiedVersion: { key: ANNOTATIONS.lastNotifiedVersion, kind: 'versions' },
  previousVersion: { key: ANNOTATIONS.previousVersion, kind: 'versions' },
  currentVersion: { key: ANNOTATIONS.currentVersion, kind: 'versions' },
  tokenUpdate: { key: ANNOTATIONS.tokenUpdate, kind: 'token' },
  lastFailedVersion: { key: ANNOTATIONS.lastFailedVersion, kind: 'versions' },
  lastCheck: { key: ANNOTATIONS.lastCheck, kind: 'timestamp' },
  rollout: { key: ANNOTATIONS.rollout, kind: 'rollout' },
  noticePending: { key: ANNOTATIONS.noticePending, kind: 'versions' },
  gitPending: { key: ANNOTATIONS.gitPending, kind: 'rollout' },
  lastPushedVersion: { key: ANNOTATIONS.lastPushedVersion, kind: 'versions' },
};

const MANAGED_FIELDS = Object.keys(MANAGED_SCHEMA) as (keyof ManagedState)[];

/** Keys only image-watcher writes; the webhook restores them when someone else changes them. */
export const MANAGED_KEYS: readonly string[] = MANAGED_FIELDS.map((f) => MANAGED_SCHEMA[f].key);

const KNOWN_KEYS: readonly string[] = [...USER_KEYS, ...MANAGED_KEYS];
const KNOWN_KEY_SET: ReadonlySet<string> = new Set(KNOWN_KEYS);
const MANAGED_KEY_SET: ReadonlySet<string> = new Set(MANAGED_KEYS);

export function isManagedKey(key: string): boolean {
  return MANAGED_KEY_SET.has(key);
}

/**
 * Sorts a short list of strings in place, by UTF-16 code units like the default sort. Array sort
 * allocates its ~1.6 KB of merge state even for four items, on every admission review; an
 * insertion sort allocates nothing and is linear for the sorted lists the API server sends (Go
 * marshals map keys in order).
 */
export function sortFew(items: string[]): void {
  if (items.length > 16) {
    items.sort();
    return;
  }
  for (let i = 1; i < items.length; i++) {
    const item = items[i]!;
    let j = i - 1;
    while (j >= 0 && items[j]! > item) {
      items[j + 1] = items[j]!;
      j--;
    }
    items[j + 1] = item;
  }
}

// --- parsing --------------------------------------------------------------------------------------------

/**
 * Reads a workload's annotations into settings, or returns every problem found (never just the
 * first). Overrides win over annotations, but an invalid annotation is still a problem even when
 * overridden: the webhook must deny it, or it would take effect once the override is removed.
 * Blank values mean "use the default". Managed keys are not checked here (see checkManagedValues).
 */
export function parseWatchSettings(
  annotations: Readonly<Record<string, string>> | undefined,
  opts: ParseOptions = {},
): { ok: true; settings: WatchSettings } | { ok: false; problems: AnnotationProblem[] } {
  const source = annotations ?? {};
  const problems: AnnotationProblem[] = [];
  const settings = {} as Record<keyof WatchSettings, unknown>;

  for (const field of USER_FIELDS) {
    const spec: UserKey<unknown> = USER_SCHEMA[field];
    const raw: unknown = source[spec.key];
    settings[field] = spec.default;
    if (raw === undefined) continue;
    if (typeof raw !== 'string') {
      // Only reachable from untyped JSON (an AdmissionReview); the API server would refuse it too.
      problems.push(problem(spec.key, showValue(raw), 'is not a string; quote the value in YAML'));
      continue;
    }
    const value = raw.trim();
    if (value === '') continue;
    const parsed = spec.parse(value, opts);
    if (parsed.ok) settings[field] = parsed.value;
    else problems.push(problem(spec.key, spec.shown ? spec.shown(raw) : raw, parsed.message, parsed.allowed));
  }

  for (const key of Object.keys(source).sort()) {
    if (!key.startsWith(PREFIX) || KNOWN_KEY_SET.has(key)) continue;
    problems.push(unknownKey(key, showValue(source[key])));
  }

  // The one place where environment overrides apply.
  if (opts.overrides?.mode !== undefined) settings.mode = opts.overrides.mode;
  if (opts.overrides?.strategy !== undefined) settings.strategy = opts.overrides.strategy;
  const defaults = opts.defaults;
  if (defaults) {
    settings.schedule ??= defaults.schedule;
    settings.timezone ??= defaults.timezone;
    settings.minAgeMs ??= defaults.minAgeMs;
  }

  if (problems.length > 0) return { ok: false, problems };
  // A copy: built key by key, the object went to slow (dictionary) properties, ~4x the memory,
  // and the watcher keeps one per workload.
  return { ok: true, settings: { ...settings } as unknown as WatchSettings };
}

/**
 * The workload's scope as the one parse reads it: the trimmed value when valid, else undefined
 * (blank, absent, or invalid: an invalid value is reported by the watcher without a scope, which
 * then refuses to act on the workload because its annotations are invalid).
 */
export function readScope(annotations: Readonly<Record<string, string>> | undefined): string | undefined {
  const raw: unknown = annotations?.[ANNOTATIONS.scope];
  if (typeof raw !== 'string') return undefined;
  const value = raw.trim();
  return value !== '' && scopeProblem(value) === undefined ? value : undefined;
}

function problem(key: string, value: string, reason: string, allowed?: readonly string[]): AnnotationProblem {
  const p: AnnotationProblem = { key, value, message: `${key}: ${showText(value)} ${reason}` };
  if (allowed !== undefined) p.allowed = allowed;
  return p;
}

function unknownKey(key: string, value: string): AnnotationProblem {
  const guess = closestKey(key);
  const hint = guess === undefined ? '.' : `; did you mean ${guess}?`;
  return {
    key,
    value,
    message: `${showText(key, 120, false)} (value ${showText(value)}) is not a known image-watcher annotation${hint} Known keys: ${USER_KEYS.join(', ')} (the other image-watcher/ keys are managed by image-watcher itself)`,
    allowed: USER_KEYS,
  };
}

/** A value as text, also when untyped JSON put something other than a string there. */
function showValue(raw: unknown): string {
  if (typeof raw === 'string') return raw;
  try {
    return JSON.stringify(raw) ?? typeof raw;
  } catch {
    return typeof raw; // a BigInt or a cycle: only reachable from callers that bypass the types
  }
}

/** Longest key name worth a suggestion: Kubernetes allows 63 characters after the prefix. */
const MAX_SUGGESTED_NAME = 63;

/** The known key nearest to a misspelt one (user keys first), when it is close enough to be a typo. */
function closestKey(key: string): string | undefined {
  if (key.length - PREFIX.length > MAX_SUGGESTED_NAME) return undefined;
  const name = key.slice(PREFIX.length).toLowerCase();
  const limit = Math.max(2, Math.floor(name.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const known of KNOWN_KEYS) {
    const knownName = known.slice(PREFIX.length);
    // The distance is at least the length difference: skip keys that cannot be within the limit.
    if (Math.abs(knownName.length - name.length) > limit) continue;
    const d = editDistance(name, knownName);
    if (d < bestDistance) [best, bestDistance] = [known, d];
  }
  return bestDistance <= limit ? best : undefined;
}

/** Levenshtein distance; callers bound both lengths (closestKey), so the quadratic table is small. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** How many problems one message spells out; each is bounded, so the whole message is too. */
const MAX_FORMATTED = 10;

/** All problems as one message (the first MAX_FORMATTED spelt out), e.g. for an admission denial. */
export function formatProblems(problems: readonly AnnotationProblem[]): string {
  if (problems.length === 0) return 'no problems';
  if (problems.length === 1) return problems[0]!.message;
  const shown = problems.slice(0, MAX_FORMATTED).map((p, i) => `(${i + 1}) ${p.message}`);
  const more = problems.length - shown.length;
  const tail = more > 0 ? `; and ${more} more` : '';
  return `${problems.length} invalid image-watcher annotations: ${shown.join('; ')}${tail}`;
}

// --- managed state --------------------------------------------------------------------------------------

/** The managed annotations present (blank values are treated as absent). */
export function readManagedState(annotations: Readonly<Record<string, string>> | undefined): ManagedState {
  const state: ManagedState = {};
  for (const field of MANAGED_FIELDS) {
    const raw: unknown = annotations?.[MANAGED_SCHEMA[field].key];
    const value = typeof raw === 'string' ? raw.trim() : '';
    if (value !== '') state[field] = value;
  }
  return state;
}

/** The managed annotations to write for a state; absent fields are omitted. */
export function managedAnnotations(state: ManagedState): Record<string, string> {
  const out: Record<string, string> = {};
  for (const field of MANAGED_FIELDS) {
    const value = state[field];
    if (value !== undefined) out[MANAGED_SCHEMA[field].key] = value;
  }
  return out;
}

const TOKEN = /^[A-Za-z0-9_-]{16,256}$/;
const VERSION_VALUE = /^[^\s,=]+$|^([a-z0-9-]+=[^\s,=]+)(,[a-z0-9-]+=[^\s,=]+)*$/;

/**
 * Light checks on managed values (timestamps RFC 3339, versions encoded as by encodeVersions,
 * token shape). Separate from parseWatchSettings: users never set these, so callers decide
 * whether a bad value is worth a warning. The token's value never appears in a problem.
 */
export function checkManagedValues(
  annotations: Readonly<Record<string, string>> | undefined,
): AnnotationProblem[] {
  const problems: AnnotationProblem[] = [];
  for (const field of MANAGED_FIELDS) {
    const { key, kind } = MANAGED_SCHEMA[field];
    const raw: unknown = annotations?.[key];
    if (raw === undefined) continue;
    const value = showValue(raw);
    if (kind === 'timestamp' && !isRfc3339Timestamp(value)) {
      problems.push(problem(key, value, 'is not an RFC 3339 timestamp (e.g. 2024-05-01T12:00:00Z)'));
    } else if (kind === 'versions' && !VERSION_VALUE.test(value)) {
      problems.push(problem(key, value, 'is not a tag or a list of container=tag pairs'));
    } else if (kind === 'rollout') {
      const parsed = parsePendingRollout(value);
      if (!parsed.ok) problems.push(problem(key, value, parsed.reason));
    } else if (kind === 'token' && !TOKEN.test(value)) {
      problems.push({
        key,
        value: '[redacted]',
        message: `${key} is not a valid token (16 to 256 letters, digits, "-" or "_")`,
      });
    }
  }
  return problems;
}

/** RFC 3339 UTC timestamp for managed annotations, without milliseconds. */
export function formatTimestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// --- versions per container -----------------------------------------------------------------------------

/**
 * The one codec of a container's managed version (`current-version`, `previous-version`, ...), for
 * the webhook and the watcher alike: the tag; `tag@sha256:...` when the image is pinned to a
 * digest too (`nginx:1.25.3@sha256:...` -> `1.25.3@sha256:...`); the digest of a digest-only image.
 */
export function managedVersion(ref: {
  readonly tag?: string | undefined;
  readonly digest?: string | undefined;
}): string | undefined {
  if (ref.tag !== undefined && ref.digest !== undefined) return `${ref.tag}@${ref.digest}`;
  return ref.tag ?? ref.digest;
}

/**
 * Key under which decodeVersions returns a plain tag (written when one container is watched);
 * use versionOf() rather than reading it directly.
 */
export const SINGLE_CONTAINER = '';

/**
 * Encodes the versions of the watched containers: one container -> the plain tag; several ->
 * `name=tag,name2=tag2` sorted by name (stable, so the webhook's patch is idempotent).
 */
export function encodeVersions(
  versions: ReadonlyMap<string, string> | Readonly<Record<string, string>>,
): string {
  // `instanceof Map` alone narrows to Map<any, any>.
  const map = versions instanceof Map ? (versions as ReadonlyMap<string, string>) : undefined;
  const record = versions as Readonly<Record<string, string>>;
  const names = map ? [...map.keys()] : Object.keys(record);
  const valueOf = (name: string): string => (map ? map.get(name)! : record[name]!);
  if (names.length === 0) return '';
  if (names.length === 1) return valueOf(names[0]!);
  // By UTF-16 code units, what `<` on strings compares; no [name, value] pairs.
  sortFew(names);
  let out = `${names[0]!}=${valueOf(names[0]!)}`;
  for (let i = 1; i < names.length; i++) out += `,${names[i]!}=${valueOf(names[i]!)}`;
  return out;
}

/**
 * Decodes encodeVersions output, tolerantly: whitespace is trimmed and malformed entries are
 * skipped (users or old versions may have written anything). A plain tag is keyed by the only
 * name in `containerNames` when exactly one is given, else by SINGLE_CONTAINER.
 */
export function decodeVersions(
  value: string | undefined,
  containerNames?: readonly string[],
): Map<string, string> {
  const out = new Map<string, string>();
  const text = value?.trim() ?? '';
  if (text === '') return out;
  if (!text.includes('=')) {
    const tag = text.split(',')[0]!.trim();
    if (tag === '') return out;
    const only = containerNames?.length === 1 ? containerNames[0]! : SINGLE_CONTAINER;
    out.set(only, tag);
    return out;
  }
  for (const entry of text.split(',')) {
    const eq = entry.indexOf('=');
    if (eq < 0) continue;
    const name = entry.slice(0, eq).trim();
    const tag = entry.slice(eq + 1).trim();
    if (name !== '' && tag !== '' && !tag.includes('=')) out.set(name, tag);
  }
  return out;
}

/** The version recorded for a container: its own entry, or the plain tag written for a single container. */
export function versionOf(versions: ReadonlyMap<string, string>, container: string): string | undefined {
  return versions.get(container) ?? versions.get(SINGLE_CONTAINER);
}
