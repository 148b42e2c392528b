// Local stand-ins for the pull/merge request endpoints of GitHub and GitLab, implementing the
// request and response shapes of their REST documentation (GitHub: GET/POST /repos/{owner}/{repo}/pulls,
// PATCH /repos/{owner}/{repo}/pulls/{number}; GitLab: GET/POST /projects/{id}/merge_requests,
// PUT /projects/{id}/merge_requests/{iid}). The real services cannot be reached from tests.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ForgeRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown> | undefined;
}

export interface FakeForge {
  kind: 'github' | 'gitlab';
  apiUrl: string;
  requests: ForgeRequest[];
  /** Open requests: number/iid, head, base, title, body. */
  open: { id: number; head: string; base: string; title: string; body: string }[];
  close(): Promise<void>;
}

export async function startForge(
  kind: 'github' | 'gitlab',
  repoPath: string,
  token: string,
): Promise<FakeForge> {
  const requests: ForgeRequest[] = [];
  const open: FakeForge['open'] = [];
  // Numbers are never reused, also after a test takes a request out of `open` (merged, closed).
  let next = 1;
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const body = raw === '' ? undefined : (JSON.parse(raw) as Record<string, unknown>);
      const r: ForgeRequest = {
        method: req.method ?? '',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body,
      };
      requests.push(r);
      const send = (status: number, v: unknown) =>
        res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(v));
      const authorized =
        kind === 'github'
          ? req.headers.authorization === `Bearer ${token}`
          : req.headers['private-token'] === token;
      if (!authorized) return send(401, { message: 'Bad credentials' });
      const web = (id: number) =>
        kind === 'github'
          ? `https://github.example/${repoPath}/pull/${id}`
          : `https://gitlab.example/${repoPath}/-/merge_requests/${id}`;
      const view = (p: FakeForge['open'][number]) =>
        kind === 'github'
          ? {
              number: p.id,
              html_url: web(p.id),
              title: p.title,
              body: p.body,
              head: { ref: p.head },
              base: { ref: p.base },
              state: 'open',
            }
          : {
              iid: p.id,
              web_url: web(p.id),
              title: p.title,
              description: p.body,
              source_branch: p.head,
              target_branch: p.base,
              state: 'opened',
            };
      const base =
        kind === 'github'
          ? `/repos/${repoPath}/pulls`
          : `/projects/${encodeURIComponent(repoPath)}/merge_requests`;
      const path =
        kind === 'gitlab'
          ? url.pathname.replace(
              encodeURIComponent(repoPath).replace(/%2F/g, '/'),
              encodeURIComponent(repoPath),
            )
          : url.pathname;
      if (path === base && r.method === 'GET') {
        const head = kind === 'github' ? r.query.head?.split(':')[1] : r.query.source_branch;
        return send(200, open.filter((p) => p.head === head).map(view));
      }
      if (path === base && r.method === 'POST') {
        const b = body ?? {};
        const p = {
          id: next++,
          head: String(kind === 'github' ? b.head : b.source_branch),
          base: String(kind === 'github' ? b.base : b.target_branch),
          title: String(b.title),
          body: String(kind === 'github' ? b.body : b.description),
        };
        open.push(p);
        return send(201, view(p));
      }
      const m = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/(\\d+)$`).exec(path);
      if (m && r.method === (kind === 'github' ? 'PATCH' : 'PUT')) {
        const p = open.find((x) => x.id === Number(m[1]));
        if (!p) return send(404, { message: 'Not Found' });
        p.title = typeof body?.title === 'string' ? body.title : p.title;
        const text = kind === 'github' ? body?.body : body?.description;
        p.body = typeof text === 'string' ? text : p.body;
        return send(200, view(p));
      }
      return send(404, { message: 'Not Found' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    kind,
    apiUrl: `http://127.0.0.1:${port}`,
    requests,
    open,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
