// Notification settings from the environment and/or a mounted YAML/JSON file (NOTIFY_CONFIG_FILE),
// validated at start with messages naming the variable. URLs are secrets: never shown in full.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import {
  ConfigError,
  envOptional,
  envOr,
  envValue,
  parseDuration,
  parseInteger,
  parseList,
  parseUrl,
  ProblemCollector,
  type Env,
} from '../../shared/env.ts';
import { DEFAULT_LINK_TTL_MS } from '../approval/links.ts';
import { createDiscordNotifier } from './discord.ts';
import { NotificationDispatcher, type DispatcherOptions } from './dispatcher.ts';
import { createEmailNotifier } from './email.ts';
import type { FetchLike } from './http.ts';
import { redactUrl } from './http.ts';
import { createSlackNotifier } from './slack.ts';
import { createTeamsNotifier } from './teams.ts';
import { NOTICE_EVENTS, type NoticeEvent, type Notifier } from './types.ts';
import { createWebhookNotifier } from './webhook.ts';

export type ChannelType = 'slack' | 'teams' | 'discord' | 'webhook' | 'email';
export const CHANNEL_TYPES: readonly ChannelType[] = ['slack', 'teams', 'discord', 'webhook', 'email'];

interface ChannelCommon {
  name: string;
  timeoutMs?: number;
  retries?: number;
  events?: NoticeEvent[];
}
export type ChannelConfig =
  | (ChannelCommon & { type: 'slack' | 'teams' | 'discord'; url: string })
  | (ChannelCommon & { type: 'webhook'; url: string; secret: string })
  | (ChannelCommon & { type: 'email'; url: string; from: string; to: string[] });

export interface NotifyConfig {
  channels: ChannelConfig[];
  /** More notices than this in one dispatch become one digest per channel. */
  digestThreshold: number;
  timeoutMs: number;
  retries: number;
  /** APPROVAL_LINK_TTL: how long approval links in notifications stay valid. */
  approvalLinkTtlMs: number;
}

export const NOTIFY_DEFAULTS = {
  digestThreshold: 5,
  timeoutMs: 10_000,
  retries: 3,
  approvalLinkTtlMs: DEFAULT_LINK_TTL_MS,
} as const;

const LINK_TTL_LIMITS = { min: 300_000, max: 90 * 86_400_000 };

const TIMEOUT_LIMITS = { min: 100, max: 300_000 };
const RETRY_LIMITS = { min: 0, max: 10 };
const THRESHOLD_LIMITS = { min: 1, max: 10_000 };
const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const EMAIL = /^[^\s@<>,;]+@[^\s@<>,;]+$/;

function parseEmails(value: string, variable: string): string[] {
  const list = parseList(value);
  if (list.length === 0) throw new ConfigError(variable, `${variable} is empty; give at least one address`);
  const bad = list.filter((a) => !EMAIL.test(a));
  if (bad.length > 0) throw new ConfigError(variable, `${variable} has invalid addresses: ${bad.join(', ')}`);
  return list;
}

function parseEmail(value: string, variable: string): string {
  // Allow "Name <addr@host>" as nodemailer does, but no header-breaking characters.
  const addr = /<([^<>]+)>\s*$/.exec(value)?.[1] ?? value.trim();
  if (!EMAIL.test(addr) || /[\r\n]/.test(value)) {
    throw new ConfigError(variable, `${variable}=${JSON.stringify(value)} is not an email address`);
  }
  return value.trim();
}

const secretUrl = (value: string, variable: string): string => parseUrl(value, variable, { secret: true });
const smtpUrl = (value: string, variable: string): string =>
  parseUrl(value, variable, { secret: true, protocols: ['smtp:', 'smtps:'] });

/** Channels given by the single-channel environment variables. */
function channelsFromEnv(env: Env, problems: ProblemCollector): ChannelConfig[] {
  const out: ChannelConfig[] = [];
  for (const [type, variable] of [
    ['slack', 'SLACK_WEBHOOK_URL'],
    ['teams', 'TEAMS_WEBHOOK_URL'],
    ['discord', 'DISCORD_WEBHOOK_URL'],
  ] as const) {
    const url = problems.read(() => envOptional(env, variable, secretUrl), undefined);
    if (url) out.push({ type, name: type, url });
  }

  const hookUrl = problems.read(() => envOptional(env, 'NOTIFY_WEBHOOK_URL', secretUrl), undefined);
  const hookSecret = envValue(env, 'NOTIFY_WEBHOOK_SECRET');
  if (hookUrl && !hookSecret) {
    problems.add(
      'NOTIFY_WEBHOOK_SECRET',
      'NOTIFY_WEBHOOK_SECRET is required with NOTIFY_WEBHOOK_URL (signs the body)',
    );
  } else if (!hookUrl && hookSecret && envValue(env, 'NOTIFY_WEBHOOK_URL') === undefined) {
    problems.add('NOTIFY_WEBHOOK_URL', 'NOTIFY_WEBHOOK_SECRET is set but NOTIFY_WEBHOOK_URL is not');
  } else if (hookUrl && hookSecret) {
    out.push({ type: 'webhook', name: 'webhook', url: hookUrl, secret: hookSecret });
  }

  const smtp = problems.read(() => envOptional(env, 'SMTP_URL', smtpUrl), undefined);
  const from = problems.read(() => envOptional(env, 'SMTP_FROM', parseEmail), undefined);
  const to = problems.read(() => envOptional(env, 'SMTP_TO', parseEmails), undefined);
  if (smtp) {
    // Only when unset: an invalid value has been reported already.
    if (envValue(env, 'SMTP_FROM') === undefined) {
      problems.add('SMTP_FROM', 'SMTP_FROM is required with SMTP_URL (the sender address)');
    }
    if (envValue(env, 'SMTP_TO') === undefined) {
      problems.add('SMTP_TO', 'SMTP_TO is required with SMTP_URL (comma list of recipients)');
    }
    if (from && to) out.push({ type: 'email', name: 'email', url: smtp, from, to });
  } else if ((from || to) && envValue(env, 'SMTP_URL') === undefined) {
    problems.add('SMTP_URL', 'SMTP_FROM/SMTP_TO are set but SMTP_URL is not (smtp://user:pass@host:port)');
  }
  return out;
}

type Raw = Record<string, unknown>;

function isRecord(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** File values may be numbers or strings; the env parsers take strings. */
function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

function fileChannel(raw: unknown, where: string, problems: ProblemCollector): ChannelConfig | undefined {
  if (!isRecord(raw)) {
    problems.add(where, `${where} must be a mapping with at least "type" and "url"`);
    return undefined;
  }
  const type = text(raw.type)?.toLowerCase();
  if (!type || !CHANNEL_TYPES.includes(type as ChannelType)) {
    problems.add(`${where}.type`, `${where}.type must be one of ${CHANNEL_TYPES.join(', ')}`);
    return undefined;
  }
  const name = text(raw.name);
  if (name !== undefined && !NAME.test(name)) {
    problems.add(
      `${where}.name`,
      `${where}.name=${JSON.stringify(name)} must be lower-case letters, digits, - or _`,
    );
  }
  const common: Omit<ChannelCommon, 'name'> & { name: string | undefined } = { name };
  const timeout = text(raw.timeout);
  if (timeout !== undefined) {
    common.timeoutMs = problems.read(
      () => parseDuration(timeout, `${where}.timeout`, TIMEOUT_LIMITS),
      undefined,
    );
  }
  const retries = text(raw.retries);
  if (retries !== undefined) {
    common.retries = problems.read(() => parseInteger(retries, `${where}.retries`, RETRY_LIMITS), undefined);
  }
  if (raw.events !== undefined) {
    const list = Array.isArray(raw.events) ? raw.events.map(text) : parseList(text(raw.events) ?? '');
    const bad = list.filter((e) => !NOTICE_EVENTS.includes(e as NoticeEvent));
    if (bad.length > 0 || list.length === 0) {
      problems.add(`${where}.events`, `${where}.events must list some of ${NOTICE_EVENTS.join(', ')}`);
    } else {
      common.events = list as NoticeEvent[];
    }
  }
  const urlText = text(raw.url);
  if (!urlText) {
    problems.add(`${where}.url`, `${where}.url is required`);
    return undefined;
  }
  const url = problems.read(
    () => (type === 'email' ? smtpUrl : secretUrl)(urlText, `${where}.url`),
    undefined,
  );
  if (!url) return undefined;
  const named = { ...common, name: name ?? '' };
  switch (type as ChannelType) {
    case 'webhook': {
      const secret = text(raw.secret);
      if (!secret) {
        problems.add(`${where}.secret`, `${where}.secret is required for a webhook channel (signs the body)`);
        return undefined;
      }
      return { ...named, type: 'webhook', url, secret };
    }
    case 'email': {
      const fromText = text(raw.from);
      const toRaw = Array.isArray(raw.to) ? raw.to.map(text).join(',') : text(raw.to);
      const from = fromText
        ? problems.read(() => parseEmail(fromText, `${where}.from`), undefined)
        : undefined;
      const to = toRaw ? problems.read(() => parseEmails(toRaw, `${where}.to`), undefined) : undefined;
      if (!fromText) problems.add(`${where}.from`, `${where}.from is required for an email channel`);
      if (!toRaw) problems.add(`${where}.to`, `${where}.to is required for an email channel`);
      return from && to ? { ...named, type: 'email', url, from, to } : undefined;
    }
    default:
      return { ...named, type: type as 'slack' | 'teams' | 'discord', url };
  }
}

function readFileConfig(
  path: string,
  readFile: (path: string) => string,
  problems: ProblemCollector,
): { channels: ChannelConfig[]; settings: Raw } {
  const variable = 'NOTIFY_CONFIG_FILE';
  let doc: unknown;
  try {
    doc = parseYaml(readFile(path));
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : 'unreadable';
    problems.add(variable, `${variable}=${JSON.stringify(path)} cannot be read as YAML or JSON: ${reason}`);
    return { channels: [], settings: {} };
  }
  if (doc === null || doc === undefined) return { channels: [], settings: {} };
  if (!isRecord(doc)) {
    problems.add(variable, `${variable}=${JSON.stringify(path)} must hold a mapping with a "channels" list`);
    return { channels: [], settings: {} };
  }
  const list = doc.channels ?? [];
  if (!Array.isArray(list)) {
    problems.add(variable, `${variable}: "channels" must be a list`);
    return { channels: [], settings: doc };
  }
  const channels = list
    .map((raw, i) => fileChannel(raw, `${variable} channels[${i}]`, problems))
    .filter((c): c is ChannelConfig => c !== undefined);
  return { channels, settings: doc };
}

/** Channels without a name get their type, then type-2, type-3…; names must be unique (metric label). */
function nameChannels(channels: ChannelConfig[], problems: ProblemCollector): ChannelConfig[] {
  const used = new Set(channels.map((c) => c.name).filter(Boolean));
  const seen = new Set<string>();
  return channels.map((c) => {
    let name = c.name;
    if (!name) {
      name = c.type;
      for (let i = 2; used.has(name); i++) name = `${c.type}-${i}`;
      used.add(name);
    }
    if (seen.has(name))
      problems.add('NOTIFY_CONFIG_FILE', `channel name "${name}" is used twice; names must be unique`);
    seen.add(name);
    return { ...c, name };
  });
}

export interface LoadOptions {
  readFile?: (path: string) => string;
}

export function loadNotifyConfig(env: Env, opts: LoadOptions = {}): NotifyConfig {
  const problems = new ProblemCollector();
  const path = envValue(env, 'NOTIFY_CONFIG_FILE');
  const file = path
    ? readFileConfig(path, opts.readFile ?? ((p) => readFileSync(p, 'utf8')), problems)
    : { channels: [], settings: {} };
  const fromFile = (key: string, variable: string): string | undefined => {
    const v = envValue(env, variable) ?? text(file.settings[key]);
    return v;
  };
  const threshold = fromFile('digestThreshold', 'NOTIFY_DIGEST_THRESHOLD');
  const timeout = fromFile('timeout', 'NOTIFY_TIMEOUT');
  const retries = fromFile('retries', 'NOTIFY_RETRIES');
  const config: NotifyConfig = {
    // Environment variables win over the file, like every other setting.
    digestThreshold: problems.read(
      () =>
        threshold === undefined
          ? NOTIFY_DEFAULTS.digestThreshold
          : parseInteger(threshold, 'NOTIFY_DIGEST_THRESHOLD', THRESHOLD_LIMITS),
      NOTIFY_DEFAULTS.digestThreshold,
    ),
    timeoutMs: problems.read(
      () =>
        timeout === undefined
          ? NOTIFY_DEFAULTS.timeoutMs
          : parseDuration(timeout, 'NOTIFY_TIMEOUT', TIMEOUT_LIMITS),
      NOTIFY_DEFAULTS.timeoutMs,
    ),
    retries: problems.read(
      () =>
        retries === undefined
          ? NOTIFY_DEFAULTS.retries
          : parseInteger(retries, 'NOTIFY_RETRIES', RETRY_LIMITS),
      NOTIFY_DEFAULTS.retries,
    ),
    approvalLinkTtlMs: problems.read(
      () =>
        envOr(
          env,
          'APPROVAL_LINK_TTL',
          (v, n) => parseDuration(v, n, LINK_TTL_LIMITS),
          NOTIFY_DEFAULTS.approvalLinkTtlMs,
        ),
      NOTIFY_DEFAULTS.approvalLinkTtlMs,
    ),
    channels: [],
  };
  const envChannels = channelsFromEnv(env, problems);
  config.channels = nameChannels([...envChannels, ...file.channels], problems);
  problems.throwIfAny();
  return config;
}

/** Safe to log: channel names, types and hosts, never paths, tokens or passwords. */
export function describeChannels(config: NotifyConfig): string[] {
  return config.channels.map((c) => {
    const host = c.type === 'email' ? `smtp ${safeHost(c.url)}` : redactUrl(c.url);
    return `${c.name} (${c.type}, ${host})`;
  });
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '<invalid URL>';
  }
}

export interface NotifierDeps {
  fetch?: FetchLike;
  now?: () => Date;
}

export function createNotifiers(config: NotifyConfig, deps: NotifierDeps = {}): Notifier[] {
  return config.channels.map((c) => {
    const common = {
      channel: c.name,
      url: c.url,
      ...(c.timeoutMs !== undefined ? { timeoutMs: c.timeoutMs } : {}),
      ...(c.retries !== undefined ? { retries: c.retries } : {}),
      ...(c.events !== undefined ? { events: c.events } : {}),
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
    };
    switch (c.type) {
      case 'slack':
        return createSlackNotifier(common);
      case 'teams':
        return createTeamsNotifier(common);
      case 'discord':
        return createDiscordNotifier(common);
      case 'webhook':
        return createWebhookNotifier({ ...common, secret: c.secret, ...(deps.now ? { now: deps.now } : {}) });
      case 'email':
        return createEmailNotifier({
          ...common,
          from: c.from,
          to: c.to,
          timeoutMs: c.timeoutMs ?? config.timeoutMs,
        });
    }
  });
}

/** The dispatcher for this configuration: its channels plus the digest, timeout and retry settings. */
export function createNotificationDispatcher(
  config: NotifyConfig,
  deps: NotifierDeps & Pick<DispatcherOptions, 'observer' | 'logger' | 'sleep' | 'random'> = {},
): NotificationDispatcher {
  const { fetch, now, ...rest } = deps;
  return new NotificationDispatcher({
    ...rest,
    notifiers: createNotifiers(config, { ...(fetch ? { fetch } : {}), ...(now ? { now } : {}) }),
    digestThreshold: config.digestThreshold,
    timeoutMs: config.timeoutMs,
    retries: config.retries,
  });
}
