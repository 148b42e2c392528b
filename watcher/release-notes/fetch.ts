import { guardedGet, ReleaseNotesError } from './ssrf.ts';
import type { GuardOptions, GuardedResponse } from './ssrf.ts';
import { locate } from './url.ts';

export interface ReleaseNotes {
  /** For people: the release page. */
  url: string;
  title?: string;
  /** Markdown or plain text, trimmed to `maxBodyChars`. */
  body: string;
}

export interface FetchReleaseNotesOptions extends GuardOptions {
  /** Sent as a Bearer token, only to `githubApiHosts` and never across a redirect to another origin. */
  githubToken?: string | undefined;
  /** Hosts (with port when not default) that speak the GitHub releases API. */
  githubApiHosts?: readonly string[];
  maxBodyChars?: number;
  cache?: ReleaseNotesCache;
}

export const DEFAULT_MAX_BODY_CHARS = 4000;
const GITHUB_API_HOSTS = ['api.github.com'];

/**
 * Fetches the release notes behind a URL (already expanded): a GitHub release through the API
 * (JSON `name`, `body`, `html_url`), or any page served as Markdown, plain text or HTML (reduced to
 * text). Throws ReleaseNotesError; the token never appears in an error.
 */
export async function fetchReleaseNotes(
  url: string,
  opts: FetchReleaseNotesOptions = {},
): Promise<ReleaseNotes> {
  const location = locate(url);
  const cached = opts.cache?.get(location.fetchUrl);
  if (cached !== undefined) return cached;
  const pending = load(location.fetchUrl, location.htmlUrl, opts);
  opts.cache?.set(location.fetchUrl, pending);
  return pending;
}

async function load(
  fetchUrl: string,
  htmlUrl: string,
  opts: FetchReleaseNotesOptions,
): Promise<ReleaseNotes> {
  const host = new URL(fetchUrl).host;
  const github = (opts.githubApiHosts ?? GITHUB_API_HOSTS).includes(host);
  const headers: Record<string, string> = github
    ? { accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28' }
    : { accept: 'text/markdown, text/plain;q=0.9, text/html;q=0.8, application/json;q=0.5' };
  const originHeaders: Record<string, string> =
    github && opts.githubToken ? { authorization: `Bearer ${opts.githubToken}` } : {};

  const res = await guardedGet({ url: fetchUrl, headers, originHeaders }, opts);
  checkStatus(res, github, opts.githubToken !== undefined);
  const max = opts.maxBodyChars ?? DEFAULT_MAX_BODY_CHARS;
  const type = (res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();

  if (github || type === 'application/json' || type.endsWith('+json')) {
    if (res.truncated) {
      throw new ReleaseNotesError(
        'E_NOTES_RESPONSE',
        `the release from ${host} is larger than the size limit`,
      );
    }
    // The page link may only point where the notes came from or at the repository's forge page.
    const linkHosts = [host, new URL(htmlUrl).host];
    return fromJson(res.body.toString('utf8'), htmlUrl, host, max, linkHosts);
  }
  const text = res.body.toString('utf8');
  if (type === 'text/html' || type === 'application/xhtml+xml') {
    return { url: htmlUrl, ...titled(htmlToText(text), max, htmlTitle(text)) };
  }
  if (type.startsWith('text/') || type === '') return { url: htmlUrl, ...titled(text, max) };
  throw new ReleaseNotesError('E_NOTES_RESPONSE', `${host} sent ${type}, not text release notes`);
}

function checkStatus(res: GuardedResponse, github: boolean, hasToken: boolean): void {
  if (res.status >= 200 && res.status < 300) return;
  const where = new URL(res.url).host;
  if (res.status === 404) {
    throw new ReleaseNotesError('E_NOTES_NOT_FOUND', `no release notes at ${where} for this version (404)`, {
      status: 404,
    });
  }
  let hint = '';
  if (github && (res.status === 401 || res.status === 403 || res.status === 429)) {
    hint = hasToken
      ? '; check that GITHUB_TOKEN is valid and may read the repository, or wait for the rate limit'
      : '; set GITHUB_TOKEN (anonymous requests are limited to 60 per hour)';
  }
  throw new ReleaseNotesError('E_NOTES_HTTP', `${where} answered ${res.status}${hint}`, {
    status: res.status,
  });
}

interface GithubRelease {
  name?: unknown;
  tag_name?: unknown;
  body?: unknown;
  html_url?: unknown;
}

/** `html_url` when it is an http(s) URL on one of `hosts`; anything else could send readers to a phishing page. */
function pageLink(value: string | undefined, hosts: readonly string[]): string | undefined {
  if (value === undefined || !/^https?:\/\//i.test(value)) return undefined;
  try {
    return hosts.includes(new URL(value).host) ? value : undefined;
  } catch {
    return undefined;
  }
}

function fromJson(
  text: string,
  htmlUrl: string,
  host: string,
  max: number,
  linkHosts: readonly string[],
): ReleaseNotes {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new ReleaseNotesError('E_NOTES_RESPONSE', `${host} did not send valid JSON`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new ReleaseNotesError('E_NOTES_RESPONSE', `${host} did not send a release object`);
  }
  const r = data as GithubRelease;
  const title = str(r.name) ?? str(r.tag_name);
  const notes: ReleaseNotes = {
    url: pageLink(str(r.html_url), linkHosts) ?? htmlUrl,
    body: trimBody(str(r.body) ?? '', max),
  };
  if (title !== undefined) notes.title = title;
  return notes;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

function titled(text: string, max: number, title?: string): { title?: string; body: string } {
  const body = trimBody(text, max);
  return title === undefined ? { body } : { title, body };
}

/** Trims to `max` characters at a line or word boundary when one is near, marking the cut. */
export function trimBody(text: string, max: number): string {
  const clean = text.replace(/\r\n?/g, '\n').trim();
  if (clean.length <= max) return clean;
  const cut = clean.slice(0, max - 1);
  const boundary = Math.max(cut.lastIndexOf('\n'), cut.lastIndexOf(' '));
  return `${(boundary > max * 0.8 ? cut.slice(0, boundary) : cut).trimEnd()}…`;
}

const ENTITIES: Readonly<Record<string, string>> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
};

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[e.toLowerCase()] ?? whole;
  });
}

function htmlTitle(html: string): string | undefined {
  const m = /<title[^>]*>([^<]*)<\/title>/i.exec(html);
  return m?.[1] === undefined ? undefined : str(decodeEntities(m[1]).replace(/\s+/g, ' '));
}

/** Readable text of an HTML page: scripts, styles and tags removed, blocks on their own lines. */
export function htmlToText(html: string): string {
  return decodeEntities(
    html
      .replace(/<!--[\s\S]*?-->/g, '')
      .replace(/<(script|style|noscript|template|head|svg)\b[\s\S]*?<\/\1\s*>/gi, '')
      .replace(/<li\b[^>]*>/gi, '\n- ')
      .replace(/<(br|\/p|\/div|\/h[1-6]|\/tr|\/pre|\/blockquote|\/section|\/article)\b[^>]*>/gi, '\n')
      .replace(/<[^>]*>/g, ''),
  )
    .replace(/[ \t\f\v]+/g, ' ')
    .replace(/ *\n */g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/**
 * Release notes per URL for a while: several workloads often run the same image, and a release's
 * notes rarely change. In-flight fetches are shared; failures are not kept.
 */
export class ReleaseNotesCache {
  private readonly entries = new Map<string, { at: number; value: Promise<ReleaseNotes> }>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(opts: { ttlMs?: number; maxEntries?: number; now?: () => number } = {}) {
    this.ttlMs = opts.ttlMs ?? 6 * 3_600_000;
    this.maxEntries = opts.maxEntries ?? 500;
    this.now = opts.now ?? Date.now;
  }

  get(url: string): Promise<ReleaseNotes> | undefined {
    const e = this.entries.get(url);
    if (e === undefined) return undefined;
    if (this.now() - e.at >= this.ttlMs) {
      this.entries.delete(url);
      return undefined;
    }
    return e.value;
  }

  set(url: string, value: Promise<ReleaseNotes>): void {
    this.entries.delete(url);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    const entry = { at: this.now(), value };
    this.entries.set(url, entry);
    value.catch(() => {
      if (this.entries.get(url) === entry) this.entries.delete(url);
    });
  }

  get size(): number {
    return this.entries.size;
  }
}
