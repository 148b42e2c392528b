// Resolve through the real app and the real registry client against a local registry: which
// registries may be asked, with whose credentials, and a queue of its own that never delays
// workload checks.
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import type { WorkloadView } from '../../../watcher/controller/index.ts';
import { ApiAccess } from '../../../watcher/http/access.ts';
import type { WatcherApi } from '../../../watcher/http/app.ts';
import { build } from '../../../watcher/http/app.ts';
import {
  BoundedQueue,
  ResolveBusyError,
  ResolvePolicy,
  ANONYMOUS,
} from '../../../watcher/http/resolve-guard.ts';
import { apiDeps } from '../../../watcher/http/wiring.ts';
import { WatcherMetrics } from '../../../watcher/metrics.ts';
import { createRegistryClient } from '../../../watcher/registry/index.ts';
import { parseImageReference } from '../../../shared/image-ref.ts';

const API_TOKEN = 'api_0123456789abcdef';
const AUTH = { authorization: `Bearer ${API_TOKEN}` };

interface Seen {
  path: string;
  authorization: string | undefined;
}

/** A registry: `private/*` needs basic auth, `hang/*` never answers until released, others 404. */
async function startRegistry(t: Test) {
  const seen: Seen[] = [];
  const hanging: http.ServerResponse[] = [];
  const state = { hang: true };
  const waiters: { n: number; resolve: () => void }[] = [];
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    seen.push({ path, authorization: req.headers.authorization });
    const json = (code: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(code, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (path === '/v2/') return json(200, {});
    const m = /^\/v2\/(.+)\/tags\/list$/.exec(path);
    if (!m) return json(404, { errors: [{ code: 'NAME_UNKNOWN' }] });
    const repo = m[1] ?? '';
    if (repo.startsWith('hang/') && state.hang) {
      hanging.push(res);
      for (const w of waiters.filter((x) => hanging.length >= x.n)) w.resolve();
      return undefined;
    }
    if (repo.startsWith('private/') || repo.startsWith('shop/')) {
      if (req.headers.authorization !== `Basic ${Buffer.from('robot:s3cret').toString('base64')}`) {
        return json(
          401,
          { errors: [{ code: 'UNAUTHORIZED' }] },
          { 'www-authenticate': 'Basic realm="registry"' },
        );
      }
      return json(200, { name: repo, tags: ['1.0.0', '1.0.1', '1.1.0'] });
    }
    return json(404, { errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known' }] });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.teardown(() => {
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    server.close();
  });
  /** Answers every held request (404) and stops holding new ones. */
  const release = (): void => {
    state.hang = false;
    for (const res of hanging.splice(0)) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"NAME_UNKNOWN"}]}');
    }
  };
  /** Resolves once `n` requests are held. */
  const held = (n: number): Promise<void> =>
    hanging.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }));
  return { host, seen, hanging, release, held };
}

class Api implements WatcherApi {
  constructor(private readonly images: string[]) {}
  workloads(): WorkloadView[] {
    return [
      {
        namespace: 'shop',
        kind: 'Deployment',
        name: 'web',
        mode: 'NOTIFICATION',
        strategy: 'ALL',
        containers: this.images.map((image, i) => ({
          name: `c${i}`,
          image,
          currentVersion: '1.0.0',
          latestVersion: undefined,
          updateAvailable: false,
        })),
        lastCheck: undefined,
        lastError: undefined,
      },
    ];
  }
  snapshot() {
    return undefined;
  }
  manualUpdate(): never {
    throw new Error('not used');
  }
}

async function app(t: Test, host: string, extra: { allow?: string[] } = {}) {
  // As main.ts wires it: the API's own client, DOCKER_CONFIG credentials for this registry.
  const deps = apiDeps({
    kubeConfig: undefined,
    apiToken: API_TOKEN,
    resolveRegistries: extra.allow ?? [],
    registry: { maxAttempts: 1 },
    credentialsFor: (registry) => (registry === host ? { username: 'robot', password: 's3cret' } : undefined),
  });
  const a = await build({
    api: new Api([`${host}/shop/web:1.0.0`]),
    metrics: new WatcherMetrics({ defaultMetrics: false }),
    ready: () => true,
    ...deps,
  });
  t.teardown(() => a.close());
  return a;
}

t.test(
  'a registry no watched workload uses is never asked, unless RESOLVE_REGISTRIES lists it',
  async (t) => {
    const reg = await startRegistry(t);
    const a = await app(t, reg.host);
    for (const url of [
      '/api/v1/resolve?image=10.0.0.1:6379/x:1.0.0',
      '/api/v1/resolve?image=127.1:22/x:1.0.0',
      '/api/v1/resolve?image=0x7f000001:8080/x:1.0.0',
      '/api/v1/resolve?image=localhost:9/x:1.0.0',
      '/images/org/img/1.0.0',
    ]) {
      const res = await a.inject({ url, headers: AUTH });
      t.equal(res.statusCode, 403, url);
      t.match(res.json(), { error: /not used by a watched workload/ });
    }
    t.same(reg.seen, [], 'no request left the watcher');

    const other = await startRegistry(t);
    const allowed = await app(t, reg.host, { allow: [other.host] });
    const res = await allowed.inject({ url: `/api/v1/resolve?image=${other.host}/x/y:1.0.0`, headers: AUTH });
    t.equal(res.statusCode, 404, 'an allowed registry is asked');
    t.match(other.seen, [{ path: '/v2/x/y/tags/list', authorization: undefined }], 'anonymously');
  },
);

t.test('the watcher credentials go only to repositories a watched workload uses', async (t) => {
  const reg = await startRegistry(t);
  const a = await app(t, reg.host);
  const watched = await a.inject({ url: `/api/v1/resolve?image=${reg.host}/shop/web:1.0.0`, headers: AUTH });
  t.equal(watched.statusCode, 200);
  t.match(watched.json(), { latest: '1.1.0' });
  t.ok(
    reg.seen.some((s) => s.path === '/v2/shop/web/tags/list' && s.authorization?.startsWith('Basic ')),
    'a watched repository: with DOCKER_CONFIG credentials',
  );

  reg.seen.length = 0;
  const other = await a.inject({ url: `/api/v1/resolve?image=${reg.host}/private/db:1.0.0`, headers: AUTH });
  t.not(other.statusCode, 200, 'a private repository nobody watches stays private');
  t.ok(reg.seen.length > 0, 'the registry was asked');
  t.same(
    reg.seen.filter((s) => s.authorization !== undefined),
    [],
    'anonymously: no credentials sent, not even after the 401 challenge',
  );
});

t.test(
  '600 resolves for hanging repositories: bounded, 429 with Retry-After, workload checks unaffected',
  async (t) => {
    const reg = await startRegistry(t);
    const a = await app(t, reg.host);
    const answers = Array.from({ length: 600 }, (_, i) =>
      a.inject({ url: `/api/v1/resolve?image=${reg.host}/hang/r${i}:1.0.0`, headers: AUTH }),
    );
    // 2 asking the registry, 16 queued, 582 refused at once: wait for those 582 answers.
    const settled: { statusCode: number; headers: Record<string, unknown> }[] = [];
    await new Promise<void>((resolve) => {
      for (const p of answers) {
        void p.then((r) => {
          settled.push(r);
          if (settled.length === 582) resolve();
        });
      }
    });
    t.equal(settled.filter((r) => r.statusCode === 429).length, 582, 'the rest are refused with 429');
    t.equal(settled[0]?.headers['retry-after'], '5');
    await reg.held(2);
    t.equal(reg.hanging.length, 2, 'at most two API requests reach the registry');

    // A workload check uses the controller's own client: not queued behind the API's requests.
    const checks = createRegistryClient({
      defaultCredentials: () => ({ username: 'robot', password: 's3cret' }),
      maxAttempts: 1,
    });
    t.same(await checks.listTags(parseImageReference(`${reg.host}/shop/web:1.0.0`)), [
      '1.0.0',
      '1.0.1',
      '1.1.0',
    ]);
    t.equal(reg.hanging.length, 2, 'still only two held');
    for (const res of reg.hanging) res.destroy();
  },
);

t.test('BoundedQueue runs, queues and refuses; a slot passes straight to the next', async (t) => {
  const q = new BoundedQueue({ concurrency: 1, maxQueued: 1, retryAfterSeconds: 7 });
  let release!: () => void;
  const first = q.run(() => new Promise<string>((r) => (release = () => r('first'))));
  const second = q.run(() => Promise.resolve('second'));
  t.equal(q.running, 1);
  t.equal(q.queued, 1);
  await t.rejects(
    q.run(() => Promise.resolve('third')),
    ResolveBusyError,
  );
  await q
    .run(() => Promise.resolve('x'))
    .catch((err: unknown) => t.equal((err as ResolveBusyError).retryAfterSeconds, 7));
  release();
  t.same(await Promise.all([first, second]), ['first', 'second']);
  t.equal(q.running, 0);
  const failing = q.run(() => Promise.reject(new Error('boom')));
  await t.rejects(failing, /boom/);
  t.equal(q.running, 0, 'a failed task frees its slot');
});

t.test('ResolvePolicy: registries compared case-insensitively, unparsable images ignored', (t) => {
  let now = 0;
  let images = ['Registry.Example:5000/team/app:1', 'not a valid image ::'];
  const policy = new ResolvePolicy({
    watchedImages: () => images,
    allowRegistries: ['ghcr.io'],
    credentialsFor: () => ({ username: 'u', password: 'p' }),
    now: () => now,
  });
  const plan = (s: string) => policy.plan(parseImageReference(s));
  t.same(plan('registry.example:5000/team/app:2').credentials, { username: 'u', password: 'p' });
  t.equal(plan('registry.example:5000/team/other:2').credentials, ANONYMOUS);
  t.equal(plan('ghcr.io/x/y:1').credentials, ANONYMOUS, 'allowed, anonymously');
  t.throws(() => plan('quay.io/x/y:1'), { code: 'E_RESOLVE_NOT_ALLOWED' });
  images = ['quay.io/x/y:1'];
  t.doesNotThrow(() => plan('registry.example:5000/team/app:2'), 'the watched set is reused for a while');
  now = 5000;
  t.throws(() => plan('registry.example:5000/team/app:2'), { code: 'E_RESOLVE_NOT_ALLOWED' }, 'then rebuilt');
  t.end();
});

t.test('ApiAccess is required: without it every resolve is a 401', async (t) => {
  const a = await build({
    api: new Api(['nginx:1']),
    registry: { listTags: () => Promise.resolve([]) },
    metrics: new WatcherMetrics({ defaultMetrics: false }),
    ready: () => true,
  });
  t.teardown(() => a.close());
  t.equal((await a.inject('/api/v1/resolve?image=nginx:1')).statusCode, 401);
  t.equal(
    (await a.inject({ url: '/api/v1/workloads', headers: AUTH })).statusCode,
    401,
    'no token configured',
  );
  t.ok(new ApiAccess({ now: Date.now }));
});
