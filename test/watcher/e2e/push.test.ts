// End to end: the real docker-registry sends its `notifications.endpoints` events to a running
// watcher (createWatcher, listening on a real port, CHECK_INTERVAL=1h, no check on boot); a push
// of a new tag gives the notice (or the update) within seconds, with no interval pass at all.
import t from 'tap';
import type { Test } from 'tap';
import { buildImage } from '../../support/images.ts';
import type { RunningRegistry } from '../../support/registry.ts';
import { freePort, pushImage, startRegistry, watcherNotifications } from '../../support/registry.ts';
import { annotationsOf, deployment, fakeKube, imageOf, startWatcher, until } from './support.ts';

const TOKEN = 'push-token-0123456789abcdef';

async function setup(t: Test): Promise<{ registry: RunningRegistry; port: number }> {
  const port = await freePort();
  const registry = await startRegistry(
    { kind: 'none' },
    { notifications: watcherNotifications(port, TOKEN) },
  );
  t.teardown(() => registry.stop());
  await pushImage(registry.url, 'shop/web', ['1.0.0'], buildImage());
  return { registry, port };
}

const env = (port: number) => ({
  HTTP_PORT: String(port),
  LISTEN_ADDRESS: '127.0.0.1',
  REGISTRY_WEBHOOK_TOKEN: TOKEN,
  CHECK_INTERVAL: '1h',
});

t.test('NOTIFICATION: a push of a new tag gives the notice, with no interval pass', async (t) => {
  const { registry, port } = await setup(t);
  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed(deployment('web', `${registry.host}/shop/web:1.0.0`));
  kube.seed(deployment('other', `${registry.host}/shop/other:1.0.0`));
  const w = await startWatcher(t.teardown.bind(t), kube, { env: env(port), listen: true });
  // The 1.0.0 push event queued in the registry while the watcher was down arrives now: verified,
  // the workload checked, nothing newer.
  await until('the queued 1.0.0 event is taken', async () =>
    /registry_events_total\{source="distribution",result="accepted"\} 1/.test(await w.metricsText()),
  );
  await w.push!.idle();
  await w.controller.idle();
  t.same(w.notices, [], 'nothing newer than 1.0.0');

  const started = Date.now();
  await pushImage(registry.url, 'shop/web', ['1.1.0'], buildImage());
  await until('the notice of 1.1.0', () => w.notices.length > 0, 10_000);
  const seconds = (Date.now() - started) / 1000;
  t.ok(seconds < 5, `push to notice in ${seconds.toFixed(2)} s`);
  t.match(w.notices, [
    { event: 'available', currentVersion: '1.0.0', newVersion: '1.1.0', workload: { name: 'web' } },
  ]);
  await w.controller.idle();
  t.equal(
    annotationsOf(kube.get('Deployment', 'shop', 'web'))['image-watcher/last-notified-version'],
    '1.1.0',
  );
  // One per event, plus a second look when the registry notified before it linked the tag.
  t.ok(w.push!.tagLists >= 2 && w.push!.tagLists <= 4, `${w.push!.tagLists} tag lists for two pushes`);
  const text = await w.metricsText();
  t.match(text, /image_watcher_registry_events_total\{source="distribution",result="accepted"\} 2/);
  t.notOk(
    annotationsOf(kube.get('Deployment', 'shop', 'other'))['image-watcher/last-notified-version'],
    'a workload of another repository is not touched',
  );
});

t.test('AUTO_UPDATE: a push of a new patch updates the workload end to end', async (t) => {
  const { registry, port } = await setup(t);
  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed(
    deployment('web', `${registry.host}/shop/web:1.0.0`, {
      'image-watcher/mode': 'AUTO_UPDATE',
      'image-watcher/strategy': 'PATCH',
    }),
  );
  const w = await startWatcher(t.teardown.bind(t), kube, { env: env(port), listen: true });
  await until('the queued 1.0.0 event is taken', async () =>
    /result="accepted"\} 1/.test(await w.metricsText()),
  );
  // 1.1.0 is not a patch of 1.0: verified, checked, left alone; 1.0.1 is taken.
  await pushImage(registry.url, 'shop/web', ['1.1.0'], buildImage());
  await pushImage(registry.url, 'shop/web', ['1.0.1'], buildImage());
  await until(
    'the update to 1.0.1',
    () => imageOf(kube.get('Deployment', 'shop', 'web')) === `${registry.host}/shop/web:1.0.1`,
    10_000,
  );
  await until('the rollout notice', () => w.notices.some((n) => n.event === 'updated'), 10_000);
  t.match(w.notices, [{ event: 'updated', currentVersion: '1.0.0', newVersion: '1.0.1' }]);
});

t.test('the registry with a wrong token is refused: nothing is checked', async (t) => {
  const port = await freePort();
  const registry = await startRegistry(
    { kind: 'none' },
    { notifications: watcherNotifications(port, 'not-the-token-at-all') },
  );
  t.teardown(() => registry.stop());
  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed(deployment('web', `${registry.host}/shop/web:1.0.0`));
  const w = await startWatcher(t.teardown.bind(t), kube, { env: env(port), listen: true });
  await pushImage(registry.url, 'shop/web', ['1.0.0', '1.1.0'], buildImage());
  await until('the registry was refused', async () =>
    /source="distribution",result="unauthorized"\} [1-9]/.test(await w.metricsText()),
  );
  t.equal(w.push!.tagLists, 0, 'no registry request for an unauthenticated event');
  t.same(w.notices, []);
});
