// Workloads created before the webhook was installed have no `metadata.annotations` at all: the
// watcher's JSON patches must create the map first (and never replace an existing one).
import t from 'tap';
import type { KubeObject } from '../../support/fake-kube/index.ts';
import { buildImage } from '../../support/images.ts';
import type { RunningRegistry } from '../../support/registry.ts';
import { pushImage, startRegistry } from '../../support/registry.ts';
import { annotationsOf, deployment, fakeKube, imageOf, startWatcher } from './support.ts';

let registry: RunningRegistry;

t.before(async () => {
  registry = await startRegistry();
  await pushImage(registry.url, 'shop/web', ['1.0.0', '1.0.1', '1.1.0'], buildImage());
});
t.teardown(() => registry.stop());

const web = (tag: string) => `${registry.host}/shop/web:${tag}`;

/** A Deployment as `kubectl create` makes it without the webhook: no annotations map. */
function bare(name: string, image: string): object {
  const d = deployment(name, image) as { metadata: Record<string, unknown> };
  delete d.metadata.annotations;
  return d;
}

const hasMap = (o: KubeObject | undefined): boolean => o?.metadata.annotations !== undefined;

t.test('NOTIFICATION (default): a workload without annotations is notified once and stamped', async (t) => {
  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed(bare('web', web('1.0.0')));
  t.notOk(hasMap(kube.get('Deployment', 'shop', 'web')), 'seeded without an annotations map');
  const w = await startWatcher(t.teardown.bind(t), kube);
  await w.controller.runCycle();
  await w.controller.idle();
  t.match(w.notices, [{ event: 'available', currentVersion: '1.0.0', newVersion: '1.1.0' }]);
  const o = kube.get('Deployment', 'shop', 'web');
  t.match(annotationsOf(o), {
    'image-watcher/last-notified-version': '1.1.0',
    'image-watcher/last-notified': /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
  });
  t.ok(
    kube.list('Event', 'shop').some((e) => (e as { reason?: string }).reason === 'UpdateAvailable'),
    'an UpdateAvailable event',
  );
  t.equal(imageOf(o), web('1.0.0'), 'the image is left alone');
  t.equal(w.controller.workloads()[0]?.lastError, undefined, 'no error recorded');
  await w.controller.runCycle();
  await w.controller.idle();
  t.equal(w.notices.length, 1, 'announced once');
});

t.test(
  'AUTO_UPDATE by IMAGE_WATCHER_MODE: a workload without annotations is updated with history',
  async (t) => {
    const kube = await fakeKube(t.teardown.bind(t));
    kube.seed(bare('web', web('1.0.0')));
    const w = await startWatcher(t.teardown.bind(t), kube, {
      config: { overrides: { mode: 'AUTO_UPDATE' } },
    });
    await w.controller.runCycle();
    await w.controller.idle();
    const o = kube.get('Deployment', 'shop', 'web');
    t.equal(imageOf(o), web('1.1.0'), 'updated to the newest version');
    t.match(annotationsOf(o), {
      'image-watcher/previous-version': '1.0.0',
      'image-watcher/current-version': '1.1.0',
      'image-watcher/last-updated-version': '1.1.0',
      'image-watcher/last-updated': /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
    });
    t.match(w.notices, [{ event: 'updated', newVersion: '1.1.0' }]);
  },
);

t.test(
  'AUTO_UPDATE: a failed rollout of a workload without annotations is rolled back and recorded',
  async (t) => {
    const kube = await fakeKube(t.teardown.bind(t), {
      autoRollout: (obj) => (JSON.stringify(obj.spec).includes(':1.1.0') ? 'fail' : 'succeed'),
    });
    kube.seed(bare('web', web('1.0.0')));
    const w = await startWatcher(t.teardown.bind(t), kube, {
      config: { overrides: { mode: 'AUTO_UPDATE' } },
    });
    await w.controller.runCycle();
    await w.controller.idle();
    const o = kube.get('Deployment', 'shop', 'web');
    t.equal(imageOf(o), web('1.0.0'), 'previous image restored');
    t.match(annotationsOf(o), {
      'image-watcher/last-failed-version': '1.1.0',
      'image-watcher/current-version': '1.0.0',
    });
  },
);

t.test('other annotations are kept: the map is created only when it is missing', async (t) => {
  const kube = await fakeKube(t.teardown.bind(t));
  const d = bare('web', web('1.0.0')) as { metadata: Record<string, unknown> };
  d.metadata.annotations = { 'team/owner': 'shop' };
  kube.seed(d);
  const w = await startWatcher(t.teardown.bind(t), kube);
  await w.controller.runCycle();
  await w.controller.idle();
  t.match(w.notices, [{ event: 'available', newVersion: '1.1.0' }]);
  t.match(annotationsOf(kube.get('Deployment', 'shop', 'web')), {
    'team/owner': 'shop',
    'image-watcher/last-notified-version': '1.1.0',
  });
  const patches = kube.requestsMatching({ method: 'PATCH', pathPattern: /\/deployments\/web$/ });
  t.notOk(
    patches.some((r) => (r.body as { path: string }[]).some((op) => op.path === '/metadata/annotations')),
    'no patch adds the map itself',
  );
});
