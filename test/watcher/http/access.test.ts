// Who may call the watcher's API: unit tests of the cached decisions, then the real app with the
// real client-node against the fake API server's TokenReview and SubjectAccessReview.
import t from 'tap';
import type { Test } from 'tap';
import type { ManualUpdateResult, WorkloadView } from '../../../watcher/controller/index.ts';
import type { IdentityReviewer, KubeUser, ResourceAccess } from '../../../watcher/http/access.ts';
import { ApiAccess, TtlCache, bearerToken } from '../../../watcher/http/access.ts';
import type { RouteAccess, WatcherApi } from '../../../watcher/http/app.ts';
import { build } from '../../../watcher/http/app.ts';
import { kubeIdentityReviewer } from '../../../watcher/http/kube-review.ts';
import type { WorkloadKind, WorkloadSnapshot } from '../../../watcher/kube/types.ts';
import { WatcherMetrics } from '../../../watcher/metrics.ts';
import { startFakeKube } from '../../support/fake-kube/index.ts';
import { snapshotOf } from '../../support/snapshot.ts';

class CountingReviewer implements IdentityReviewer {
  tokenCalls = 0;
  accessCalls = 0;
  fail = false;
  users = new Map<string, KubeUser>([['good', { username: 'alice', groups: ['dev'] }]]);
  allowed = new Set<string>(['alice list workloads']);
  gate: Promise<void> | undefined;
  reviewToken(token: string): Promise<KubeUser | undefined> {
    this.tokenCalls += 1;
    if (this.fail) return Promise.reject(new Error('API server down'));
    const user = this.users.get(token);
    return (this.gate ?? Promise.resolve()).then(() => user);
  }
  reviewAccess(user: KubeUser, a: ResourceAccess): Promise<boolean> {
    this.accessCalls += 1;
    if (this.fail) return Promise.reject(new Error('API server down'));
    return Promise.resolve(this.allowed.has(`${user.username} ${a.verb} ${a.resource}`));
  }
}

const LIST: ResourceAccess = { verb: 'list', resource: 'workloads' };

t.test('bearerToken reads only a well-formed bearer header', (t) => {
  t.equal(bearerToken('Bearer abc'), 'abc');
  t.equal(bearerToken('bearer  abc  '), 'abc');
  t.equal(bearerToken('Basic abc'), undefined);
  t.equal(bearerToken('Bearer a b'), undefined);
  t.equal(bearerToken(undefined), undefined);
  t.equal(bearerToken(`Bearer ${'x'.repeat(9000)}`), undefined, 'absurdly long tokens are not reviewed');
  t.end();
});

t.test('TtlCache expires entries and drops the oldest when full', (t) => {
  let now = 0;
  const c = new TtlCache<number>(2, () => now);
  c.set('a', 1, 100);
  c.set('b', 2, 100);
  c.set('c', 3, 100);
  t.equal(c.size, 2);
  t.equal(c.get('a'), undefined, 'oldest dropped');
  t.equal(c.get('c'), 3);
  now = 100;
  t.equal(c.get('c'), undefined, 'expired');
  t.end();
});

t.test('ApiAccess: API token, cached reviews, bounded caches, failures not cached', async (t) => {
  let now = 0;
  const reviewer = new CountingReviewer();
  const access = new ApiAccess({
    apiToken: 'static-token-0123456789',
    reviewer,
    now: () => now,
    positiveTtlMs: 1000,
    negativeTtlMs: 100,
    maxEntries: 8,
  });
  t.same(await access.decide(undefined, LIST), { result: 'unauthenticated' });
  t.same(await access.decide('Bearer static-token-0123456789', undefined), {
    result: 'allowed',
    caller: 'API_TOKEN',
  });
  t.equal(reviewer.tokenCalls, 0, 'the API token needs no review');

  t.same(await access.decide('Bearer good', LIST), { result: 'allowed', caller: 'alice' });
  t.same(await access.decide('Bearer good', LIST), { result: 'allowed', caller: 'alice' });
  t.equal(reviewer.tokenCalls, 1, 'the token review is cached');
  t.equal(reviewer.accessCalls, 1, 'the access review is cached');
  t.same(await access.decide('Bearer good', { verb: 'get', resource: 'images' }), { result: 'forbidden' });
  t.same(
    await access.decide('Bearer good', undefined),
    { result: 'forbidden' },
    'undeclared routes: API token only',
  );

  t.same(await access.decide('Bearer bad', LIST), { result: 'unauthenticated' });
  t.same(await access.decide('Bearer bad', LIST), { result: 'unauthenticated' });
  t.equal(reviewer.tokenCalls, 2, 'a refused token is cached too');
  now = 100;
  await access.decide('Bearer bad', LIST);
  t.equal(reviewer.tokenCalls, 3, 'for the shorter negative TTL');
  now = 1000;
  await access.decide('Bearer good', LIST);
  t.equal(reviewer.tokenCalls, 4, 'a positive answer expires too (a revoked token stops working)');

  for (let i = 0; i < 50; i++) await access.decide(`Bearer random-${i}`, LIST);
  t.equal(reviewer.tokenCalls, 54);
  await access.decide('Bearer random-0', LIST);
  t.equal(reviewer.tokenCalls, 55, 'the cache holds at most maxEntries tokens: the oldest were dropped');

  reviewer.fail = true;
  t.same(await access.decide('Bearer other', LIST), { result: 'unavailable' });
  reviewer.fail = false;
  t.same(await access.decide('Bearer other', LIST), { result: 'unauthenticated' }, 'a failure is not cached');
});

t.test('ApiAccess: concurrent asks share one review; too many distinct ones are refused', async (t) => {
  const reviewer = new CountingReviewer();
  let open!: () => void;
  reviewer.gate = new Promise((resolve) => (open = resolve));
  const access = new ApiAccess({ reviewer, now: () => 0, maxInFlight: 2 });
  const same = [access.decide('Bearer good', LIST), access.decide('Bearer good', LIST)];
  const other = access.decide('Bearer x', LIST);
  t.same(
    await access.decide('Bearer y', LIST),
    { result: 'unavailable' },
    'a third distinct review waits for none',
  );
  open();
  t.same(await Promise.all(same), [
    { result: 'allowed', caller: 'alice' },
    { result: 'allowed', caller: 'alice' },
  ]);
  t.same(await other, { result: 'unauthenticated' });
  t.equal(reviewer.tokenCalls, 2, 'one review per distinct token');
});

// ---- the real app against the fake API server ------------------------------------------------

const WORKLOAD_TOKEN = 'tok_0123456789abcdef';
const API_TOKEN = 'api_0123456789abcdef';

function snapshot(namespace: string, name: string): WorkloadSnapshot {
  return snapshotOf({
    namespace,
    name,
    uid: name,
    annotations: { 'image-watcher/token-update': WORKLOAD_TOKEN },
  });
}

class Api implements WatcherApi {
  updates: string[] = [];
  snapshots = [snapshot('shop', 'web'), snapshot('prod', 'web')];
  workloads(): WorkloadView[] {
    return this.snapshots.map((s) => ({
      namespace: s.namespace,
      kind: s.kind,
      name: s.name,
      mode: 'NOTIFICATION',
      strategy: 'ALL',
      containers: [
        {
          name: 'app',
          image: 'nginx:1.25.0',
          currentVersion: '1.25.0',
          latestVersion: undefined,
          updateAvailable: false,
        },
      ],
      lastCheck: undefined,
      lastError: undefined,
    }));
  }
  snapshot(kind: WorkloadKind, namespace: string, name: string): WorkloadSnapshot | undefined {
    return this.snapshots.find((s) => s.kind === kind && s.namespace === namespace && s.name === name);
  }
  manualUpdate(req: { namespace: string; name: string }): Promise<ManualUpdateResult> {
    this.updates.push(`${req.namespace}/${req.name}`);
    return Promise.resolve({
      status: 'updating',
      changes: [{ container: 'app', from: '1.25.0', to: '1.26.0' }],
    });
  }
}

async function kubeApp(t: Test) {
  const kube = await startFakeKube({
    identities: {
      'reader-token': { username: 'system:serviceaccount:ops:dashboard', groups: ['system:serviceaccounts'] },
      'alice-token': { username: 'alice', groups: ['dev'] },
      'nobody-token': { username: 'mallory' },
    },
    // What binding manifests/watcher/api-roles.yaml's ClusterRoles amounts to.
    accessRules: [
      {
        name: 'dashboard-reads',
        users: ['system:serviceaccount:ops:dashboard'],
        verbs: ['list', 'get'],
        apiGroups: ['image-watcher.io'],
        resources: ['workloads', 'images'],
      },
      {
        name: 'alice-updates-shop',
        users: ['alice'],
        namespaces: ['shop'],
        verbs: ['update'],
        apiGroups: ['image-watcher.io'],
        resources: ['workloads'],
      },
    ],
  });
  t.teardown(() => kube.close());
  const api = new Api();
  const app = await build({
    api,
    registry: { listTags: () => Promise.resolve(['1.25.0', '1.26.0']) },
    metrics: new WatcherMetrics({ defaultMetrics: false }),
    ready: () => true,
    access: new ApiAccess({
      apiToken: API_TOKEN,
      reviewer: kubeIdentityReviewer({ kubeConfig: kube.kubeConfig() }),
      now: Date.now,
    }),
  });
  // A registry receiver as the later issue will add it: authenticates by its own rules.
  const receiver: RouteAccess = 'own';
  await app.register((instance) => {
    instance.post('/api/v1/webhooks/distribution', { config: { access: receiver } }, () => ({
      received: true,
    }));
    return Promise.resolve();
  });
  t.teardown(() => app.close());
  const call = (method: 'GET' | 'POST', url: string, token?: string) =>
    app.inject({ method, url, headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { kube, api, app, call };
}

t.test(
  'every /api/v1 and /images route needs an identity; health, metrics and receivers do not',
  async (t) => {
    const { call } = await kubeApp(t);
    const guarded = [
      '/api/v1/workloads',
      '/api/v1/resolve?image=nginx:1.25.0',
      '/images/library/nginx/1.25.0',
      '/api/v1/nothing-here',
      '/API/V1/workloads',
      '/images',
    ];
    for (const url of guarded) {
      for (const token of [undefined, 'forged-token']) {
        const res = await call('GET', url, token);
        t.equal(res.statusCode, 401, `${url} ${token ?? 'without a token'}: 401`);
        t.same(res.json(), { error: 'unauthorized' }, 'no detail');
        t.equal(res.headers['www-authenticate'], 'Bearer');
      }
    }
    for (const url of ['/healthz', '/readyz', '/metrics'])
      t.equal((await call('GET', url)).statusCode, 200, url);
    t.same(
      (await call('POST', '/api/v1/webhooks/distribution')).json(),
      { received: true },
      'receivers: own rules',
    );
    t.equal(
      (await call('GET', '/api/v1/nothing-here', API_TOKEN)).statusCode,
      404,
      'the API token sees 404s',
    );
    t.equal(
      (await call('GET', '/api/v1/nothing-here', 'reader-token')).statusCode,
      403,
      'an undeclared route is API_TOKEN-only',
    );
  },
);

t.test('readers read, updaters update in their namespace, others get 403', async (t) => {
  const { kube, api, call } = await kubeApp(t);
  t.equal((await call('GET', '/api/v1/workloads', 'reader-token')).statusCode, 200);
  t.equal((await call('GET', '/api/v1/resolve?image=nginx:1.25.0', 'reader-token')).statusCode, 200);
  t.equal((await call('GET', '/images/library/nginx/1.25.0', 'reader-token')).statusCode, 200);
  t.equal((await call('GET', '/api/v1/workloads', API_TOKEN)).statusCode, 200);

  const forbidden = await call('GET', '/api/v1/workloads', 'nobody-token');
  t.equal(forbidden.statusCode, 403);
  t.same(forbidden.json(), { error: 'forbidden' });
  t.equal((await call('GET', '/api/v1/workloads', 'alice-token')).statusCode, 403, 'alice may not read');

  const update = (ns: string, token?: string) =>
    call('POST', `/api/v1/workloads/${ns}/deployment/web/update`, token);
  t.equal((await update('shop', 'alice-token')).statusCode, 202, 'alice updates in shop');
  t.equal((await update('prod', 'alice-token')).statusCode, 403, 'not in prod');
  t.equal((await update('shop', 'reader-token')).statusCode, 403, 'readers do not update');
  t.equal((await update('prod', WORKLOAD_TOKEN)).statusCode, 202, "the workload's token-update still works");
  t.equal((await update('prod', API_TOKEN)).statusCode, 202, 'API_TOKEN may update');
  t.equal((await update('prod')).statusCode, 403, 'no token on the update route: 403 as before');
  t.same(api.updates, ['shop/web', 'prod/web', 'prod/web']);

  const sars = kube.requestsMatching({ method: 'POST', pathPattern: '/subjectaccessreviews' });
  t.match(
    sars.map((r) => r.body),
    [
      {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: 'system:serviceaccount:ops:dashboard',
          groups: ['system:serviceaccounts', 'system:authenticated'],
          resourceAttributes: {
            group: 'image-watcher.io',
            version: 'v1',
            resource: 'workloads',
            verb: 'list',
          },
        },
      },
    ],
  );
  const updateReview = sars.find(
    (r) =>
      (r.body as { spec: { resourceAttributes: { verb: string } } }).spec.resourceAttributes.verb ===
      'update',
  );
  t.match(
    updateReview?.body,
    {
      spec: {
        user: 'alice',
        resourceAttributes: {
          group: 'image-watcher.io',
          resource: 'workloads',
          verb: 'update',
          namespace: 'shop',
          name: 'web',
        },
      },
    },
    'the update asks for update on workloads in the namespace, by name',
  );
  const before = kube.requestsMatching({ method: 'POST', pathPattern: '/tokenreviews' }).length;
  await call('GET', '/api/v1/workloads', 'reader-token');
  t.equal(kube.requestsMatching({ method: 'POST', pathPattern: '/tokenreviews' }).length, before, 'cached');
});

t.test('the API server unreachable: 503, nothing allowed', async (t) => {
  const { kube, call } = await kubeApp(t);
  kube.injectFault({ pathPattern: '/tokenreviews', status: 500, times: Infinity });
  const res = await call('GET', '/api/v1/workloads', 'reader-token');
  t.equal(res.statusCode, 503);
  t.equal(res.headers['retry-after'], '1');
});
