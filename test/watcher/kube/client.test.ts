import t, { type Test } from 'tap';
import { pino } from 'pino';
import { startFakeKube, type FakeKube } from '../../support/fake-kube/index.ts';
import { ClientNodeGateway, loadKubeConfig, parseDockerConfigSecret } from '../../../watcher/kube/client.ts';
import {
  KubeApiError,
  KubeConfigError,
  KubeNotFoundError,
  PatchConflictError,
  PullSecretError,
} from '../../../watcher/kube/errors.ts';
import type { KubeGateway } from '../../../watcher/kube/types.ts';
import { ImageWatcherError } from '../../../shared/errors.ts';

const logger = pino({ level: 'silent' });

function deployment(name: string, image = 'nginx:1.25.0') {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'shop', annotations: { 'image-watcher/mode': 'AUTO_UPDATE' } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { spec: { serviceAccountName: 'runner', containers: [{ name: 'app', image }] } },
    },
  };
}

const cronJob = {
  apiVersion: 'batch/v1',
  kind: 'CronJob',
  metadata: { name: 'nightly', namespace: 'shop' },
  spec: {
    schedule: '@daily',
    jobTemplate: { spec: { template: { spec: { containers: [{ name: 'job', image: 'busybox:1.36' }] } } } },
  },
};

async function setup(t: Test): Promise<{ kube: FakeKube; gw: ClientNodeGateway; clock: { now: Date } }> {
  const kube = await startFakeKube({ autoRollout: 'off' });
  t.teardown(() => kube.close());
  const clock = { now: new Date('2026-01-01T00:00:00Z') };
  const gw = new ClientNodeGateway({
    kubeConfig: kube.kubeConfig(),
    logger,
    now: () => clock.now,
    instance: 'pod-1',
  });
  return { kube, gw, clock };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

t.test('getWorkload returns a snapshot, or undefined when missing', async (t) => {
  const { kube, gw } = await setup(t);
  kube.seed(deployment('web'), cronJob);
  const web = await gw.getWorkload('Deployment', 'shop', 'web');
  t.match(web, {
    kind: 'Deployment',
    name: 'web',
    serviceAccountName: 'runner',
    containers: [{ image: 'nginx:1.25.0' }],
  });
  const job = await gw.getWorkload('CronJob', 'shop', 'nightly');
  t.equal(job?.containers[0]?.imagePath, '/spec/jobTemplate/spec/template/spec/containers/0/image');
  t.equal(await gw.getWorkload('StatefulSet', 'shop', 'web'), undefined);
  t.ok(gw satisfies KubeGateway);
});

t.test('patchWorkload applies a JSON patch with test operations', async (t) => {
  const { kube, gw } = await setup(t);
  kube.seed(deployment('web'), cronJob);
  const path = '/spec/template/spec/containers/0/image';
  const updated = await gw.patchWorkload('Deployment', 'shop', 'web', [
    { op: 'test', path, value: 'nginx:1.25.0' },
    { op: 'replace', path, value: 'nginx:1.26.0' },
    { op: 'add', path: '/metadata/annotations/image-watcher~1previous-version', value: '1.25.0' },
  ]);
  t.equal(updated.containers[0]?.image, 'nginx:1.26.0');
  t.equal(updated.annotations['image-watcher/previous-version'], '1.25.0');
  t.equal(updated.rollout.generation, 2);
  t.equal(kube.requestsMatching({ method: 'PATCH' })[0]?.contentType, 'application/json-patch+json');

  const jobPath = '/spec/jobTemplate/spec/template/spec/containers/0/image';
  const job = await gw.patchWorkload('CronJob', 'shop', 'nightly', [
    { op: 'replace', path: jobPath, value: 'busybox:1.37' },
  ]);
  t.equal(job.containers[0]?.image, 'busybox:1.37');
});

t.test('a failed test operation or a conflict is a PatchConflictError', async (t) => {
  const { kube, gw } = await setup(t);
  kube.seed(deployment('web', 'nginx:1.27.0'));
  const path = '/spec/template/spec/containers/0/image';
  const failed = await rejection(
    gw.patchWorkload('Deployment', 'shop', 'web', [
      { op: 'test', path, value: 'nginx:1.25.0' },
      { op: 'replace', path, value: 'nginx:1.26.0' },
    ]),
  );
  t.ok(failed instanceof PatchConflictError, 'a failed test (422)');
  t.equal((failed as PatchConflictError).code, 'E_PATCH_CONFLICT');
  t.match((failed as Error).message, /patching Deployment shop\/web/);

  kube.injectFault({ method: 'PATCH', status: 409 });
  t.ok(
    (await rejection(gw.patchWorkload('Deployment', 'shop', 'web', []))) instanceof PatchConflictError,
    'a 409',
  );

  const missing = await rejection(
    gw.patchWorkload('Deployment', 'shop', 'gone', [{ op: 'replace', path, value: 'x' }]),
  );
  t.ok(missing instanceof KubeNotFoundError);

  kube.injectFault({ method: 'PATCH', status: 503, times: 1 });
  const down = await rejection(gw.patchWorkload('Deployment', 'shop', 'web', []));
  t.ok(down instanceof KubeApiError);
  t.equal((down as KubeApiError).code, 'E_KUBE_UNAVAILABLE');
  t.equal((down as KubeApiError).status, 503);

  kube.injectFault({ method: 'GET', status: 403, times: 1 });
  const forbidden = await rejection(gw.getWorkload('Deployment', 'shop', 'web'));
  t.equal((forbidden as KubeApiError).code, 'E_KUBE_FORBIDDEN');
  t.match((forbidden as Error).message, /RBAC/);
});

t.test('createEvent records an event on the workload and aggregates repeats', async (t) => {
  const { kube, gw, clock } = await setup(t);
  kube.seed(deployment('web'));
  const web = (await gw.getWorkload('Deployment', 'shop', 'web'))!;
  const e = { type: 'Normal' as const, reason: 'UpdateAvailable', message: 'nginx 1.26.0 is available' };
  await gw.createEvent(web, e);
  clock.now = new Date('2026-01-01T00:01:00Z');
  await gw.createEvent(web, e);
  await gw.createEvent(web, { ...e, reason: 'Updated', message: 'updated to 1.26.0' });

  const events = kube.list('Event', 'shop');
  t.equal(events.length, 2, 'the repeat updated the first event');
  const first = events.find((x) => x.reason === 'UpdateAvailable')!;
  t.match(first, {
    involvedObject: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'web',
      namespace: 'shop',
      uid: web.uid,
      resourceVersion: web.resourceVersion,
    },
    type: 'Normal',
    source: { component: 'image-watcher' },
    reportingComponent: 'image-watcher',
    reportingInstance: 'pod-1',
    count: 2,
    firstTimestamp: '2026-01-01T00:00:00.000Z',
    lastTimestamp: '2026-01-01T00:01:00.000Z',
  });

  // The aggregated event was deleted meanwhile (TTL): a new one is created.
  kube.delete('Event', 'shop', first.metadata.name);
  await gw.createEvent(web, e);
  t.equal(kube.list('Event', 'shop').length, 2);

  const long = await gw
    .createEvent(web, { ...e, message: 'x'.repeat(5000) })
    .then(() => kube.list('Event', 'shop'));
  t.ok(
    long.every((x) => String(x.message).length <= 1024),
    'messages are capped',
  );

  kube.injectFault({ method: 'POST', status: 500 });
  t.ok((await rejection(gw.createEvent(web, { ...e, reason: 'Other' }))) instanceof KubeApiError);
});

t.test(
  'createEvent aggregates within ten minutes of the last sighting, then starts a new event',
  async (t) => {
    const { kube, gw, clock } = await setup(t);
    kube.seed(deployment('web'));
    const web = (await gw.getWorkload('Deployment', 'shop', 'web'))!;
    const a = { type: 'Normal' as const, reason: 'A', message: 'seen often' };
    const b = { type: 'Normal' as const, reason: 'B', message: 'seen once' };
    const at = (min: number) => (clock.now = new Date(Date.UTC(2026, 0, 1, 0, min)));
    at(0);
    await gw.createEvent(web, b);
    await gw.createEvent(web, a);
    // A is seen again every 6 minutes: it stays aggregated; B, first in line, expires at 10 minutes.
    for (const min of [6, 12, 18]) {
      at(min);
      await gw.createEvent(web, a);
    }
    await gw.createEvent(web, b);
    const events = kube.list('Event', 'shop');
    t.equal(events.filter((x) => x.reason === 'A').length, 1, 'A is one event');
    t.equal(events.find((x) => x.reason === 'A')!.count, 4);
    t.equal(events.filter((x) => x.reason === 'B').length, 2, 'B after its window is a new event');
    at(40);
    await gw.createEvent(web, a);
    t.equal(kube.list('Event', 'shop').filter((x) => x.reason === 'A').length, 2, 'A after its window too');
  },
);

t.test('pull secrets and service accounts', async (t) => {
  const { kube, gw } = await setup(t);
  const dockerConfig = { auths: { 'ghcr.io': { auth: Buffer.from('u:p').toString('base64') } } };
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64');
  kube.seed(
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'ghcr', namespace: 'shop' },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': b64(dockerConfig) },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'legacy', namespace: 'shop' },
      data: { '.dockercfg': b64(dockerConfig.auths) },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'opaque', namespace: 'shop' },
      data: { token: b64('secret-value') },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'broken', namespace: 'shop' },
      data: { '.dockerconfigjson': Buffer.from('{nope secret-value').toString('base64') },
    },
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'runner', namespace: 'shop' },
      imagePullSecrets: [{ name: 'ghcr' }, { name: 'legacy' }],
    },
  );
  t.same(await gw.getDockerConfigSecret('shop', 'ghcr'), dockerConfig);
  t.same(
    await gw.getDockerConfigSecret('shop', 'legacy'),
    dockerConfig,
    'legacy .dockercfg is wrapped in auths',
  );
  t.equal(await gw.getDockerConfigSecret('shop', 'missing'), undefined);
  const opaque = await rejection(gw.getDockerConfigSecret('shop', 'opaque'));
  t.ok(opaque instanceof PullSecretError);
  const broken = await rejection(gw.getDockerConfigSecret('shop', 'broken'));
  t.ok(broken instanceof PullSecretError);
  t.notMatch((broken as Error).message, /secret-value/, 'the content is never in the message');

  t.same(await gw.getServiceAccountPullSecrets('shop', 'runner'), ['ghcr', 'legacy']);
  t.same(await gw.getServiceAccountPullSecrets('shop', 'nobody'), []);
  kube.injectFault({ pathPattern: '/serviceaccounts/', status: 500 });
  t.ok((await rejection(gw.getServiceAccountPullSecrets('shop', 'runner'))) instanceof ImageWatcherError);
});

t.test('a call the API server never answers fails after the request timeout', async (t) => {
  const kube = await startFakeKube();
  t.teardown(() => kube.close());
  const gw = new ClientNodeGateway({ kubeConfig: kube.kubeConfig(), logger, requestTimeoutMs: 50 });
  kube.injectFault({ delayMs: 10_000 });
  const err = await rejection(gw.getWorkload('Deployment', 'shop', 'web'));
  t.ok(err instanceof KubeApiError);
  t.equal((err as KubeApiError).code, 'E_KUBE_UNAVAILABLE');
  t.match((err as Error).message, /reading Deployment shop\/web: no answer .* within 50 ms/);
});

t.test('parseDockerConfigSecret rejects a secret without Docker config keys', (t) => {
  t.throws(() => parseDockerConfigSecret({ data: {} }, 'ns/x'), PullSecretError);
  t.throws(
    () =>
      parseDockerConfigSecret(
        { data: { '.dockerconfigjson': Buffer.from('42').toString('base64') } },
        'ns/x',
      ),
    PullSecretError,
  );
  t.end();
});

t.test('loadKubeConfig reads KUBECONFIG and explains when nothing is configured', (t) => {
  const dir = t.testdir({
    config: JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: 'https://10.0.0.1:6443' } }],
      users: [{ name: 'u', user: { token: 'tok' } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  });
  const saved = {
    KUBECONFIG: process.env.KUBECONFIG,
    HOME: process.env.HOME,
    SA: process.env.KUBERNETES_SERVICE_HOST,
  };
  t.teardown(() => {
    for (const [k, v] of Object.entries({
      KUBECONFIG: saved.KUBECONFIG,
      HOME: saved.HOME,
      KUBERNETES_SERVICE_HOST: saved.SA,
    })) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  process.env.KUBECONFIG = `${dir}/config`;
  t.equal(loadKubeConfig(process.env).getCurrentCluster()?.server, 'https://10.0.0.1:6443');

  delete process.env.KUBECONFIG;
  delete process.env.KUBERNETES_SERVICE_HOST;
  process.env.HOME = dir + '/empty-home';
  t.throws(() => loadKubeConfig(process.env), KubeConfigError);
  t.end();
});
