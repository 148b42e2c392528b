// End to end: the real client-node against the fake API server, the real docker-registry, and the
// watcher's real gateway, informers, registry client and controller.
import { pino } from 'pino';
import t from 'tap';
import { ClientNodeGateway } from '../../../watcher/kube/client.ts';
import type { UpdateNotice } from '../../../watcher/notify/types.ts';
import { buildImage } from '../../support/images.ts';
import type { RunningRegistry } from '../../support/registry.ts';
import { freePort, pushImage, startRegistry } from '../../support/registry.ts';
import { annotationsOf, deployment, fakeKube, imageOf, startWatcher, until } from './support.ts';

let registry: RunningRegistry;

t.before(async () => {
  registry = await startRegistry();
  await pushImage(registry.url, 'shop/web', ['1.0.0', '1.0.1', '1.1.0'], buildImage());
  await pushImage(registry.url, 'shop/api', ['2.0.0', '2.1.0'], buildImage());
});
t.teardown(() => registry.stop());

const web = (tag: string) => `${registry.host}/shop/web:${tag}`;
const AUTO_PATCH = { 'image-watcher/mode': 'AUTO_UPDATE', 'image-watcher/strategy': 'PATCH' };

function imagePatches(
  kube: { requestsMatching(f: { method: string; pathPattern: RegExp }): { body: unknown }[] },
  name: string,
): number {
  return kube
    .requestsMatching({ method: 'PATCH', pathPattern: new RegExp(`/deployments/${name}$`) })
    .filter(
      (r) =>
        Array.isArray(r.body) &&
        (r.body as { op: string; path: string }[]).some(
          (o) => o.op === 'replace' && o.path.endsWith('/image'),
        ),
    ).length;
}

t.test('NOTIFICATION: one event and one notice per version, also after a restart', async (t) => {
  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed(deployment('web', web('1.0.0')));
  const notices: UpdateNotice[] = [];
  const w1 = await startWatcher(t.teardown.bind(t), kube, { notices });
  await w1.controller.runCycle();
  await w1.controller.idle();
  t.match(notices, [
    {
      event: 'available',
      currentVersion: '1.0.0',
      newVersion: '1.1.0',
      workload: { name: 'web', namespace: 'shop' },
    },
  ]);
  const events = kube.list('Event', 'shop');
  t.match(events, [
    { reason: 'UpdateAvailable', type: 'Normal', involvedObject: { kind: 'Deployment', name: 'web' } },
  ]);
  t.equal(
    annotationsOf(kube.get('Deployment', 'shop', 'web'))['image-watcher/last-notified-version'],
    '1.1.0',
  );
  t.equal(imageOf(kube.get('Deployment', 'shop', 'web')), web('1.0.0'), 'the image is left alone');
  t.match(
    await w1.metricsText(),
    /image_watcher_image_outdated\{[^}]*workload="web"[^}]*current_version="1.0.0",latest_version="1.1.0"\} 1/,
  );
  await w1.controller.stop();

  const w2 = await startWatcher(t.teardown.bind(t), kube, { notices });
  await w2.controller.runCycle();
  await w2.controller.idle();
  await w2.controller.runCycle();
  await w2.controller.idle();
  t.equal(notices.length, 1, 'a restarted watcher does not announce it again');
  t.equal(kube.list('Event', 'shop').length, 1);
});

t.test('AUTO_UPDATE: updates, waits for the rollout and writes the history', async (t) => {
  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed(deployment('web', web('1.0.0'), AUTO_PATCH));
  const w = await startWatcher(t.teardown.bind(t), kube);
  await w.controller.runCycle();
  await w.controller.idle();
  const o = kube.get('Deployment', 'shop', 'web');
  t.equal(imageOf(o), web('1.0.1'), 'newest patch of 1.0');
  t.match(annotationsOf(o), {
    'image-watcher/previous-version': '1.0.0',
    'image-watcher/current-version': '1.0.1',
    'image-watcher/last-updated-version': '1.0.1',
    'image-watcher/last-updated': /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
  });
  t.match(w.notices, [{ event: 'updated', newVersion: '1.0.1' }]);
  t.match(
    await w.metricsText(),
    /image_watcher_updates_total\{namespace="shop",kind="Deployment",workload="web",result="success"\} 1/,
  );
  t.ok(kube.list('Event', 'shop').some((e) => (e as { reason?: string }).reason === 'ImageUpdated'));
  await w.controller.runCycle();
  await w.controller.idle();
  t.equal(imagePatches(kube, 'web'), 1, 'up to date: no more patches');
});

t.test('a failed rollout is rolled back and never retried', async (t) => {
  const kube = await fakeKube(t.teardown.bind(t), {
    autoRollout: (obj) => (JSON.stringify(obj.spec).includes(':1.0.1') ? 'fail' : 'succeed'),
  });
  kube.seed(deployment('web', web('1.0.0'), AUTO_PATCH));
  const w = await startWatcher(t.teardown.bind(t), kube);
  await w.controller.runCycle();
  await w.controller.idle();
  const o = kube.get('Deployment', 'shop', 'web');
  t.equal(imageOf(o), web('1.0.0'), 'previous image restored');
  t.match(annotationsOf(o), {
    'image-watcher/last-failed-version': '1.0.1',
    'image-watcher/current-version': '1.0.0',
  });
  t.match(w.notices, [{ event: 'rolled_back', newVersion: '1.0.1', detail: /ReplicaSet has timed out/ }]);
  t.match(await w.metricsText(), /result="rolled_back"\} 1/);
  t.ok(
    kube
      .list('Event', 'shop')
      .some((e) => (e as { reason?: string; type?: string }).reason === 'UpdateRolledBack'),
  );
  await w.controller.runCycle();
  await w.controller.idle();
  t.equal(imagePatches(kube, 'web'), 2, 'the update and the rollback, nothing more');
});

t.test('never a downgrade, whatever the registry holds', async (t) => {
  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed(
    deployment('newest', web('1.1.0'), { 'image-watcher/mode': 'AUTO_UPDATE' }),
    deployment('ahead', web('3.0.0'), { 'image-watcher/mode': 'AUTO_UPDATE' }),
  );
  const w = await startWatcher(t.teardown.bind(t), kube);
  await w.controller.runCycle();
  await w.controller.idle();
  t.equal(imageOf(kube.get('Deployment', 'shop', 'newest')), web('1.1.0'));
  t.equal(imageOf(kube.get('Deployment', 'shop', 'ahead')), web('3.0.0'));
  t.equal(kube.requestsMatching({ method: 'PATCH' }).length, 0);
  t.same(w.notices, []);
});

t.test('a GitOps revert is not fought: one attempt, one notice', async (t) => {
  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed(deployment('web', web('1.0.0'), AUTO_PATCH));
  const w = await startWatcher(t.teardown.bind(t), kube);
  await w.controller.runCycle();
  await w.controller.idle();
  t.equal(imageOf(kube.get('Deployment', 'shop', 'web')), web('1.0.1'));
  // A GitOps sync puts the manifest's image back; the webhook keeps the managed annotations.
  const reverted = structuredClone(kube.get('Deployment', 'shop', 'web')!) as unknown as {
    spec: { template: { spec: { containers: { image: string }[] } } };
  };
  reverted.spec.template.spec.containers[0]!.image = web('1.0.0');
  kube.upsert(reverted);
  await until(
    'the revert to be recorded',
    () =>
      annotationsOf(kube.get('Deployment', 'shop', 'web'))['image-watcher/last-failed-version'] === '1.0.1',
  );
  await w.controller.idle();
  for (let i = 0; i < 3; i++) await w.controller.runCycle();
  await w.controller.idle();
  t.equal(imagePatches(kube, 'web'), 1, 'no second update');
  t.equal(imageOf(kube.get('Deployment', 'shop', 'web')), web('1.0.0'));
  t.equal(w.notices.filter((n) => n.event === 'reverted_externally').length, 1);
  t.ok(kube.list('Event', 'shop').some((e) => (e as { reason?: string }).reason === 'RevertedExternally'));
});

t.test('an annotation change is picked up without a restart', async (t) => {
  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed(deployment('web', web('1.0.0'), { 'image-watcher/mode': 'DISABLED' }));
  const w = await startWatcher(t.teardown.bind(t), kube);
  await w.controller.runCycle();
  await w.controller.idle();
  t.equal(kube.requestsMatching({ method: 'PATCH' }).length, 0, 'DISABLED: nothing');
  const o = structuredClone(kube.get('Deployment', 'shop', 'web')!);
  (o.metadata.annotations as Record<string, string>)['image-watcher/mode'] = 'AUTO_UPDATE';
  kube.upsert(o);
  await until('the update', () => imageOf(kube.get('Deployment', 'shop', 'web')) === web('1.1.0'));
  await w.controller.idle();
  t.pass('updated after the annotation change');
});

t.test('a deleted workload removes its metric series', async (t) => {
  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed(deployment('web', web('1.0.0')), deployment('api', `${registry.host}/shop/api:2.0.0`));
  const w = await startWatcher(t.teardown.bind(t), kube);
  await w.controller.runCycle();
  await w.controller.idle();
  t.match(await w.metricsText(), /workload="web"/);
  kube.delete('Deployment', 'shop', 'web');
  await until('the series to go', async () => !(await w.metricsText()).includes('workload="web"'));
  t.match(await w.metricsText(), /workload="api"/, 'the other workload keeps its series');
  t.notOk(w.controller.workloads().some((x) => x.name === 'web'));
});

t.test('a registry that is down for one repository does not stop the others', async (t) => {
  const kube = await fakeKube(t.teardown.bind(t));
  const closed = await freePort();
  kube.seed(
    deployment('down', `127.0.0.1:${closed}/shop/gone:1.0.0`),
    deployment('missing', `${registry.host}/shop/nothing-here:1.0.0`),
    deployment('web', web('1.0.0')),
  );
  const w = await startWatcher(t.teardown.bind(t), kube);
  await w.controller.runCycle();
  await w.controller.idle();
  t.same(
    w.notices.map((n) => n.workload.name),
    ['web'],
  );
  const views = Object.fromEntries(w.controller.workloads().map((v) => [v.name, v]));
  t.match(views.down?.lastError, /E_REGISTRY_UNAVAILABLE|E_REGISTRY_TIMEOUT/);
  t.match(views.missing?.lastError, /E_REGISTRY_NOT_FOUND/);
  t.equal(views.web?.lastError, undefined);
  t.match(views.web?.containers, [
    { currentVersion: '1.0.0', latestVersion: '1.1.0', updateAvailable: true },
  ]);
});

t.test('a lost PATCH answer leaves a watched rollout, not a "failed" notice', async (t) => {
  // The API server applies the update but answers after the client has given up (the security review).
  const kube = await fakeKube(t.teardown.bind(t), {
    autoRollout: (obj) => (JSON.stringify(obj.spec).includes(':1.0.1') ? 'fail' : 'succeed'),
  });
  kube.seed(deployment('web', web('1.0.0'), AUTO_PATCH));
  const slow = kube.injectFault({ method: 'PATCH', pathPattern: /\/deployments\/web$/, delayMs: 600 });
  const gateway = new ClientNodeGateway({
    kubeConfig: kube.kubeConfig(),
    logger: pino({ level: 'silent' }),
    instance: 'test',
    requestTimeoutMs: 200,
  });
  const w = await startWatcher(t.teardown.bind(t), kube, { io: { gateway } });
  await w.controller.runCycle();
  await until('the late patch to arrive', () => slow.hits === 1, 5000);
  await until(
    'the failing rollout to be rolled back',
    () => w.notices.some((n) => n.event === 'rolled_back'),
    8000,
  );
  await w.controller.idle();
  t.notOk(
    w.notices.some((n) => n.event === 'failed'),
    'no "failed" notice for an update that was applied',
  );
  const o = kube.get('Deployment', 'shop', 'web');
  t.equal(imageOf(o), web('1.0.0'), 'the failing image did not stay live');
  t.equal(annotationsOf(o)['image-watcher/last-failed-version'], '1.0.1');
  t.equal(annotationsOf(o)['image-watcher/rollout'], undefined);
});
