import { ImageWatcherError } from './errors.ts';

/** The environment as a plain record (`process.env` fits). */
export type Env = Readonly<Record<string, string | undefined>>;

export interface ConfigProblem {
  variable: string;
  message: string;
}

/**
 * An invalid setting, found at start. The message names the variable, the bad value (never for
 * secrets) and what is allowed. `problems` holds one entry per variable when several were wrong.
 */
export class ConfigError extends ImageWatcherError {
  readonly variable: string;
  readonly problems: readonly ConfigProblem[];
  constructor(variable: string, message: string);
  constructor(problems: readonly ConfigProblem[]);
  constructor(variableOrProblems: string | readonly ConfigProblem[], message?: string) {
    const problems =
      typeof variableOrProblems === 'string'
        ? [{ variable: variableOrProblems, message: message ?? `${variableOrProblems} is invalid` }]
        : variableOrProblems;
    const text =
      problems.length === 1
        ? (problems[0]?.message ?? 'invalid configuration')
        : `${problems.length} invalid settings: ${problems.map((p) => p.message).join('; ')}`;
    super('E_CONFIG', text);
    this.variable = problems.map((p) => p.variable).join(', ');
    this.problems = problems;
  }
}

/** `NAME="value"` for messages; `value` is cut so one bad variable cannot flood the log. */
function show(variable: string, value: string): string {
  const shown = value.length > 100 ? `${value.slice(0, 97)}...` : value;
  return `${variable}=${JSON.stringify(shown)}`;
}

// --- durations ------------------------------------------------------------------------------------------

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

export interface DurationLimits {
  min?: number; // ms
  max?: number; // ms
}

/**
 * Parses `45s`, `30m`, `6h`, `1h30m`, `1.5h`, `500ms`, `1d` into milliseconds.
 * A bare number is refused: `3600` could mean seconds or milliseconds.
 */
export function parseDuration(value: string, variable = 'duration', limits: DurationLimits = {}): number {
  const text = value.trim().toLowerCase();
  if (!DURATION.test(text)) {
    throw new ConfigError(variable, `${show(variable, value)} is not a duration; use e.g. 30s, 5m, 1h30m`);
  }
  let ms = 0;
  for (const m of text.matchAll(DURATION_PART)) ms += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0);
  ms = Math.round(ms);
  if (limits.min !== undefined && ms < limits.min) {
    throw new ConfigError(
      variable,
      `${show(variable, value)} is too short; the minimum is ${formatDuration(limits.min)}`,
    );
  }
  if (limits.max !== undefined && ms > limits.max) {
    throw new ConfigError(
      variable,
      `${show(variable, value)} is too long; the maximum is ${formatDuration(limits.max)}`,
    );
  }
  return ms;
}

/** The inverse of parseDuration for messages and logs: 5400000 -> `1h30m`. */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s';
  let rest = Math.round(ms);
  let out = '';
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
    ['ms', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}

// --- scalars --------------------------------------------------------------------------------------------

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

/** `TRUE`/`false`/`1`/`0`/`yes`/`no`/`on`/`off`, any case. */
export function parseBool(value: string, variable = 'value'): boolean {
  const text = value.trim().toLowerCase();
  if (TRUE.has(text)) return true;
  if (FALSE.has(text)) return false;
  throw new ConfigError(variable, `${show(variable, value)} is not a boolean; use TRUE or FALSE`);
}

export interface IntegerLimits {
  min?: number;
  max?: number;
}

/** A whole number written in decimal, within the limits. */
export function parseInteger(value: string, variable = 'value', limits: IntegerLimits = {}): number {
  const text = value.trim();
  const range =
    limits.min !== undefined && limits.max !== undefined
      ? `a number from ${limits.min} to ${limits.max}`
      : limits.min !== undefined
        ? `a number of at least ${limits.min}`
        : limits.max !== undefined
          ? `a number of at most ${limits.max}`
          : 'digits only';
  if (!/^-?\d{1,15}$/.test(text)) {
    throw new ConfigError(variable, `${show(variable, value)} is not a whole number; use ${range}`);
  }
  const n = Number(text);
  if ((limits.min !== undefined && n < limits.min) || (limits.max !== undefined && n > limits.max)) {
    throw new ConfigError(variable, `${show(variable, value)} is out of range; use ${range}`);
  }
  return n;
}

/** A TCP port. 0 is accepted and means "any free port" (used by tests). */
export function parsePort(value: string, variable = 'port'): number {
  const text = value.trim();
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) {
    throw new ConfigError(
      variable,
      `${show(variable, value)} is not a port; use a number from 1 to 65535, or 0 for any free port`,
    );
  }
  return Number(text);
}

/** One of `allowed`, matched case-insensitively; returns the spelling from `allowed`. */
export function parseEnum<T extends string>(value: string, allowed: readonly T[], variable = 'value'): T {
  const text = value.trim().toLowerCase();
  const hit = allowed.find((a) => a.toLowerCase() === text);
  if (hit === undefined) {
    throw new ConfigError(
      variable,
      `${show(variable, value)} is not allowed; use one of ${allowed.join(', ')}`,
    );
  }
  return hit;
}

/** A comma list: items trimmed, empty items and duplicates dropped, order kept. */
export function parseList(value: string): string[] {
  return [
    ...new Set(
      value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    ),
  ];
}

export interface UrlOptions {
  protocols?: readonly string[]; // default http: and https:
  secret?: boolean; // keep the value out of the message (URLs may carry credentials)
}

/** An absolute URL with one of the allowed protocols; returns its normalised form. */
export function parseUrl(value: string, variable = 'url', opts: UrlOptions = {}): string {
  const protocols = opts.protocols ?? ['http:', 'https:'];
  const shown = opts.secret ? variable : show(variable, value);
  const allowed = protocols.map((p) => `${p}//`).join(' or ');
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new ConfigError(variable, `${shown} is not an absolute URL; use e.g. https://example.com`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(variable, `${shown} must start with ${allowed}`);
  }
  return url.href;
}

// --- reading the environment ----------------------------------------------------------------------------

/** The trimmed value of `name`, or undefined when unset or blank (blank means "use the default"). */
export function envValue(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/** `parse(value, name)` when `name` is set, otherwise `fallback`. */
export function envOr<T>(
  env: Env,
  name: string,
  parse: (value: string, variable: string) => T,
  fallback: T,
): T {
  const value = envValue(env, name);
  return value === undefined ? fallback : parse(value, name);
}

/** `parse(value, name)` when `name` is set, otherwise undefined. */
export function envOptional<T>(
  env: Env,
  name: string,
  parse: (value: string, variable: string) => T,
): T | undefined {
  const value = envValue(env, name);
  return value === undefined ? undefined : parse(value, name);
}

/**
 * Runs every reader and collects ConfigErrors, so a user fixes all variables in one go.
 * Throws one ConfigError listing every problem; other errors propagate unchanged.
 */
export class ProblemCollector {
  readonly problems: ConfigProblem[] = [];

  /** The reader's result, or `fallback` when it threw a ConfigError (recorded). */
  read<T>(reader: () => T, fallback: T): T {
    try {
      return reader();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.problems.push(...err.problems);
      return fallback;
    }
  }

  add(variable: string, message: string): void {
    this.problems.push({ variable, message });
  }

  throwIfAny(): void {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
  }
}
