// Selection end to end: WATCH_SELECTOR sent to the fake API server on list and watch,
// WATCH_ANNOTATED_ONLY, and two installations (with and without WATCHER_SCOPE) on one cluster,
// each acting only on its own workloads. The production wiring (createWatcher) throughout.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import { loadWatcherConfig } from '../../../watcher/create.ts';
import { buildImage } from '../../support/images.ts';
import type { RunningRegistry } from '../../support/registry.ts';
import { pushImage, startRegistry } from '../../support/registry.ts';
import { deployment, fakeKube, imageOf, startWatcher, until } from './support.ts';

let registry: RunningRegistry;

t.before(async () => {
  registry = await startRegistry();
  await pushImage(registry.url, 'shop/web', ['1.0.0', '1.0.1'], buildImage());
});
t.teardown(() => registry.stop());

const web = (tag: string) => `${registry.host}/shop/web:${tag}`;
const AUTO = { 'image-watcher/mode': 'AUTO_UPDATE' };

function labelled(name: string, labels: Record<string, string>, annotations: Record<string, string> = AUTO) {
  const d = deployment(name, web('1.0.0'), annotations) as { metadata: Record<string, unknown> };
  d.metadata.labels = labels;
  return d;
}

const names = (w: { controller: { workloads(): { name: string }[] } }) =>
  w.controller
    .workloads()
    .map((x) => x.name)
    .sort();

t.test(
  'WATCH_SELECTOR: sent on list and watch of the four kinds; relabelling moves a workload',
  async (t) => {
    const kube = await fakeKube(t.teardown.bind(t));
    kube.seed(labelled('front', { tier: 'web' }), labelled('db', { tier: 'db' }));
    const w = await startWatcher(t.teardown.bind(t), kube, {
      env: { WATCH_SELECTOR: 'tier in (web, edge)' },
      config: { debounceMs: 10_000 },
    });
    t.same(names(w), ['front'], 'only the selected workload is listed');
    const plurals = ['deployments', 'statefulsets', 'daemonsets', 'cronjobs'];
    // The watches open once the lists are in (start resolves at the lists).
    await until('four watches', () => kube.requestsMatching({ method: 'GET', watch: true }).length >= 4);
    for (const plural of plurals) {
      for (const watch of [false, true]) {
        const reqs = kube.requestsMatching({ method: 'GET', pathPattern: `/${plural}`, watch });
        t.ok(reqs.length > 0, `${plural} ${watch ? 'watched' : 'listed'}`);
        t.ok(
          reqs.every((r) => r.query.labelSelector === 'tier in (web, edge)'),
          `${plural}: labelSelector on every ${watch ? 'watch' : 'list'}`,
        );
      }
    }
    t.match(await w.metricsText(), /image_watcher_workloads\{mode="AUTO_UPDATE"\} 1/);

    kube.upsert({ ...labelled('db', { tier: 'edge' }) });
    await until('the selection to follow', () => names(w).length === 2);
    t.same(names(w), ['db', 'front'], 'relabelled into the selection: ADDED');
    t.match(await w.metricsText(), /image_watcher_workloads\{mode="AUTO_UPDATE"\} 2/);
    kube.upsert({ ...labelled('front', { tier: 'batch' }) });
    await until('the selection to follow', () => names(w).length === 1);
    t.same(names(w), ['db'], 'relabelled out of it: DELETED');
    t.match(await w.metricsText(), /image_watcher_workloads\{mode="AUTO_UPDATE"\} 1/);
  },
);

t.test('an invalid WATCH_SELECTOR, WATCHER_SCOPE or boolean is refused at start, all at once', (t) => {
  t.throws(
    () =>
      loadWatcherConfig({
        WATCH_SELECTOR: 'tier in (web',
        WATCHER_SCOPE: 'team a',
        WATCH_ANNOTATED_ONLY: 'sometimes',
        RUN_ONCE: 'maybe',
      }),
    {
      code: 'E_CONFIG',
      message:
        /4 invalid settings: WATCH_SELECTOR="tier in \(web" is not a label selector: unbalanced parentheses.*WATCH_ANNOTATED_ONLY.*WATCHER_SCOPE="team a" is not a scope name.*RUN_ONCE/,
    },
  );
  t.end();
});

t.test('WATCH_ANNOTATED_ONLY: a workload without image-watcher/mode is not handled', async (t) => {
  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed(
    deployment('marked', web('1.0.0'), { 'image-watcher/mode': 'NOTIFICATION' }),
    deployment('plain', web('1.0.0')),
  );
  const w = await startWatcher(t.teardown.bind(t), kube, {
    env: { WATCH_ANNOTATED_ONLY: 'TRUE' },
    config: { debounceMs: 10 },
  });
  await w.controller.runCycle();
  await w.controller.idle();
  t.same(names(w), ['marked']);
  t.match(w.notices, [{ workload: { name: 'marked' } }]);
  t.equal(w.notices.length, 1, 'no notice for the unannotated one');
  t.notOk(
    kube.requestsMatching({ method: 'PATCH', pathPattern: /deployments\/plain$/ }).length,
    'never written',
  );
  const metrics = await w.metricsText();
  t.match(metrics, /image_watcher_workloads\{mode="NOTIFICATION"\} 1/);
  t.notMatch(metrics, /image_outdated\{[^}]*workload="plain"/);
  // Annotating it brings it in.
  kube.upsert(deployment('plain', web('1.0.0'), { 'image-watcher/mode': 'NOTIFICATION' }));
  await until('the selection to follow', () => names(w).length === 2);
  t.same(names(w), ['marked', 'plain']);
});

t.test('two installations, with and without WATCHER_SCOPE: each acts only on its own', async (t) => {
  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed(
    deployment('plain', web('1.0.0'), AUTO),
    deployment('team-a', web('1.0.0'), { ...AUTO, 'image-watcher/scope': 'team-a' }),
    deployment('team-b', web('1.0.0'), { ...AUTO, 'image-watcher/scope': 'team-b' }),
    deployment('bad-scope', web('1.0.0'), { ...AUTO, 'image-watcher/scope': 'not a scope!' }),
  );
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const unscoped = await startWatcher(t.teardown.bind(t), kube, {
    io: { logger: pino({ level: 'info' }, sink) },
  });
  t.match(
    logs.find((l) => l.msg === 'workload selection applied'),
    { selection: { annotatedOnly: false, scope: null }, listed: 4, handled: 2, skipped: { scoped: 2 } },
    'the log says what the selection did',
  );
  const scoped = await startWatcher(t.teardown.bind(t), kube, { env: { WATCHER_SCOPE: 'team-a' } });
  t.same(names(unscoped), ['bad-scope', 'plain'], 'without a scope: the unscoped (and the invalid one)');
  t.same(names(scoped), ['team-a'], 'team-a: only its own');
  await Promise.all([unscoped.controller.runCycle(), scoped.controller.runCycle()]);
  await Promise.all([unscoped.controller.idle(), scoped.controller.idle()]);

  t.equal(imageOf(kube.get('Deployment', 'shop', 'plain')), web('1.0.1'));
  t.equal(imageOf(kube.get('Deployment', 'shop', 'team-a')), web('1.0.1'));
  t.equal(imageOf(kube.get('Deployment', 'shop', 'team-b')), web('1.0.0'), 'no installation of team-b');
  t.equal(imageOf(kube.get('Deployment', 'shop', 'bad-scope')), web('1.0.0'), 'invalid: nobody acts');
  t.match(
    unscoped.controller.workloads().find((x) => x.name === 'bad-scope'),
    { lastError: /image-watcher\/scope: "not a scope!" is not a scope name/ },
    'the unscoped watcher reports the invalid value',
  );
  const patchesOf = (name: string) =>
    kube
      .requestsMatching({ method: 'PATCH', pathPattern: new RegExp(`/deployments/${name}$`) })
      .filter(
        (r) =>
          Array.isArray(r.body) &&
          (r.body as { op: string; path: string }[]).some(
            (o) => o.op === 'replace' && o.path.endsWith('/image'),
          ),
      ).length;
  t.equal(patchesOf('plain'), 1, 'one image write, not two');
  t.equal(patchesOf('team-a'), 1, 'one image write, not two');
  t.same(unscoped.notices.map((n) => n.workload.name).sort(), ['plain']);
  t.same(scoped.notices.map((n) => n.workload.name).sort(), ['team-a']);
  t.match(await scoped.metricsText(), /image_watcher_workloads\{mode="AUTO_UPDATE"\} 1/);
  t.notMatch(await unscoped.metricsText(), /workload="team-a"/);

  // A manual update of another installation's workload is refused, even though it exists.
  await t.rejects(scoped.controller.manualUpdate({ kind: 'Deployment', namespace: 'shop', name: 'plain' }), {
    code: 'E_NOT_FOUND',
    message: /not handled by this watcher: its image-watcher\/scope is not this watcher's scope team-a/,
  });

  // Moving a workload to team-a hands it over: the unscoped watcher forgets it, team-a takes it.
  kube.upsert(deployment('plain', web('1.0.1'), { ...AUTO, 'image-watcher/scope': 'team-a' }));
  await until('the selection to follow', () => names(scoped).length === 2 && names(unscoped).length === 1);
  t.same(names(scoped), ['plain', 'team-a']);
  t.same(names(unscoped), ['bad-scope']);
  t.match(
    logs.find((l) => String(l.msg).startsWith('workload left')),
    {
      msg: /^workload left this watcher's selection \(its image-watcher\/scope belongs to another installation/,
      workload: { name: 'plain' },
      reason: 'scoped',
    },
  );
  t.notMatch(await unscoped.metricsText(), /workload="plain"/, 'its series leave with it');
});

t.test('WATCH_NAMESPACES: a manual update of a workload in another namespace is refused', async (t) => {
  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed(deployment('web', web('1.0.0'), AUTO));
  const w = await startWatcher(t.teardown.bind(t), kube, { env: { WATCH_NAMESPACES: 'other' } });
  t.same(names(w), [], 'shop is not watched');
  // The ClusterRole can read and patch it: only the watcher's own configuration says no.
  await t.rejects(w.controller.manualUpdate({ kind: 'Deployment', namespace: 'shop', name: 'web' }), {
    code: 'E_NOT_FOUND',
    message: /not handled by this watcher: namespace shop is not in WATCH_NAMESPACES \(other\)/,
  });
  t.equal(imageOf(kube.get('Deployment', 'shop', 'web')), web('1.0.0'), 'not updated');
  t.same(names(w), [], 'and not taken into the cache');
});
