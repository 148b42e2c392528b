import t, { type Test } from 'tap';
import * as k8s from '@kubernetes/client-node';
import { startFakeKube, type FakeKube, type FakeKubeOptions } from '../support/fake-kube/index.ts';
import { until } from '../support/until.ts';

const JSON_PATCH = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);
const MERGE_PATCH = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const STRATEGIC_PATCH = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);

function deployment(name: string, image = 'nginx:1.25.0', namespace = 'default') {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace,
      annotations: { 'image-watcher/mode': 'AUTO_UPDATE' },
      labels: { app: name },
    },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image, env: [{ name: 'A', value: '1' }] }] },
      },
    },
  };
}

async function start(t: Test, opts?: FakeKubeOptions): Promise<FakeKube> {
  const kube = await startFakeKube(opts);
  t.teardown(() => kube.close());
  return kube;
}

async function rejection(p: Promise<unknown>): Promise<k8s.ApiException<string>> {
  try {
    await p;
  } catch (err) {
    return err as k8s.ApiException<string>;
  }
  throw new Error('expected the call to fail');
}

function imageOf(o: { spec?: unknown } | undefined): string | undefined {
  return (o?.spec as k8s.V1DeploymentSpec | undefined)?.template.spec?.containers[0]?.image;
}

const waitFor = (what: string, cond: () => boolean, ms = 3000) => until(what, cond, ms, 5);

t.test('get, list, create and replace work through AppsV1Api', async (t) => {
  const kube = await start(t);
  const [seeded] = kube.seed(deployment('web'));
  const apps = kube.kubeConfig().makeApiClient(k8s.AppsV1Api);

  const got = await apps.readNamespacedDeployment({ name: 'web', namespace: 'default' });
  t.equal(got.metadata?.uid, seeded!.metadata.uid);
  t.equal(got.metadata?.generation, 1);
  t.match(got.metadata?.creationTimestamp, Date);
  t.equal(got.status?.observedGeneration, 1, 'seeded workloads look rolled out');

  const created = await apps.createNamespacedStatefulSet({
    namespace: 'team-a',
    body: {
      metadata: { name: 'db' },
      spec: {
        selector: {},
        serviceName: 'db',
        template: { spec: { containers: [{ name: 'db', image: 'postgres:16' }] } },
      },
    },
  });
  t.equal(created.metadata?.namespace, 'team-a');
  t.ok(
    Number(created.metadata?.resourceVersion) > Number(got.metadata?.resourceVersion),
    'resourceVersion grows',
  );

  const all = await apps.listDeploymentForAllNamespaces();
  t.equal(all.items.length, 1);
  t.ok(
    Number(all.metadata?.resourceVersion) >= Number(created.metadata?.resourceVersion),
    'the list carries the current resourceVersion',
  );
  const sts = await apps.listNamespacedStatefulSet({ namespace: 'team-a' });
  t.same(
    sts.items.map((i) => i.metadata?.name),
    ['db'],
  );
  t.equal((await apps.listNamespacedStatefulSet({ namespace: 'other' })).items.length, 0);

  got.metadata!.labels = { app: 'web', tier: 'front' };
  const relabelled = await apps.replaceNamespacedDeployment({ name: 'web', namespace: 'default', body: got });
  t.equal(relabelled.metadata?.generation, 1, 'a metadata change keeps the generation');
  relabelled.spec!.replicas = 3;
  const scaled = await apps.replaceNamespacedDeployment({
    name: 'web',
    namespace: 'default',
    body: relabelled,
  });
  t.equal(scaled.metadata?.generation, 2, 'a spec change bumps the generation');

  const stale = await rejection(
    apps.replaceNamespacedDeployment({ name: 'web', namespace: 'default', body: got }),
  );
  t.equal(stale.code, 409, 'a stale resourceVersion is a conflict');
  t.match(JSON.parse(stale.body), { kind: 'Status', reason: 'Conflict', code: 409 });

  const missing = await rejection(apps.readNamespacedDeployment({ name: 'nope', namespace: 'default' }));
  t.equal(missing.code, 404);
  t.match(JSON.parse(missing.body), { kind: 'Status', reason: 'NotFound' });
});

t.test('json patch applies test operations and answers 422 when one fails', async (t) => {
  const kube = await start(t, { autoRollout: 'off' });
  kube.seed(deployment('web'));
  const apps = kube.kubeConfig().makeApiClient(k8s.AppsV1Api);
  const path = '/spec/template/spec/containers/0/image';

  const patched = await apps.patchNamespacedDeployment(
    {
      name: 'web',
      namespace: 'default',
      body: [
        { op: 'test', path, value: 'nginx:1.25.0' },
        { op: 'replace', path, value: 'nginx:1.26.0' },
        { op: 'add', path: '/metadata/annotations/image-watcher~1current-version', value: '1.26.0' },
      ],
    },
    JSON_PATCH,
  );
  t.equal(patched.spec?.template.spec?.containers[0]?.image, 'nginx:1.26.0');
  t.equal(patched.metadata?.annotations?.['image-watcher/current-version'], '1.26.0');
  t.equal(patched.metadata?.generation, 2);

  const failed = await rejection(
    apps.patchNamespacedDeployment(
      {
        name: 'web',
        namespace: 'default',
        body: [
          { op: 'test', path, value: 'nginx:1.25.0' },
          { op: 'replace', path, value: 'nginx:9' },
        ],
      },
      JSON_PATCH,
    ),
  );
  t.equal(failed.code, 422);
  t.equal(imageOf(kube.get('Deployment', 'default', 'web')), 'nginx:1.26.0', 'nothing changed');

  const rec = kube.requestsMatching({ method: 'PATCH' });
  t.equal(rec.length, 2);
  t.equal(rec[0]?.contentType, 'application/json-patch+json');
  t.match(rec[0]?.body, [{ op: 'test' }]);
});

t.test('merge and strategic merge patches', async (t) => {
  const kube = await start(t, { autoRollout: 'off' });
  kube.seed(deployment('web'));
  const apps = kube.kubeConfig().makeApiClient(k8s.AppsV1Api);

  const merged = await apps.patchNamespacedDeployment(
    {
      name: 'web',
      namespace: 'default',
      body: { metadata: { annotations: { 'image-watcher/mode': null, x: 'y' } } },
    },
    MERGE_PATCH,
  );
  t.same(merged.metadata?.annotations, { x: 'y' }, 'null deletes a key');

  const strategic = await apps.patchNamespacedDeployment(
    {
      name: 'web',
      namespace: 'default',
      body: {
        spec: {
          template: {
            spec: {
              containers: [
                { name: 'sidecar', image: 'busybox:1' },
                { name: 'app', env: [{ name: 'B', value: '2' }] },
              ],
            },
          },
        },
      },
    },
    STRATEGIC_PATCH,
  );
  const containers = strategic.spec?.template.spec?.containers ?? [];
  t.same(
    containers.map((c) => [c.name, c.image]),
    [
      ['app', 'nginx:1.25.0'],
      ['sidecar', 'busybox:1'],
    ],
    'containers merge by name',
  );
  t.same(
    containers[0]?.env?.map((e) => e.name),
    ['A', 'B'],
    'env merges by name',
  );

  const conflict = await rejection(
    apps.patchNamespacedDeployment(
      { name: 'web', namespace: 'default', body: { metadata: { resourceVersion: '1' } } },
      MERGE_PATCH,
    ),
  );
  t.equal(conflict.code, 409, 'a resourceVersion precondition in a patch is checked');
});

t.test('the informer sees adds, updates, deletes and relists after 410 Gone', async (t) => {
  const kube = await start(t, { autoRollout: 'off' });
  kube.seed(deployment('a'));
  const kc = kube.kubeConfig();
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const informer = k8s.makeInformer(kc, '/apis/apps/v1/deployments', () =>
    apps.listDeploymentForAllNamespaces(),
  );
  const seen: string[] = [];
  informer.on('add', (o) => seen.push(`add ${o.metadata?.name}`));
  informer.on('update', (o) => seen.push(`update ${o.metadata?.name}`));
  informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
  const errors: unknown[] = [];
  informer.on('error', (e) => errors.push(e));
  await informer.start();
  t.teardown(() => informer.stop());
  await waitFor('initial list', () => seen.length === 1);

  kube.seed(deployment('b'));
  kube.setStatus('Deployment', 'default', 'a', { observedGeneration: 1, replicas: 2 });
  kube.delete('Deployment', 'default', 'b');
  await waitFor('watch events', () => seen.length === 4);
  t.same(seen, ['add a', 'add b', 'update a', 'delete b']);

  // While the informer reconnects (held back 100 ms), a change happens and history is
  // compacted: resuming gets 410 and the informer relists.
  const lists = () =>
    kube.requestsMatching({ method: 'GET', watch: false, pathPattern: '/deployments' }).length;
  const before = lists();
  kube.injectFault({ watch: true, delayMs: 100 });
  kube.closeWatches();
  kube.seed(deployment('c'));
  kube.compactHistory();
  await waitFor('relist after 410', () => lists() > before && informer.list().length === 2);
  t.same(
    informer
      .list()
      .map((o) => o.metadata?.name)
      .sort(),
    ['a', 'c'],
  );
  t.same(errors, [], '410 is handled without an error');
});

t.test('watch streams from a resourceVersion with bookmarks and honours timeoutSeconds', async (t) => {
  const kube = await start(t, { bookmarkIntervalMs: 20 });
  kube.seed(deployment('a'));
  const rv = kube.resourceVersion;
  kube.seed(deployment('b'));
  const watch = new k8s.Watch(kube.kubeConfig());
  const events: string[] = [];
  let doneErr: unknown = 'not done';
  await watch.watch(
    '/apis/apps/v1/namespaces/default/deployments',
    { resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: 0.2 },
    (type, obj: k8s.V1Deployment) => events.push(`${type} ${obj.metadata?.name ?? ''}`),
    (err) => {
      doneErr = err;
    },
  );
  await waitFor('the watch to time out', () => doneErr !== 'not done');
  t.equal(doneErr, null, 'the server ends the stream cleanly');
  t.equal(events[0], 'ADDED b', 'only events after the resourceVersion');
  t.ok(events.includes('BOOKMARK '), 'bookmarks are sent when allowed');
});

t.test('a watch from a compacted resourceVersion gets an ERROR 410 event', async (t) => {
  const kube = await start(t);
  kube.seed(deployment('a'));
  kube.compactHistory();
  const events: { type: string; obj: unknown }[] = [];
  let done = false;
  await new k8s.Watch(kube.kubeConfig()).watch(
    '/apis/apps/v1/deployments',
    { resourceVersion: '1' },
    (type, obj) => events.push({ type, obj }),
    () => {
      done = true;
    },
  );
  await waitFor('the stream to end', () => done);
  t.match(events, [{ type: 'ERROR', obj: { kind: 'Status', code: 410, reason: 'Expired' } }]);
});

t.test('leases use optimistic concurrency', async (t) => {
  const kube = await start(t);
  const coord = kube.kubeConfig().makeApiClient(k8s.CoordinationV1Api);
  const lease = await coord.createNamespacedLease({
    namespace: 'image-watcher',
    body: { metadata: { name: 'leader' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } },
  });
  const again = await rejection(
    coord.createNamespacedLease({ namespace: 'image-watcher', body: { metadata: { name: 'leader' } } }),
  );
  t.equal(again.code, 409);
  t.match(JSON.parse(again.body), { reason: 'AlreadyExists' });
  lease.spec!.holderIdentity = 'b';
  const renewed = await coord.replaceNamespacedLease({
    name: 'leader',
    namespace: 'image-watcher',
    body: lease,
  });
  t.equal(renewed.spec?.holderIdentity, 'b');
  lease.spec!.holderIdentity = 'c';
  const lost = await rejection(
    coord.replaceNamespacedLease({ name: 'leader', namespace: 'image-watcher', body: lease }),
  );
  t.equal(lost.code, 409, 'the second writer with the old resourceVersion loses');
});

t.test('events, secrets and service accounts through CoreV1Api', async (t) => {
  const kube = await start(t);
  kube.seed(
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'pull', namespace: 'ns' },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': Buffer.from('{"auths":{}}').toString('base64') },
    },
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'default', namespace: 'ns' },
      imagePullSecrets: [{ name: 'pull' }],
    },
  );
  const core = kube.kubeConfig().makeApiClient(k8s.CoreV1Api);
  const secret = await core.readNamespacedSecret({ name: 'pull', namespace: 'ns' });
  t.equal(Buffer.from(secret.data?.['.dockerconfigjson'] ?? '', 'base64').toString(), '{"auths":{}}');
  const sa = await core.readNamespacedServiceAccount({ name: 'default', namespace: 'ns' });
  t.same(sa.imagePullSecrets, [{ name: 'pull' }]);
  await core.createNamespacedEvent({
    namespace: 'ns',
    body: {
      metadata: { generateName: 'web.' },
      involvedObject: { kind: 'Deployment', name: 'web', namespace: 'ns' },
      reason: 'UpdateAvailable',
      message: 'm',
      type: 'Normal',
    },
  });
  const events = await core.listNamespacedEvent({ namespace: 'ns' });
  t.equal(events.items.length, 1);
  t.match(events.items[0]?.metadata?.name, /^web\./);
  t.equal(kube.list('Event', 'ns')[0]?.reason, 'UpdateAvailable');
  const version = await kube.kubeConfig().makeApiClient(k8s.VersionApi).getCode();
  t.equal(version.major, '1');
});

t.test('unknown paths are 404 and a missing token is 401', async (t) => {
  const kube = await start(t);
  const res = await fetch(`${kube.url}/apis/apps/v1/namespaces/default/widgets`, {
    headers: { authorization: 'Bearer fake-kube-token' },
  });
  t.equal(res.status, 404);
  t.match(await res.json(), { kind: 'Status', reason: 'NotFound', code: 404 });
  const anon = await fetch(`${kube.url}/apis/apps/v1/deployments`);
  t.equal(anon.status, 401);
});

t.test('injected faults: statuses, delays, dropped and hanging watches', async (t) => {
  const kube = await start(t);
  kube.seed(deployment('a'));
  const kc = kube.kubeConfig();
  const apps = kc.makeApiClient(k8s.AppsV1Api);

  const fault = kube.injectFault({ method: 'GET', pathPattern: /deployments\/a$/, status: 500, times: 2 });
  t.equal((await rejection(apps.readNamespacedDeployment({ name: 'a', namespace: 'default' }))).code, 500);
  t.equal((await rejection(apps.readNamespacedDeployment({ name: 'a', namespace: 'default' }))).code, 500);
  t.ok(await apps.readNamespacedDeployment({ name: 'a', namespace: 'default' }), 'the fault is used up');
  t.equal(fault.hits, 2);

  kube.injectFault({ pathPattern: '/deployments', status: 429, retryAfterSeconds: 1 });
  const limited = await rejection(apps.listDeploymentForAllNamespaces());
  t.equal(limited.code, 429);
  t.equal(limited.headers['retry-after'], '1');

  kube.injectFault({ pathPattern: '/deployments', delayMs: 100 });
  const started = Date.now();
  await apps.listDeploymentForAllNamespaces();
  t.ok(Date.now() - started >= 90, 'the delay is applied');

  kube.injectFault({ watch: true, dropWatch: { afterEvents: 1 } });
  let dropped: unknown = 'open';
  const got: string[] = [];
  await new k8s.Watch(kc).watch(
    '/apis/apps/v1/deployments',
    {},
    (type) => got.push(type),
    (err) => {
      dropped = err;
    },
  );
  await waitFor('the dropped watch to end', () => dropped !== 'open');
  t.same(got, ['ADDED'], 'one event, then the connection is cut');

  kube.injectFault({ watch: true, hangWatch: true });
  const hung: string[] = [];
  const controller = await new k8s.Watch(kc).watch(
    '/apis/apps/v1/deployments',
    {},
    (type) => hung.push(type),
    () => {},
  );
  kube.seed(deployment('b'));
  await new Promise((r) => setTimeout(r, 50));
  t.same(hung, [], 'a hanging watch sends nothing');
  t.equal(kube.openWatches({ hanging: true }), 1);
  controller.abort();
  await waitFor('the hanging watch to be closed', () => kube.openWatches() === 0);
});

t.test('the simulated controller rolls workloads out or fails them', async (t) => {
  const kube = await start(t, { rolloutDelayMs: 5 });
  kube.seed(deployment('ok'), deployment('bad'));
  kube.setAutoRollout('Deployment', 'default', 'bad', 'fail');
  const apps = kube.kubeConfig().makeApiClient(k8s.AppsV1Api);
  const image = [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'nginx:1.26.0' }];
  await apps.patchNamespacedDeployment({ name: 'ok', namespace: 'default', body: image }, JSON_PATCH);
  await apps.patchNamespacedDeployment({ name: 'bad', namespace: 'default', body: image }, JSON_PATCH);
  await waitFor('both rollouts', () =>
    ['ok', 'bad'].every(
      (n) =>
        (kube.get('Deployment', 'default', n)?.status as k8s.V1DeploymentStatus | undefined)
          ?.observedGeneration === 2,
    ),
  );
  t.match(kube.get('Deployment', 'default', 'ok')?.status, { updatedReplicas: 2, availableReplicas: 2 });
  t.match(kube.get('Deployment', 'default', 'bad')?.status, {
    updatedReplicas: 1,
    conditions: [
      { type: 'Available' },
      { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' },
    ],
  });
});

t.test('list pages with limit and continue and filters by label', async (t) => {
  const kube = await start(t);
  kube.seed(['a', 'b', 'c', 'd', 'e'].map((n) => deployment(n)));
  const apps = kube.kubeConfig().makeApiClient(k8s.AppsV1Api);
  const names: string[] = [];
  let cont: string | undefined;
  let pages = 0;
  do {
    const page = await apps.listDeploymentForAllNamespaces({ limit: 2, _continue: cont });
    names.push(...page.items.map((i) => i.metadata!.name!));
    cont = page.metadata?._continue;
    pages += 1;
  } while (cont);
  t.same(names, ['a', 'b', 'c', 'd', 'e']);
  t.equal(pages, 3);
  const selected = await apps.listDeploymentForAllNamespaces({ labelSelector: 'app in (b,d)' });
  t.same(
    selected.items.map((i) => i.metadata?.name),
    ['b', 'd'],
  );
});

t.test('the status subresource, deletes, strategic deletes and unsupported patches', async (t) => {
  const kube = await start(t, { autoRollout: 'off' });
  kube.seed(deployment('web'));
  const apps = kube.kubeConfig().makeApiClient(k8s.AppsV1Api);
  const current = await apps.readNamespacedDeployment({ name: 'web', namespace: 'default' });

  current.status = { observedGeneration: 1, updatedReplicas: 2 };
  const withStatus = await apps.replaceNamespacedDeploymentStatus({
    name: 'web',
    namespace: 'default',
    body: current,
  });
  t.equal(withStatus.status?.updatedReplicas, 2, 'the status subresource writes status');
  withStatus.status = { observedGeneration: 9 };
  withStatus.spec!.replicas = 5;
  const main = await apps.replaceNamespacedDeployment({
    name: 'web',
    namespace: 'default',
    body: withStatus,
  });
  t.equal(main.status?.observedGeneration, 1, 'the main resource ignores status');
  t.equal(main.spec?.replicas, 5);

  const removed = await apps.patchNamespacedDeployment(
    {
      name: 'web',
      namespace: 'default',
      body: {
        spec: {
          template: { spec: { containers: [{ name: 'app', env: [{ name: 'A', $patch: 'delete' }] }] } },
        },
      },
    },
    STRATEGIC_PATCH,
  );
  t.same(removed.spec?.template.spec?.containers[0]?.env ?? [], [], '$patch: delete removes a keyed item');

  const res = await fetch(`${kube.url}/apis/apps/v1/namespaces/default/deployments/web`, {
    method: 'PATCH',
    headers: { authorization: 'Bearer fake-kube-token', 'content-type': 'application/apply-patch+yaml' },
    body: 'spec: {}',
  });
  t.equal(res.status, 415);

  const byField = await apps.listDeploymentForAllNamespaces({ fieldSelector: 'metadata.name=web' });
  t.equal(byField.items.length, 1);
  t.equal(
    (await apps.listDeploymentForAllNamespaces({ fieldSelector: 'metadata.name!=web' })).items.length,
    0,
  );

  await apps.deleteNamespacedDeployment({ name: 'web', namespace: 'default' });
  t.equal(kube.get('Deployment', 'default', 'web'), undefined);
  t.equal(kube.delete('Deployment', 'default', 'web'), false, 'deleting twice reports false');

  kube.injectFault({ resetConnection: true });
  await t.rejects(apps.listDeploymentForAllNamespaces(), 'a reset connection fails the call');
  t.throws(() => kube.get('Widget', 'default', 'x'), /unknown kind 'Widget'/);
});
