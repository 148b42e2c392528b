// Local stand-ins for the pull/merge request endpoints of GitHub and GitLab, implementing the
// request and response shapes of their REST documentation. GitHub: GET/POST
// /repos/{owner}/{repo}/pulls, GET/PATCH /repos/{owner}/{repo}/pulls/{number} (title, body,
// state), POST /repos/{owner}/{repo}/issues/{number}/comments. GitLab: GET/POST
// /projects/{id}/merge_requests, GET/PUT /projects/{id}/merge_requests/{iid} (title, description,
// state_event), POST /projects/{id}/merge_requests/{iid}/notes. The real services cannot be
// reached from tests.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { git } from './git-server.ts';

export interface ForgeRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown> | undefined;
}

export interface ForgePull {
  /** GitHub's number, GitLab's iid. */
  id: number;
  head: string;
  base: string;
  title: string;
  body: string;
  state: 'open' | 'closed' | 'merged';
  /** Comments (GitHub) or notes (GitLab), in order. */
  comments: string[];
}

export interface FakeForge {
  kind: 'github' | 'gitlab';
  apiUrl: string;
  requests: ForgeRequest[];
  /** Every request ever opened, by number. */
  pulls: ForgePull[];
  /** The open ones. */
  readonly open: ForgePull[];
  /** A reviewer merges the open requests (or the one numbered `id`) on the forge's page. */
  markMerged(id?: number): void;
  close(): Promise<void>;
}

export interface ForgeOptions {
  /**
   * The bare repository behind the project: GitHub then refuses, as it does, a pull request
   * whose head branch is missing or has no commit the base lacks (422). GitLab opens one anyway.
   */
  gitDir?: string;
  /** Requests answered 403, as for a token without write access to the project. */
  refuse?: (r: ForgeRequest) => boolean;
  /** A proxy in front of the forge answering instead (a login page with 200...); undefined: the forge answers. */
  proxy?: (r: ForgeRequest) => { status: number; contentType: string; body: string } | undefined;
}

export async function startForge(
  kind: 'github' | 'gitlab',
  repoPath: string,
  token: string,
  opts: ForgeOptions = {},
): Promise<FakeForge> {
  const requests: ForgeRequest[] = [];
  const pulls: ForgePull[] = [];
  let next = 1;
  const web = (id: number) =>
    kind === 'github'
      ? `https://github.example/${repoPath}/pull/${id}`
      : `https://gitlab.example/${repoPath}/-/merge_requests/${id}`;
  const view = (p: ForgePull) =>
    kind === 'github'
      ? {
          number: p.id,
          html_url: web(p.id),
          title: p.title,
          body: p.body,
          head: { ref: p.head },
          base: { ref: p.base },
          state: p.state === 'open' ? 'open' : 'closed',
          merged: p.state === 'merged',
        }
      : {
          iid: p.id,
          web_url: web(p.id),
          title: p.title,
          description: p.body,
          source_branch: p.head,
          target_branch: p.base,
          state: p.state === 'open' ? 'opened' : p.state,
        };
  /** GitHub's `state` filter (open, closed, all; default open), GitLab's (opened, closed, merged, all; default all). */
  const stateMatches = (p: ForgePull, q: string | undefined) => {
    const want = q ?? (kind === 'github' ? 'open' : 'all');
    if (want === 'all') return true;
    if (kind === 'github') return want === 'open' ? p.state === 'open' : p.state !== 'open';
    return want === 'opened' ? p.state === 'open' : p.state === want;
  };
  const gitRefused = async (base: string, head: string): Promise<string | undefined> => {
    if (!opts.gitDir || kind !== 'github') return undefined;
    const exists = await git(opts.gitDir, 'rev-parse', '--verify', '--quiet', `refs/heads/${head}`).then(
      () => true,
      () => false,
    );
    if (!exists) return 'head';
    const count = await git(opts.gitDir, 'rev-list', '--count', `refs/heads/${base}..refs/heads/${head}`);
    return Number(count.trim()) === 0 ? `No commits between ${base} and ${head}` : undefined;
  };

  const handle = async (r: ForgeRequest): Promise<[number, unknown]> => {
    const authorized =
      kind === 'github'
        ? r.headers.authorization === `Bearer ${token}`
        : r.headers['private-token'] === token;
    if (!authorized) return [401, { message: kind === 'github' ? 'Bad credentials' : '401 Unauthorized' }];
    if (opts.refuse?.(r)) {
      return [
        403,
        { message: kind === 'github' ? 'Resource not accessible by integration' : '403 Forbidden' },
      ];
    }
    const base =
      kind === 'github'
        ? `/repos/${repoPath}/pulls`
        : `/projects/${encodeURIComponent(repoPath)}/merge_requests`;
    // GitLab takes the project path URL-encoded as one segment; undici sends %2F as is.
    const path =
      kind === 'gitlab'
        ? r.path.replace(encodeURIComponent(repoPath).replace(/%2F/g, '/'), encodeURIComponent(repoPath))
        : r.path;
    const b = r.body ?? {};
    const notFound: [number, unknown] = [404, { message: kind === 'github' ? 'Not Found' : '404 Not found' }];
    if (path === base && r.method === 'GET') {
      const head = kind === 'github' ? r.query.head?.split(':')[1] : r.query.source_branch;
      const target = kind === 'github' ? r.query.base : r.query.target_branch;
      const list = pulls.filter(
        (p) =>
          (head === undefined || p.head === head) &&
          (target === undefined || p.base === target) &&
          stateMatches(p, r.query.state),
      );
      return [200, list.map(view)];
    }
    if (path === base && r.method === 'POST') {
      const head = String(kind === 'github' ? b.head : b.source_branch);
      const into = String(kind === 'github' ? b.base : b.target_branch);
      const dup = pulls.find((p) => p.state === 'open' && p.head === head && p.base === into);
      if (dup && kind === 'github') {
        return [
          422,
          {
            message: 'Validation Failed',
            errors: [
              {
                resource: 'PullRequest',
                code: 'custom',
                message: `A pull request already exists for ${head}.`,
              },
            ],
          },
        ];
      }
      if (dup)
        return [
          409,
          { message: [`Another open merge request already exists for this source branch: !${dup.id}`] },
        ];
      const refused = await gitRefused(into, head);
      if (refused === 'head') {
        return [
          422,
          {
            message: 'Validation Failed',
            errors: [{ resource: 'PullRequest', field: 'head', code: 'invalid' }],
          },
        ];
      }
      if (refused) {
        return [
          422,
          {
            message: 'Validation Failed',
            errors: [{ resource: 'PullRequest', code: 'custom', message: refused }],
          },
        ];
      }
      const p: ForgePull = {
        id: next++,
        head,
        base: into,
        title: String(b.title),
        body: String(kind === 'github' ? b.body : b.description),
        state: 'open',
        comments: [],
      };
      pulls.push(p);
      return [201, view(p)];
    }
    const escaped = base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const one = new RegExp(`^${escaped}/(\\d+)$`).exec(path);
    if (one) {
      const p = pulls.find((x) => x.id === Number(one[1]));
      if (!p) return notFound;
      if (r.method === 'GET') return [200, view(p)];
      if (r.method !== (kind === 'github' ? 'PATCH' : 'PUT')) return notFound;
      if (typeof b.title === 'string') p.title = b.title;
      const text = kind === 'github' ? b.body : b.description;
      if (typeof text === 'string') p.body = text;
      const close = kind === 'github' ? b.state === 'closed' : b.state_event === 'close';
      const reopen = kind === 'github' ? b.state === 'open' : b.state_event === 'reopen';
      if (p.state !== 'merged' && close) p.state = 'closed';
      if (p.state !== 'merged' && reopen) p.state = 'open';
      return [200, view(p)];
    }
    // Comments on a pull request go through the issues API; GitLab's are notes.
    const commentPath =
      kind === 'github'
        ? new RegExp(`^/repos/${repoPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/issues/(\\d+)/comments$`)
        : new RegExp(`^${escaped}/(\\d+)/notes$`);
    const c = commentPath.exec(path);
    if (c && r.method === 'POST') {
      const p = pulls.find((x) => x.id === Number(c[1]));
      if (!p) return notFound;
      if (typeof b.body !== 'string' || b.body === '') {
        return [kind === 'github' ? 422 : 400, { message: 'body is missing' }];
      }
      p.comments.push(b.body);
      return [201, { id: p.comments.length, body: b.body }];
    }
    return notFound;
  };

  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const r: ForgeRequest = {
        method: req.method ?? '',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body: raw === '' ? undefined : (JSON.parse(raw) as Record<string, unknown>),
      };
      requests.push(r);
      const proxied = opts.proxy?.(r);
      if (proxied) {
        res.writeHead(proxied.status, { 'Content-Type': proxied.contentType }).end(proxied.body);
        return;
      }
      void handle(r).then(
        ([status, v]) => res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(v)),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    kind,
    apiUrl: `http://127.0.0.1:${port}`,
    requests,
    pulls,
    get open() {
      return pulls.filter((p) => p.state === 'open');
    },
    markMerged(id) {
      for (const p of pulls) if (p.state === 'open' && (id === undefined || p.id === id)) p.state = 'merged';
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
