// Pull and merge requests for `git-push: pull-request`: one per workload's branch, opened once and
// updated (title, description) when a newer version lands on the same branch, closed with a note
// when a fresh branch replaces a conflicting one. GitHub's REST API
// (pulls) and GitLab's (merge_requests), called with the Git Secret's token.
import { ImageWatcherError } from '../../shared/errors.ts';
import { Agent, fetch } from 'undici';
import { bareHostname, checkHost, pinnedLookup } from '../outbound/address-guard.ts';
import type { Resolve } from '../outbound/address-guard.ts';
import type { GitCredentials } from './git.ts';
import { webBase } from './urls.ts';

export interface PullRequestInput {
  repo: string;
  head: string;
  base: string;
  title: string;
  body: string;
  credentials?: GitCredentials;
}

/** Older request branches of a workload, replaced by a fresh one (`_2`...) after a conflict. */
export interface SupersedeInput {
  repo: string;
  /** The older branches; only the watcher's own (`image-watcher/...`) are ever looked at. */
  heads: readonly string[];
  /**
   * The workload's other request branches (a later `_n` when a deleted branch was made again):
   * their requests are closed too, so a workload has one open request.
   */
  others?: readonly string[] | undefined;
  base: string;
  /**
   * Old-style branches (writeback.ts legacyBranch) that may be another workload's: only their
   * requests whose title starts with `titlePrefix` and whose description has a line starting with
   * `bodyLine` (the watcher's commit message naming this workload and its kind).
   */
  legacy?: { heads: readonly string[]; titlePrefix: string; bodyLine: string } | undefined;
  /** The branch and web link of the request that replaces them. */
  by: { head: string; url: string };
  credentials?: GitCredentials;
}

/** One open request of a superseded branch: closed (its note possibly not added), or left open. */
export interface SupersededOutcome {
  url: string;
  result: 'closed' | 'failed';
  /** Why the close failed, or why the note could not be added to the closed request. */
  reason?: string;
}

export interface PullRequestClient {
  openOrUpdate(input: PullRequestInput): Promise<{ url: string; created: boolean }>;
  /**
   * Closes the open requests of `heads` into `base`, each with one comment naming the new one.
   * Rejects only when the requests cannot be listed.
   */
  closeSuperseded(input: SupersedeInput): Promise<SupersededOutcome[]>;
}

/** The only branches whose requests the watcher closes: the ones it pushes (writeback.ts pushBranch). */
export const OWN_BRANCH_PREFIX = 'image-watcher/';

interface CloseCalls {
  url: string;
  title: string;
  body: string;
  close(): Promise<unknown>;
  note(): Promise<unknown>;
}

const why = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * Closed first, then the comment: a failed comment leaves a closed request without it, a failed
 * close is tried again with the next update, and neither ever repeats the comment.
 */
async function closeAndNote(c: CloseCalls): Promise<SupersededOutcome> {
  try {
    await c.close();
  } catch (err) {
    return { url: c.url, result: 'failed', reason: why(err) };
  }
  try {
    await c.note();
    return { url: c.url, result: 'closed' };
  } catch (err) {
    return { url: c.url, result: 'closed', reason: `closed, but the comment failed: ${why(err)}` };
  }
}

type Why = 'conflict' | 'renamed' | 'replaced';

function supersededNote(i: SupersedeInput, why: Why): string {
  switch (why) {
    case 'conflict':
      return `Superseded by ${i.by.url}: the base branch ${i.base} now conflicts with this branch, so image-watcher proposes the update again from ${i.by.head}. Closed by image-watcher.`;
    case 'renamed':
      return `Superseded by ${i.by.url}: image-watcher now names its branches by namespace and name, and proposes this workload's updates from ${i.by.head}. Closed by image-watcher.`;
    case 'replaced':
      return `Superseded by ${i.by.url}: image-watcher now proposes this workload's updates from ${i.by.head}, one request at a time. Closed by image-watcher.`;
  }
}

export class PullRequestError extends ImageWatcherError {}

/** Largest forge answer read: a list of one branch's requests is far smaller. */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** The body as text, refused past MAX_RESPONSE_BYTES (a forge or proxy sending without end). */
async function boundedText(res: Response, what: string): Promise<string> {
  const reader = (res.body as ReadableStream<Uint8Array> | null)?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_RESPONSE_BYTES) {
      await reader.cancel().catch(() => undefined);
      throw new PullRequestError(
        'E_GIT_PR_FAILED',
        `${what} answered more than ${MAX_RESPONSE_BYTES} bytes; refusing to read it`,
      );
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** At most this many characters of an answer go into an error, JSON-escaped (it is the forge's or a proxy's text). */
const EXCERPT_CHARS = 120;

function excerpt(text: string): string {
  return JSON.stringify(text.length > EXCERPT_CHARS ? `${text.slice(0, EXCERPT_CHARS)}...` : text);
}

/** What a call must answer: a list of, or one, object with these fields of these types. */
type Expect = { list: boolean; fields: Readonly<Record<string, 'string' | 'number'>> };

function hasFields(v: unknown, fields: Expect['fields']): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  return Object.entries(fields).every(([k, type]) => typeof o[k] === type);
}

function describeExpect(e: Expect): string {
  const names = Object.keys(e.fields);
  const fields = names.length === 0 ? 'an object' : `an object with ${names.join(' and ')}`;
  return e.list ? `a list of ${fields.replace('an object', 'objects')}` : fields;
}

/**
 * A 2xx answer as the call expects it, or E_GIT_PR_FAILED naming the call and what came instead
 * (a proxy's or login page's HTML, JSON of another shape), never a bare SyntaxError.
 */
export function readAnswer(
  what: string,
  res: Pick<Response, 'status' | 'headers'>,
  text: string,
  expect?: Expect,
): unknown {
  let value: unknown = undefined;
  if (text !== '') {
    try {
      value = JSON.parse(text);
    } catch {
      const type = res.headers.get('content-type');
      throw new PullRequestError(
        'E_GIT_PR_FAILED',
        `${what} answered ${res.status} with ${type === null ? 'no content type' : `content type ${excerpt(type)}`}, not JSON (a proxy or login page in between?): ${excerpt(text)}`,
      );
    }
  }
  if (expect === undefined) return value;
  const ok = expect.list
    ? Array.isArray(value) && value.every((x) => hasFields(x, expect.fields))
    : hasFields(value, expect.fields);
  if (!ok) {
    throw new PullRequestError(
      'E_GIT_PR_FAILED',
      `${what} answered ${res.status} with JSON that is not ${describeExpect(expect)}: ${excerpt(text)}`,
    );
  }
  return value;
}

const GITHUB_PULL = { number: 'number', html_url: 'string' } as const;
const GITLAB_MR = { iid: 'number', web_url: 'string' } as const;

export type Provider = { kind: 'github' | 'gitlab'; apiUrl: string; path: string; host: string };

/** The fields read of a listed GitHub pull request and GitLab merge request. */
type GithubPull = { number: number; html_url: string; title?: unknown; body?: unknown };
type GitlabMergeRequest = { iid: number; web_url: string; title?: unknown; description?: unknown };

/** github.com and hosts named *github* -> GitHub (GHE: /api/v3); *gitlab* -> GitLab (/api/v4). */
export function providerOf(repo: string): Provider | undefined {
  const b = webBase(repo);
  if (!b) return undefined;
  const host = new URL(b.url).hostname;
  if (b.host.includes('gitlab'))
    return { kind: 'gitlab', apiUrl: `https://${host}/api/v4`, path: b.path, host };
  return {
    kind: 'github',
    apiUrl: host === 'github.com' ? 'https://api.github.com' : `https://${host}/api/v3`,
    path: b.path,
    host,
  };
}

/** One operation's token and connection pool, pinned to the host's checked address. */
interface Session {
  token: string;
  agent: Agent;
}

export interface PullRequestOptions {
  /** Replaces providerOf (tests: a local server speaking one of the APIs). */
  provider?: (repo: string) => Provider | undefined;
  resolve?: Resolve;
  /** Hosts allowed on private addresses (GIT_INSECURE_HOSTS). */
  trustedHosts?: readonly string[];
  timeoutMs?: number;
}

export class RestPullRequests implements PullRequestClient {
  constructor(private readonly opts: PullRequestOptions = {}) {}

  async openOrUpdate(input: PullRequestInput): Promise<{ url: string; created: boolean }> {
    const { p, s } = await this.target(input.repo, input.credentials);
    try {
      return await (p.kind === 'github' ? this.github(p, input, s) : this.gitlab(p, input, s));
    } finally {
      await s.agent.close();
    }
  }

  async closeSuperseded(input: SupersedeInput): Promise<SupersededOutcome[]> {
    const own = (h: string) => h.startsWith(OWN_BRANCH_PREFIX) && h !== input.by.head;
    const legacy = input.legacy;
    const named = (c: CloseCalls) =>
      legacy === undefined ||
      (c.title.startsWith(legacy.titlePrefix) &&
        c.body.split('\n').some((l) => l.startsWith(legacy.bodyLine)));
    const heads: { head: string; why: Why }[] = [
      ...input.heads.filter(own).map((head) => ({ head, why: 'conflict' as const })),
      ...(input.others ?? []).filter(own).map((head) => ({ head, why: 'replaced' as const })),
      ...(legacy?.heads ?? []).filter(own).map((head) => ({ head, why: 'renamed' as const })),
    ];
    if (heads.length === 0) return [];
    const { p, s } = await this.target(input.repo, input.credentials);
    const out: SupersededOutcome[] = [];
    try {
      for (const { head, why } of heads) {
        const calls =
          p.kind === 'github'
            ? await this.githubClose(p, input, head, why, s)
            : await this.gitlabClose(p, input, head, why, s);
        for (const c of calls) {
          // Only an old-style branch may be another workload's.
          if (why !== 'renamed' || named(c)) out.push(await closeAndNote(c));
        }
      }
    } finally {
      await s.agent.close();
    }
    return out;
  }

  /** The provider and token of a repository, its host checked against SSRF. */
  private async target(
    repo: string,
    credentials: GitCredentials | undefined,
  ): Promise<{ p: Provider; s: Session }> {
    const p = (this.opts.provider ?? providerOf)(repo);
    if (!p) {
      throw new PullRequestError(
        'E_GIT_PR_UNSUPPORTED',
        'pull requests are supported on GitHub and GitLab remotes only; use git-push: branch',
      );
    }
    const token = credentials?.token ?? credentials?.password;
    if (!token)
      throw new PullRequestError(
        'E_GIT_CREDENTIALS',
        'opening a pull request needs a token in the Git Secret',
      );
    // The API's host is the one connected to (api.github.com for github.com): it is checked and pinned.
    const host = bareHostname(new URL(p.apiUrl));
    const trusted = this.opts.trustedHosts ?? [];
    const verdict = await checkHost(host, {
      resolve: this.opts.resolve,
      trusted: trusted.includes(p.host) || trusted.includes(host),
    }).catch((err: unknown) => {
      throw new PullRequestError('E_GIT_PR_FAILED', `cannot resolve ${host}`, { cause: err });
    });
    if (verdict.blocked) {
      throw new PullRequestError(
        'E_GIT_BLOCKED',
        `${host} resolves to ${verdict.blocked.address}, ${verdict.blocked.why}`,
      );
    }
    const address = verdict.addresses[0];
    if (address === undefined) throw new PullRequestError('E_GIT_PR_FAILED', `${host} has no address`);
    // Connections go to the checked address, never to a second DNS answer (rebinding).
    return { p, s: { token, agent: new Agent({ connect: { lookup: pinnedLookup(address) } }) } };
  }

  private async call(
    s: Session,
    method: string,
    url: string,
    headers: Record<string, string>,
    body?: unknown,
    expect?: Expect,
  ): Promise<unknown> {
    const what = `${method} ${new URL(url).pathname}`;
    const res = await fetch(url, {
      dispatcher: s.agent,
      method,
      headers: { ...headers, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      redirect: 'error',
      signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
    }).catch((err: unknown) => {
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
      throw new PullRequestError('E_GIT_PR_FAILED', `${what} failed: ${why(cause)}`, { cause: err });
    });
    const text = await boundedText(res, what);
    if (!res.ok) {
      const code = res.status === 401 || res.status === 403 ? 'E_GIT_AUTH' : 'E_GIT_PR_FAILED';
      throw new PullRequestError(code, `${what} answered ${res.status}: ${excerpt(text)}`);
    }
    return readAnswer(what, res, text, expect);
  }

  private static githubHeaders(token: string): Record<string, string> {
    return {
      Accept: 'application/vnd.github+json',
      Authorization: `Bearer ${token}`,
      'X-GitHub-Api-Version': '2022-11-28',
      'User-Agent': 'image-watcher',
    };
  }

  /**
   * The open requests of `head` and how to close and note each:
   * https://docs.github.com/en/rest/pulls/pulls#update-a-pull-request and
   * https://docs.github.com/en/rest/issues/comments#create-an-issue-comment
   */
  private async githubClose(
    p: Provider,
    i: SupersedeInput,
    head: string,
    why: Why,
    s: Session,
  ): Promise<CloseCalls[]> {
    const h = RestPullRequests.githubHeaders(s.token);
    const { endpoint, open } = await this.githubOpen(s, p, head, i.base, h);
    return open.map((pr) => ({
      url: pr.html_url,
      title: typeof pr.title === 'string' ? pr.title : '',
      body: typeof pr.body === 'string' ? pr.body : '',
      close: () => this.call(s, 'PATCH', `${endpoint}/${pr.number}`, h, { state: 'closed' }),
      note: () =>
        this.call(s, 'POST', `${p.apiUrl}/repos/${p.path}/issues/${pr.number}/comments`, h, {
          body: supersededNote(i, why),
        }),
    }));
  }

  /** The pulls endpoint and the open requests of `head` into `base`. */
  private async githubOpen(
    s: Session,
    p: Provider,
    head: string,
    base: string,
    h: Record<string, string>,
  ): Promise<{ endpoint: string; open: GithubPull[] }> {
    const [owner] = p.path.split('/');
    const pulls = `${p.apiUrl}/repos/${p.path}/pulls`;
    const q = new URLSearchParams({ head: `${owner}:${head}`, base, state: 'open' });
    const open = await this.call(s, 'GET', `${pulls}?${q.toString()}`, h, undefined, {
      list: true,
      fields: GITHUB_PULL,
    });
    return { endpoint: pulls, open: open as GithubPull[] };
  }

  /** https://docs.github.com/en/rest/pulls/pulls */
  private async github(p: Provider, i: PullRequestInput, s: Session) {
    const h = RestPullRequests.githubHeaders(s.token);
    const { endpoint, open } = await this.githubOpen(s, p, i.head, i.base, h);
    if (open.length > 0) {
      const pr = open[0]!;
      const upd = (await this.call(
        s,
        'PATCH',
        `${endpoint}/${pr.number}`,
        h,
        { title: i.title, body: i.body },
        { list: false, fields: {} },
      )) as { html_url?: unknown };
      return { url: typeof upd.html_url === 'string' ? upd.html_url : pr.html_url, created: false };
    }
    const pr = (await this.call(
      s,
      'POST',
      endpoint,
      h,
      { title: i.title, head: i.head, base: i.base, body: i.body },
      { list: false, fields: GITHUB_PULL },
    )) as GithubPull;
    return { url: pr.html_url, created: true };
  }

  /** As githubClose; https://docs.gitlab.com/api/merge_requests/ and https://docs.gitlab.com/api/notes/ */
  private async gitlabClose(
    p: Provider,
    i: SupersedeInput,
    head: string,
    why: Why,
    s: Session,
  ): Promise<CloseCalls[]> {
    const h = { 'PRIVATE-TOKEN': s.token };
    const { endpoint, open } = await this.gitlabOpen(s, p, head, i.base, h);
    return open.map((mr) => ({
      url: mr.web_url,
      title: typeof mr.title === 'string' ? mr.title : '',
      body: typeof mr.description === 'string' ? mr.description : '',
      close: () => this.call(s, 'PUT', `${endpoint}/${mr.iid}`, h, { state_event: 'close' }),
      note: () => this.call(s, 'POST', `${endpoint}/${mr.iid}/notes`, h, { body: supersededNote(i, why) }),
    }));
  }

  /** As githubOpen, for GitLab's merge requests. */
  private async gitlabOpen(
    s: Session,
    p: Provider,
    head: string,
    base: string,
    h: Record<string, string>,
  ): Promise<{ endpoint: string; open: GitlabMergeRequest[] }> {
    const mrs = `${p.apiUrl}/projects/${encodeURIComponent(p.path)}/merge_requests`;
    const q = new URLSearchParams({ state: 'opened', source_branch: head, target_branch: base });
    const open = await this.call(s, 'GET', `${mrs}?${q.toString()}`, h, undefined, {
      list: true,
      fields: GITLAB_MR,
    });
    return { endpoint: mrs, open: open as GitlabMergeRequest[] };
  }

  /** https://docs.gitlab.com/api/merge_requests/ */
  private async gitlab(p: Provider, i: PullRequestInput, s: Session) {
    const h = { 'PRIVATE-TOKEN': s.token };
    const { endpoint, open } = await this.gitlabOpen(s, p, i.head, i.base, h);
    if (open.length > 0) {
      const mr = open[0]!;
      const upd = (await this.call(
        s,
        'PUT',
        `${endpoint}/${mr.iid}`,
        h,
        { title: i.title, description: i.body },
        { list: false, fields: {} },
      )) as { web_url?: unknown };
      return { url: typeof upd.web_url === 'string' ? upd.web_url : mr.web_url, created: false };
    }
    const mr = (await this.call(
      s,
      'POST',
      endpoint,
      h,
      { source_branch: i.head, target_branch: i.base, title: i.title, description: i.body },
      { list: false, fields: GITLAB_MR },
    )) as GitlabMergeRequest;
    return { url: mr.web_url, created: true };
  }
}
