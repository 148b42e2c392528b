// A real Git remote for tests: bare repositories served over smart HTTP by `git http-backend`
// (the CGI program shipped with git) behind a small node HTTP server on 127.0.0.1, anonymous or
// with basic auth. Seeding and reading go through the real git CLI too.
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { timingSafeEqual } from 'node:crypto';
import { findProgram } from './programs.ts';

const run = promisify(execFile);
export const GIT_BIN = findProgram('git', { envVar: 'GIT_BIN' });

/** Environment for test-side git: no user or system config, fixed identity. */
export const GIT_ENV: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  HOME: tmpdir(),
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Test Person',
  GIT_AUTHOR_EMAIL: 'person@example.com',
  GIT_COMMITTER_NAME: 'Test Person',
  GIT_COMMITTER_EMAIL: 'person@example.com',
  GIT_TERMINAL_PROMPT: '0',
};

export async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await run(GIT_BIN, args, { cwd, env: GIT_ENV });
  return stdout;
}

export interface GitServer {
  /** http://127.0.0.1:PORT */
  base: string;
  /** `http://127.0.0.1:PORT/<name>.git` */
  url(name: string): string;
  root: string;
  /** The bare repository's directory (for SSH URLs). */
  path(name: string): string;
  /** A bare repository `<name>.git` on branch main holding `files` in one commit. */
  createRepo(name: string, files: Record<string, string>): Promise<string>;
  /** A file on a branch as the remote has it. */
  show(name: string, branch: string, file: string): Promise<string>;
  /** `git log --first-parent --format=...` on a branch of the remote. */
  log(name: string, branch: string, format?: string): Promise<string[]>;
  branches(name: string): Promise<string[]>;
  /** Commits `files` to `branch` from another clone (a person pushing at the same time). */
  commitAs(name: string, branch: string, files: Record<string, string>, message: string): Promise<void>;
  /** Merges `from` into `into` with a merge commit, as a forge's merge button does. */
  merge(name: string, from: string, into: string, message: string): Promise<void>;
  /** Deletes a branch of the remote (a forge deleting the head branch of a merged request). */
  deleteBranch(name: string, branch: string): Promise<void>;
  /** Requests the server saw (method, path, user). */
  requests: { method: string; path: string; user: string | undefined; status: number }[];
  close(): Promise<void>;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export async function startGitServer(
  opts: { auth?: { username: string; password: string } } = {},
): Promise<GitServer> {
  const root = await mkdtemp(join(tmpdir(), 'iw-git-server-'));
  const repos = join(root, 'repos');
  await mkdir(repos);
  const requests: GitServer['requests'] = [];

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    let user: string | undefined;
    if (opts.auth) {
      const h = req.headers.authorization ?? '';
      const m = /^Basic (.+)$/.exec(h);
      const [u, ...p] = m ? Buffer.from(m[1]!, 'base64').toString().split(':') : [];
      if (!m || !safeEqual(u ?? '', opts.auth.username) || !safeEqual(p.join(':'), opts.auth.password)) {
        requests.push({ method: req.method ?? '', path: url.pathname, user: undefined, status: 401 });
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' }).end('unauthorized');
        return;
      }
      user = u;
    }
    const child = spawn(GIT_BIN, ['http-backend'], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: repos,
        GIT_HTTP_EXPORT_ALL: '1',
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
        REQUEST_METHOD: req.method ?? 'GET',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.replace(/^\?/, ''),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
        GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
        REMOTE_ADDR: '127.0.0.1',
        ...(user !== undefined ? { REMOTE_USER: user } : {}),
      },
    });
    req.pipe(child.stdin);
    let head = Buffer.alloc(0);
    let headerDone = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (headerDone) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const sep = head.indexOf('\r\n\r\n');
      const alt = head.indexOf('\n\n');
      const at = sep >= 0 ? sep : alt;
      if (at < 0) return;
      const body = head.subarray(at + (sep >= 0 ? 4 : 2));
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, at).toString().split(/\r?\n/)) {
        const i = line.indexOf(':');
        if (i < 0) continue;
        const k = line.slice(0, i).trim();
        const v = line.slice(i + 1).trim();
        if (k.toLowerCase() === 'status') status = Number(v.split(' ')[0]);
        else headers[k] = v;
      }
      requests.push({ method: req.method ?? '', path: url.pathname, user, status });
      res.writeHead(status, headers);
      res.write(body);
      headerDone = true;
    });
    child.on('close', () => res.end());
    child.on('error', () => res.writeHead(500).end());
  };

  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;
  const bare = (name: string) => join(repos, `${name}.git`);

  const withClone = async <T>(name: string, branch: string, fn: (dir: string) => Promise<T>): Promise<T> => {
    const dir = await mkdtemp(join(root, 'clone-'));
    try {
      await git(root, 'clone', '--quiet', '--branch', branch, bare(name), dir);
      return await fn(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  const writeAll = async (dir: string, files: Record<string, string>) => {
    for (const [f, text] of Object.entries(files)) {
      await mkdir(dirname(join(dir, f)), { recursive: true });
      await writeFile(join(dir, f), text);
    }
  };

  return {
    base,
    root,
    requests,
    url: (name) => `${base}/${name}.git`,
    path: bare,
    async createRepo(name, files) {
      await git(root, 'init', '--quiet', '--bare', '-b', 'main', bare(name));
      await git(bare(name), 'config', 'http.receivepack', 'true');
      const seed = await mkdtemp(join(root, 'seed-'));
      await git(seed, 'init', '--quiet', '-b', 'main');
      await writeAll(seed, files);
      await git(seed, 'add', '--all');
      await git(seed, 'commit', '--quiet', '-m', 'Initial manifests');
      await git(seed, 'push', '--quiet', bare(name), 'main');
      await rm(seed, { recursive: true, force: true });
      return `${base}/${name}.git`;
    },
    show: (name, branch, file) => git(bare(name), 'show', `${branch}:${file}`),
    async log(name, branch, format = '%s') {
      // First parent only: merged-in lines share commit seconds, so a full log's order would vary.
      const out = await git(bare(name), 'log', '--first-parent', `--format=${format}%x00`, branch);
      return out
        .split('\0')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    },
    async branches(name) {
      const out = await git(bare(name), 'for-each-ref', '--format=%(refname:short)', 'refs/heads');
      return out.split('\n').filter((s) => s !== '');
    },
    commitAs: (name, branch, files, message) =>
      withClone(name, branch, async (dir) => {
        await writeAll(dir, files);
        await git(dir, 'add', '--all');
        await git(dir, 'commit', '--quiet', '-m', message);
        await git(dir, 'push', '--quiet', 'origin', branch);
      }),
    merge: (name, from, into, message) =>
      withClone(name, into, async (dir) => {
        await git(dir, 'fetch', '--quiet', 'origin', from);
        await git(dir, 'merge', '--quiet', '--no-ff', '-m', message, 'FETCH_HEAD');
        await git(dir, 'push', '--quiet', 'origin', into);
      }),
    async deleteBranch(name, branch) {
      await git(bare(name), 'branch', '--quiet', '-D', branch);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(root, { recursive: true, force: true });
    },
  };
}
