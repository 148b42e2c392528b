// Launches the real CNCF distribution registry (Debian `docker-registry`) on a free loopback
// port and pushes images to it through the HTTP API.
import { spawn, execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Blob, BuiltImage } from './images.ts';
import { freePort } from './daemon.ts';
import { findProgram } from './programs.ts';

export { freePort };

const HTPASSWD_BIN = findProgram('htpasswd');
export const REGISTRY_BIN = findProgram('docker-registry', { envVar: 'REGISTRY_BIN' });

export type RegistryAuth =
  | { kind: 'none' }
  | { kind: 'htpasswd'; users: Record<string, string> }
  | { kind: 'token'; realm: string; service: string; issuer: string; rootCertFile: string };

export interface RunningRegistry {
  /** `127.0.0.1:PORT`, as written in image references. */
  host: string;
  url: string;
  dir: string;
  stop(): Promise<void>;
}

async function htpasswdFile(file: string, users: Record<string, string>): Promise<void> {
  const lines: string[] = [];
  for (const [user, pass] of Object.entries(users)) {
    // bcrypt cost 5 keeps the test fast; the registry only accepts bcrypt entries.
    const { stdout } = await promisify(execFile)(HTPASSWD_BIN, ['-nbB', '-C', '5', user, pass]);
    lines.push(stdout.trim());
  }
  await writeFile(file, `${lines.join('\n')}\n`);
}

function authYaml(auth: RegistryAuth, htpasswdPath: string): string {
  switch (auth.kind) {
    case 'none':
      return '';
    case 'htpasswd':
      return `auth:\n  htpasswd:\n    realm: test-realm\n    path: ${htpasswdPath}\n`;
    case 'token':
      return (
        `auth:\n  token:\n    realm: ${auth.realm}\n    service: ${auth.service}\n` +
        `    issuer: ${auth.issuer}\n    rootcertbundle: ${auth.rootCertFile}\n`
      );
  }
}

async function waitReady(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`docker-registry exited with ${child.exitCode}: ${output()}`);
    try {
      const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200 || res.status === 401) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry did not become ready: ${output()}`);
}

/** One `notifications.endpoints` entry: the registry POSTs its event envelopes there. */
export interface NotificationEndpoint {
  url: string;
  headers?: Record<string, string>;
  /** Events per envelope is 1..threshold; the registry retries a failed delivery after `backoff`. */
  threshold?: number;
  backoff?: string;
}

/** The registry's push events to a watcher on 127.0.0.1:PORT (distribution receiver, bearer TOKEN). */
export function watcherNotifications(port: number, token: string): NotificationEndpoint[] {
  return [
    {
      url: `http://127.0.0.1:${port}/api/v1/webhooks/distribution`,
      headers: { Authorization: `Bearer ${token}` },
      threshold: 1,
      backoff: '200ms',
    },
  ];
}

function notificationsYaml(endpoints: readonly NotificationEndpoint[]): string {
  if (endpoints.length === 0) return '';
  const lines = ['notifications:', '  endpoints:'];
  endpoints.forEach((e, i) => {
    lines.push(`    - name: endpoint${i}`, `      url: ${JSON.stringify(e.url)}`, '      timeout: 2s');
    lines.push(`      threshold: ${e.threshold ?? 5}`, `      backoff: ${e.backoff ?? '1s'}`);
    const headers = Object.entries(e.headers ?? {});
    if (headers.length > 0) {
      lines.push('      headers:');
      for (const [k, v] of headers) lines.push(`        ${k}: [${JSON.stringify(v)}]`);
    }
    // Pulls and blob uploads are not pushes of a tag: the registry need not send them at all.
    lines.push('      ignore:', '        actions: [pull]');
  });
  return `${lines.join('\n')}\n`;
}

export async function startRegistry(
  auth: RegistryAuth = { kind: 'none' },
  opts: { notifications?: readonly NotificationEndpoint[] } = {},
): Promise<RunningRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'iw-registry-'));
  const port = await freePort();
  const htpasswdPath = join(dir, 'htpasswd');
  if (auth.kind === 'htpasswd') await htpasswdFile(htpasswdPath, auth.users);
  const config =
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n` +
    `storage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\n` +
    `http:\n  addr: 127.0.0.1:${port}\n` +
    authYaml(auth, htpasswdPath) +
    notificationsYaml(opts.notifications ?? []);
  const configPath = join(dir, 'config.yml');
  await writeFile(configPath, config);
  const child = spawn(REGISTRY_BIN, ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitReady(url, child, () => stderr);
  } catch (err) {
    await stop();
    throw err;
  }
  return { host: `127.0.0.1:${port}`, url, dir, stop };
}

async function check(res: Response, what: string, ok: number[]): Promise<void> {
  const text = await res.text();
  if (!ok.includes(res.status)) throw new Error(`${what}: HTTP ${res.status} ${text.slice(0, 300)}`);
}

export async function pushBlob(url: string, repo: string, blob: Blob, authorization?: string): Promise<void> {
  const headers: Record<string, string> = authorization ? { authorization } : {};
  // Monolithic upload: one POST with the digest and the bytes.
  const post = await fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/octet-stream' },
    body: blob.bytes,
  });
  if (post.status === 201) {
    await post.arrayBuffer();
    return;
  }
  await check(post, `start upload to ${repo}`, [202]);
  const location = new URL(post.headers.get('location') ?? '', url);
  location.searchParams.set('digest', blob.digest);
  const put = await fetch(location, {
    method: 'PUT',
    headers: { ...headers, 'content-type': 'application/octet-stream' },
    body: blob.bytes,
  });
  await check(put, `upload blob to ${repo}`, [201]);
}

export async function pushManifest(
  url: string,
  repo: string,
  reference: string,
  manifest: Blob,
  authorization?: string,
): Promise<void> {
  const res = await fetch(`${url}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    headers: { ...(authorization ? { authorization } : {}), 'content-type': manifest.mediaType },
    body: manifest.bytes,
  });
  await check(res, `put manifest ${repo}:${reference}`, [201]);
}

/** Pushes blobs, child manifests and the manifest under every tag; returns the manifest digest. */
export async function pushImage(
  url: string,
  repo: string,
  tags: string[],
  image: BuiltImage,
  authorization?: string,
): Promise<string> {
  await Promise.all(image.blobs.map((blob) => pushBlob(url, repo, blob, authorization)));
  await Promise.all(
    image.children.map((child) => pushManifest(url, repo, child.digest, child, authorization)),
  );
  for (const tag of tags) await pushManifest(url, repo, tag, image.manifest, authorization);
  return image.manifest.digest;
}

export interface ProxiedRequest {
  method: string;
  path: string;
}

export interface CountingProxy {
  host: string;
  url: string;
  requests: ProxiedRequest[];
  /** Requests matching method and a path pattern. */
  count(method: string, path: RegExp): number;
  close(): Promise<void>;
}

const HOP_HEADERS = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'content-encoding',
  'host',
]);

/**
 * A proxy in front of a registry that records every request. With `paginate`, it serves tag
 * lists page by page (`n`, `last`, `Link: <...>; rel="next"`) from the registry's full list,
 * as newer registries do (distribution 2.8 ignores `n`).
 */
export async function startCountingProxy(
  target: string,
  opts: { paginate?: boolean } = {},
): Promise<CountingProxy> {
  const requests: ProxiedRequest[] = [];
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://proxy');
        requests.push({ method: req.method ?? 'GET', path: url.pathname });
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers))
          if (typeof v === 'string' && !HOP_HEADERS.has(k)) headers[k] = v;
        const paging = opts.paginate && url.pathname.endsWith('/tags/list') && url.searchParams.has('n');
        const upstream = new URL(url.pathname + (paging ? '' : url.search), target);
        try {
          const up = await fetch(upstream, {
            method: req.method ?? 'GET',
            headers,
            body: chunks.length > 0 ? Buffer.concat(chunks) : undefined,
            redirect: 'manual',
          });
          let body = Buffer.from(await up.arrayBuffer());
          const outHeaders: Record<string, string> = {};
          up.headers.forEach((v, k) => {
            if (!HOP_HEADERS.has(k)) outHeaders[k] = v;
          });
          if (paging && up.status === 200) {
            const n = Number(url.searchParams.get('n'));
            const last = url.searchParams.get('last');
            const all = ((JSON.parse(body.toString()) as { tags: string[] | null }).tags ?? []).sort();
            const rest = last === null ? all : all.filter((t) => t > last);
            const page = rest.slice(0, n);
            body = Buffer.from(JSON.stringify({ name: url.pathname.slice(4, -10), tags: page }));
            if (rest.length > n) {
              outHeaders.link = `<${url.pathname}?n=${n}&last=${encodeURIComponent(page[page.length - 1]!)}>; rel="next"`;
            }
          }
          res.writeHead(up.status, outHeaders);
          res.end(req.method === 'HEAD' ? undefined : body);
        } catch {
          res.writeHead(502).end();
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    requests,
    count: (method, path) => requests.filter((r) => r.method === method && path.test(r.path)).length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
