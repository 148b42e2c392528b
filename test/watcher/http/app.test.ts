import type { FastifyPluginAsync } from 'fastify';
import t from 'tap';
import type { ImageReference } from '../../../shared/image-ref.ts';
import { canonicalName } from '../../../shared/image-ref.ts';
import { ManualUpdateError } from '../../../watcher/api.ts';
import type { ManualUpdateResult, WorkloadView } from '../../../watcher/api.ts';
import type { AppDeps, WatcherApi } from '../../../watcher/http/app.ts';
import { ApiAccess } from '../../../watcher/http/access.ts';
import { build, tokensMatch } from '../../../watcher/http/app.ts';
import type { WorkloadKind, WorkloadSnapshot } from '../../../watcher/kube/types.ts';
import { WatcherMetrics } from '../../../watcher/metrics.ts';
import { RegistryError } from '../../../watcher/registry/errors.ts';
import { snapshotOf } from '../../support/snapshot.ts';

// Options fastify deprecates print a warning line into the watcher's JSON log (the README's jq reads it).
const warnings: string[] = [];
process.on('warning', (w) => warnings.push(`${w.name}: ${w.message}`));

const TOKEN = 'tok_0123456789abcdef';
const API_TOKEN = 'api_0123456789abcdef';

function snapshot(name: string, annotations: Record<string, string>): WorkloadSnapshot {
  return snapshotOf({ name, uid: name, annotations });
}

class FakeApi implements WatcherApi {
  calls: { kind: WorkloadKind; name: string; version?: string | undefined }[] = [];
  snapshots = [
    snapshot('web', { 'image-watcher/token-update': TOKEN }),
    snapshot('off', { 'image-watcher/token-update': TOKEN, 'image-watcher/mode': 'DISABLED' }),
  ];
  workloads(): WorkloadView[] {
    return [
      {
        namespace: 'shop',
        kind: 'Deployment',
        name: 'web',
        mode: 'NOTIFICATION',
        strategy: 'ALL',
        containers: [
          {
            name: 'app',
            image: 'nginx:1.25.0',
            currentVersion: '1.25.0',
            latestVersion: '1.26.0',
            updateAvailable: true,
          },
        ],
        lastCheck: '2026-11-23T10:00:00.000Z',
        lastError: undefined,
      },
    ];
  }
  snapshot(kind: WorkloadKind, namespace: string, name: string): WorkloadSnapshot | undefined {
    return this.snapshots.find((s) => s.kind === kind && s.namespace === namespace && s.name === name);
  }
  manualUpdate(req: {
    kind: WorkloadKind;
    namespace: string;
    name: string;
    version?: string | undefined;
  }): Promise<ManualUpdateResult> {
    this.calls.push(req);
    if (req.name === 'off')
      return Promise.reject(
        new ManualUpdateError('E_DISABLED', 'Deployment shop/off has image-watcher/mode DISABLED'),
      );
    if (req.version === '0.1.0')
      return Promise.reject(new ManualUpdateError('E_BAD_VERSION', '0.1.0 is lower than the running 1.25.0'));
    return Promise.resolve({
      status: 'updating',
      changes: [{ container: 'app', from: '1.25.0', to: req.version ?? '1.26.0' }],
    });
  }
}

const registry: AppDeps['registry'] = {
  listTags(ref: ImageReference): Promise<string[]> {
    const name = canonicalName(ref);
    if (name === 'docker.io/library/nginx') return Promise.resolve(['1.25.0', '1.25.2', '1.26.0', '2.0.0']);
    if (name === 'docker.io/mojaloop/central-ledger')
      return Promise.resolve([
        'v13.1.0',
        'v13.1.1',
        'v13.2.0',
        'v14.0.0',
        'v13.1.0-patch.1',
        'v13.1.0-patch.3',
      ]);
    return Promise.reject(new RegistryError('E_REGISTRY_NOT_FOUND', `repository ${name} not found`));
  },
};

async function app(t: { teardown(fn: () => unknown): void }, over: Partial<AppDeps> = {}) {
  const api = new FakeApi();
  const metrics = new WatcherMetrics({ defaultMetrics: true });
  const access = new ApiAccess({ apiToken: API_TOKEN, now: Date.now });
  const a = await build({ api, registry, metrics, ready: () => true, access, ...over });
  t.teardown(() => a.close());
  /** A GET with the API token. */
  const get = (url: string) => a.inject({ url, headers: { authorization: `Bearer ${API_TOKEN}` } });
  return { a, api, metrics, get };
}

t.test('health, readiness and metrics', async (t) => {
  let ready = false;
  const { a } = await app(t, { ready: () => ready });
  t.equal((await a.inject('/healthz')).statusCode, 200);
  t.equal((await a.inject('/readyz')).statusCode, 503, 'not ready before the informers synced');
  ready = true;
  t.equal((await a.inject('/readyz')).statusCode, 200);
  const m = await a.inject('/metrics');
  t.equal(m.statusCode, 200);
  t.match(m.headers['content-type'], /text\/plain/);
  t.match(m.body, /process_cpu_user_seconds_total/, 'default process metrics');
  t.match(m.body, /# TYPE image_watcher_image_outdated gauge/);
});

t.test('GET /api/v1/workloads lists the watched workloads', async (t) => {
  const { get } = await app(t);
  const res = await get('/api/v1/workloads');
  t.equal(res.statusCode, 200);
  t.match(res.json(), {
    workloads: [
      { name: 'web', mode: 'NOTIFICATION', containers: [{ latestVersion: '1.26.0', updateAvailable: true }] },
    ],
  });
});

t.test('GET /api/v1/resolve answers and validates', async (t) => {
  const { get } = await app(t);
  const cases: { name: string; url: string; status: number; body: object }[] = [
    {
      name: 'the newest of any major by default',
      url: '/api/v1/resolve?image=nginx:1.25.0',
      status: 200,
      body: {
        image: 'nginx:1.25.0',
        current: '1.25.0',
        latest: '2.0.0',
        fullImage: 'nginx:2.0.0',
        updateAvailable: true,
      },
    },
    {
      name: 'strategy is case-insensitive',
      url: '/api/v1/resolve?image=nginx:1.25.0&strategy=patch',
      status: 200,
      body: { latest: '1.25.2' },
    },
    {
      name: 'up to date says so',
      url: '/api/v1/resolve?image=nginx:2.0.0',
      status: 200,
      body: { latest: '2.0.0', updateAvailable: false },
    },
    { name: 'a missing image is a 400', url: '/api/v1/resolve', status: 400, body: { error: /image/ } },
    {
      name: 'a bad strategy is a 400 naming the allowed ones',
      url: '/api/v1/resolve?image=nginx:1.25.0&strategy=SOON',
      status: 400,
      body: { error: /ALL, MAJOR, MINOR, PATCH/ },
    },
    {
      name: 'an invalid reference is a 400',
      url: '/api/v1/resolve?image=NGINX::',
      status: 400,
      body: { error: /./ },
    },
    {
      name: 'an unknown repository is a 404',
      url: '/api/v1/resolve?image=nope/nope:1.0.0',
      status: 404,
      body: { error: /not found/ },
    },
  ];
  for (const c of cases) {
    const res = await get(c.url);
    t.equal(res.statusCode, c.status, `${c.name}: status`);
    t.match(res.json(), c.body, c.name);
  }
});

t.test('GET /images/{org}/{image}/{tag} speaks the mojaloop API', async (t) => {
  const { get } = await app(t);
  const base = '/images/mojaloop/central-ledger/v13.1.0';
  const cases: { strategy: string; want: string }[] = [
    { strategy: 'major', want: 'v14.0.0' },
    { strategy: 'minor', want: 'v13.2.0' },
    { strategy: 'bugfix', want: 'v13.1.1' },
    { strategy: 'patch', want: 'v13.1.0-patch.3' },
  ];
  for (const c of cases) {
    const res = await get(`${base}?strategy=${c.strategy}`);
    t.same(
      res.json(),
      { tag: c.want, fullImage: `mojaloop/central-ledger:${c.want}` },
      `strategy ${c.strategy}`,
    );
  }
  t.equal((await get(`${base}?strategy=sideways`)).statusCode, 400, 'unknown strategy');
});

t.test('POST .../update needs the workload token and leaks nothing', async (t) => {
  const { a, api } = await app(t);
  const url = '/api/v1/workloads/shop/deployment/web/update';
  const cases: { name: string; url: string; auth?: string; status: number }[] = [
    { name: 'no token', url, status: 403 },
    { name: 'a wrong token', url, auth: 'Bearer nope', status: 403 },
    { name: 'a token of the wrong length', url, auth: `Bearer ${TOKEN}x`, status: 403 },
    { name: 'not a bearer token', url, auth: `Basic ${TOKEN}`, status: 403 },
    {
      name: 'an unknown workload looks the same as a wrong token',
      url: '/api/v1/workloads/shop/deployment/ghost/update',
      auth: `Bearer ${TOKEN}`,
      status: 403,
    },
    {
      name: 'an unknown kind looks the same too',
      url: '/api/v1/workloads/shop/pod/web/update',
      auth: `Bearer ${TOKEN}`,
      status: 403,
    },
  ];
  for (const c of cases) {
    const res = await a.inject({
      method: 'POST',
      url: c.url,
      headers: c.auth ? { authorization: c.auth } : {},
    });
    t.equal(res.statusCode, c.status, c.name);
    t.same(res.json(), { error: 'forbidden' }, `${c.name}: no detail`);
  }
  t.equal(api.calls.length, 0, 'nothing was attempted');

  const ok = await a.inject({ method: 'POST', url, headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(ok.statusCode, 202);
  t.match(ok.json(), { status: 'updating', changes: [{ from: '1.25.0', to: '1.26.0' }] });
  const pinned = await a.inject({
    method: 'POST',
    url: `${url}?version=1.25.2`,
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  t.match(pinned.json(), { changes: [{ to: '1.25.2' }] });
  t.equal(api.calls[1]?.version, '1.25.2');
  const lower = await a.inject({
    method: 'POST',
    url: `${url}?version=0.1.0`,
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  t.equal(lower.statusCode, 400);
  t.match(lower.json(), { code: 'E_BAD_VERSION', error: /lower/ });
  const off = await a.inject({
    method: 'POST',
    url: '/api/v1/workloads/shop/Deployment/off/update',
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  t.equal(off.statusCode, 409);
  t.match(off.json(), { code: 'E_DISABLED', error: /DISABLED/ });
});

t.test('tokensMatch compares in constant time and refuses empty tokens', (t) => {
  t.ok(tokensMatch(TOKEN, TOKEN));
  t.notOk(tokensMatch(TOKEN, undefined));
  t.notOk(tokensMatch('', ''));
  t.notOk(tokensMatch('a', 'b'));
  t.end();
});

t.test('the approval plugin is registered when given', async (t) => {
  const plugin: FastifyPluginAsync<never> = (instance) => {
    instance.get('/approve/ping', () => ({ pong: true }));
    return Promise.resolve();
  };
  const { a } = await app(t, { approval: { plugin, options: {} } });
  t.same((await a.inject('/approve/ping')).json(), { pong: true });
});

t.test('path parameters are checked by their schema', async (t) => {
  const { a } = await app(t);
  const update = (kind: string) =>
    a.inject({
      method: 'POST',
      url: `/api/v1/workloads/shop/${kind}/web/update`,
      headers: { authorization: `Bearer ${TOKEN}` },
    });
  const long = await update('k'.repeat(33));
  t.equal(long.statusCode, 400, 'a 33-character kind');
  t.match(long.json(), { error: /params\/kind must NOT have more than 32 characters/ });
  t.equal((await update('k'.repeat(32))).statusCode, 403, 'a 32-character kind is looked up (and unknown)');
  t.equal((await update('deployment')).statusCode, 202);
});

t.test(
  "a Kubernetes name of 253 characters reaches the route; longer ones get the schema's 400",
  async (t) => {
    const { a, get } = await app(t);
    const update = (name: string) =>
      a.inject({
        method: 'POST',
        url: `/api/v1/workloads/shop/deployment/${name}/update`,
        headers: { authorization: `Bearer ${TOKEN}` },
      });
    t.equal((await update('w'.repeat(253))).statusCode, 403, 'looked up (and unknown), not 414');
    const long = await update('w'.repeat(254));
    t.equal(long.statusCode, 400);
    t.match(long.json(), { error: /params\/name must NOT have more than 253 characters/ });
    const tag = await get(`/images/mojaloop/central-ledger/v${'1'.repeat(128)}`);
    t.equal(tag.statusCode, 400, 'a 129-character tag');
    t.match(tag.json(), { error: /params\/tag must NOT have more than 128 characters/ });
  },
);

t.test('building the app prints no fastify deprecation warning', (t) => {
  t.same(
    warnings.filter((w) => /fastify/i.test(w)),
    [],
  );
  t.end();
});
