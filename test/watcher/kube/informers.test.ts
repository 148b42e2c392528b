import t, { type Test } from 'tap';
import { pino } from 'pino';
import { startFakeKube, type FakeKubeOptions } from '../../support/fake-kube/index.ts';
import { KubeWorkloadWatch, watchPath, type WorkloadWatchOptions } from '../../../watcher/kube/informers.ts';
import { exponentialBackoff } from '../../../watcher/kube/backoff.ts';
import type { WorkloadKind, WorkloadWatch } from '../../../watcher/kube/types.ts';
import { until } from '../../support/until.ts';

const logger = pino({ level: 'silent' });

const API: Record<WorkloadKind, string> = {
  Deployment: 'apps/v1',
  StatefulSet: 'apps/v1',
  DaemonSet: 'apps/v1',
  CronJob: 'batch/v1',
};

function workload(
  kind: WorkloadKind,
  name: string,
  opts: { namespace?: string; image?: string; mode?: string } = {},
) {
  const pod = { spec: { containers: [{ name: 'app', image: opts.image ?? 'nginx:1.25.0' }] } };
  return {
    apiVersion: API[kind],
    kind,
    metadata: {
      name,
      namespace: opts.namespace ?? 'default',
      annotations: { 'image-watcher/mode': opts.mode ?? 'NOTIFICATION' },
    },
    spec:
      kind === 'CronJob'
        ? { schedule: '@daily', jobTemplate: { spec: { template: pod } } }
        : { selector: {}, template: pod },
  };
}

const waitFor = (what: string, cond: () => boolean, ms = 4000) => until(what, cond, ms, 5);

async function setup(
  t: Test,
  opts: Partial<WorkloadWatchOptions> = {},
  kubeOpts: FakeKubeOptions = { autoRollout: 'off' },
  seed: object[] = [],
) {
  const kube = await startFakeKube(kubeOpts);
  kube.seed(seed);
  const watch = new KubeWorkloadWatch({
    kubeConfig: kube.kubeConfig(),
    logger,
    backoff: () => exponentialBackoff({ initialMs: 10, maxMs: 40 }),
    ...opts,
  });
  const log: string[] = [];
  watch.on('upsert', (w, old) => log.push(`${old ? 'update' : 'add'} ${w.kind}/${w.namespace}/${w.name}`));
  watch.on('delete', (w) => log.push(`delete ${w.kind}/${w.namespace}/${w.name}`));
  t.teardown(async () => {
    await watch.stop();
    await kube.close();
  });
  return { kube, watch, log };
}

const names = (w: WorkloadWatch) =>
  w
    .list()
    .map((s) => `${s.kind}/${s.namespace}/${s.name}`)
    .sort();

t.test('start lists every kind, then follows adds, changes and deletes', async (t) => {
  const { kube, watch, log } = await setup(t, {}, { autoRollout: 'off' }, [
    workload('Deployment', 'web'),
    workload('StatefulSet', 'db', { namespace: 'data' }),
    workload('DaemonSet', 'agent'),
    workload('CronJob', 'nightly'),
  ]);
  await watch.start();
  t.ok(watch.isSynced());
  t.same(names(watch), [
    'CronJob/default/nightly',
    'DaemonSet/default/agent',
    'Deployment/default/web',
    'StatefulSet/data/db',
  ]);
  log.length = 0;

  kube.seed(workload('Deployment', 'api'));
  const web = kube.get('Deployment', 'default', 'web')!;
  kube.upsert({
    ...web,
    metadata: { ...web.metadata, annotations: { 'image-watcher/mode': 'AUTO_UPDATE' } },
  });
  kube.upsert({
    ...web,
    metadata: {
      ...web.metadata,
      annotations: { 'image-watcher/mode': 'AUTO_UPDATE' },
      labels: { only: 'labels' },
    },
  });
  kube.setStatus('Deployment', 'default', 'web', { observedGeneration: 1, updatedReplicas: 1 });
  kube.delete('CronJob', 'default', 'nightly');
  await waitFor('the changes', () => log.length >= 4);
  t.same(
    log,
    [
      'add Deployment/default/api',
      'update Deployment/default/web',
      'update Deployment/default/web',
      'delete CronJob/default/nightly',
    ],
    'a labels-only change is not reported',
  );
  const snap = watch.list().find((s) => s.name === 'web')!;
  t.equal(snap.annotations['image-watcher/mode'], 'AUTO_UPDATE', 'the annotation change is picked up');
  t.equal(snap.rollout.updatedReplicas, 1, 'the status change is picked up');
  t.equal(
    snap.resourceVersion,
    kube.get('Deployment', 'default', 'web')!.metadata.resourceVersion,
    'the snapshot has the newest resourceVersion',
  );
  const watches = kube.requestsMatching({ watch: true });
  t.ok(watches.every((r) => r.query.allowWatchBookmarks === 'true' && r.query.timeoutSeconds === '300'));
});

t.test('only the configured namespaces are listed and watched', async (t) => {
  const { kube, watch } = await setup(
    t,
    { namespaces: ['a', 'b'], kinds: ['Deployment'] },
    { autoRollout: 'off' },
    [
      workload('Deployment', 'x', { namespace: 'a' }),
      workload('Deployment', 'y', { namespace: 'b' }),
      workload('Deployment', 'z', { namespace: 'c' }),
    ],
  );
  await watch.start();
  kube.seed(workload('Deployment', 'w', { namespace: 'c' }), workload('Deployment', 'v', { namespace: 'b' }));
  await waitFor('v', () => watch.list().length === 3);
  t.same(names(watch), ['Deployment/a/x', 'Deployment/b/v', 'Deployment/b/y']);
  t.same([...new Set(kube.requestsMatching({ watch: true }).map((r) => r.path))].sort(), [
    '/apis/apps/v1/namespaces/a/deployments',
    '/apis/apps/v1/namespaces/b/deployments',
  ]);
  t.equal(watchPath('CronJob', 'n s'), '/apis/batch/v1/namespaces/n%20s/cronjobs');
});

t.test('lists are paged', async (t) => {
  const seed = ['a', 'b', 'c', 'd', 'e'].map((n) => workload('Deployment', n));
  const { kube, watch } = await setup(
    t,
    { kinds: ['Deployment'], pageSize: 2 },
    { autoRollout: 'off' },
    seed,
  );
  await watch.start();
  t.equal(watch.list().length, 5);
  const lists = kube.requestsMatching({ method: 'GET', watch: false });
  t.equal(lists.length, 3);
  t.ok(lists.every((r) => r.query.limit === '2'));
});

t.test('after 410 Gone it relists and reports deletes it missed', async (t) => {
  const { kube, watch, log } = await setup(t, { kinds: ['Deployment'] }, { autoRollout: 'off' }, [
    workload('Deployment', 'a'),
    workload('Deployment', 'b'),
  ]);
  await watch.start();
  log.length = 0;
  // The watch reconnects late; meanwhile b goes, c comes, and history is compacted.
  kube.injectFault({ watch: true, delayMs: 100 });
  kube.closeWatches();
  kube.delete('Deployment', 'default', 'b');
  kube.seed(workload('Deployment', 'c'));
  kube.compactHistory();
  await waitFor(
    'the relist',
    () => watch.stats().gone === 1 && watch.list().length === 2 && log.length === 2,
  );
  t.same(names(watch), ['Deployment/default/a', 'Deployment/default/c']);
  t.same(log.sort(), ['add Deployment/default/c', 'delete Deployment/default/b']);
  t.equal(watch.stats().relists, 2);
});

t.test('a dropped watch resumes from its resourceVersion without relisting', async (t) => {
  const { kube, watch, log } = await setup(t, { kinds: ['Deployment'] }, { autoRollout: 'off' }, [
    workload('Deployment', 'a'),
  ]);
  await watch.start();
  log.length = 0;
  kube.closeWatches({ abrupt: true });
  kube.seed(workload('Deployment', 'b'));
  await waitFor('b', () => log.length === 1);
  kube.closeWatches();
  kube.seed(workload('Deployment', 'c'));
  await waitFor('c', () => log.length === 2);
  t.same(log, ['add Deployment/default/b', 'add Deployment/default/c'], 'no duplicates');
  t.equal(watch.stats().relists, 1, 'only the initial list');
  const resumed = kube.requestsMatching({ watch: true }).slice(1);
  t.ok(
    resumed.every((r) => r.query.resourceVersion !== ''),
    'watches resume from a resourceVersion',
  );
});

t.test('API errors are retried with capped backoff that resets after success', async (t) => {
  const delays: number[] = [];
  const { kube, watch } = await setup(
    t,
    {
      kinds: ['Deployment'],
      sleep: (ms) => {
        delays.push(ms);
        return new Promise((r) => setTimeout(r, 1));
      },
    },
    { autoRollout: 'off' },
    [workload('Deployment', 'a')],
  );
  kube.injectFault({ method: 'GET', watch: false, status: 500, times: 4 });
  await watch.start();
  t.same(delays, [10, 20, 40, 40], '10 ms doubling, capped at 40 ms');
  t.equal(watch.list().length, 1);
  delays.length = 0;
  kube.injectFault({ watch: true, status: 503, times: 1 });
  kube.closeWatches();
  kube.seed(workload('Deployment', 'b'));
  await waitFor('b', () => watch.list().length === 2);
  t.same(delays, [10], 'the backoff started over after the successful list');
  t.ok(watch.stats().errors >= 5);
});

t.test('an ERROR event other than 410 is retried', async (t) => {
  const { kube, watch } = await setup(t, { kinds: ['Deployment'] }, { autoRollout: 'off' }, [
    workload('Deployment', 'a'),
  ]);
  await watch.start();
  kube.injectFault({ watch: true, watchError: 500 });
  kube.closeWatches();
  kube.seed(workload('Deployment', 'b'));
  await waitFor('b', () => watch.list().length === 2);
  t.ok(watch.stats().errors >= 1);
});

t.test('the watchdog restarts a watch that stays open but silent', async (t) => {
  const { kube, watch, log } = await setup(
    t,
    { kinds: ['Deployment'], stallTimeoutMs: 150 },
    { autoRollout: 'off', bookmarkIntervalMs: 60_000 },
  );
  kube.injectFault({ watch: true, hangWatch: true });
  await watch.start();
  kube.seed(workload('Deployment', 'a'));
  await waitFor('the stalled watch to be replaced', () => log.length === 1);
  t.equal(watch.stats().stalls, 1);
  t.same(log, ['add Deployment/default/a']);
  await waitFor('the hanging watch to be closed', () => kube.openWatches({ hanging: true }) === 0);
});

t.test('a list that never answers is abandoned and retried', async (t) => {
  const { kube, watch } = await setup(
    t,
    { kinds: ['Deployment'], stallTimeoutMs: 100 },
    { autoRollout: 'off' },
    [workload('Deployment', 'a')],
  );
  kube.injectFault({ method: 'GET', watch: false, delayMs: 30_000 });
  await watch.start();
  t.equal(watch.list().length, 1);
  t.equal(watch.stats().errors, 1);
});

t.test('bookmarks keep a quiet watch alive', async (t) => {
  const { watch } = await setup(
    t,
    { kinds: ['Deployment'], stallTimeoutMs: 150 },
    { autoRollout: 'off', bookmarkIntervalMs: 30 },
  );
  await watch.start();
  // Ten bookmarks 30 ms apart span two stall timeouts: without them the watchdog would have fired.
  await waitFor('ten bookmarks', () => watch.stats().bookmarks >= 10);
  t.equal(watch.stats().stalls, 0);
  t.equal(watch.stats().watches, 1, 'the first watch is still the one open');
});

t.test('a periodic relist repairs what a watch missed', async (t) => {
  const { kube, watch } = await setup(
    t,
    { kinds: ['Deployment'], relistIntervalMs: 100, stallTimeoutMs: 60_000 },
    { autoRollout: 'off' },
  );
  // A watch that silently loses events: it hangs, and the relist finds the object.
  kube.injectFault({ watch: true, hangWatch: true });
  await watch.start();
  kube.seed(workload('Deployment', 'a'));
  await waitFor('the relist', () => watch.list().length === 1);
  t.ok(watch.stats().relists >= 2);
});

t.test('a throwing listener does not stop the watch', async (t) => {
  const { kube, watch, log } = await setup(t, { kinds: ['Deployment'] });
  watch.on('upsert', () => {
    throw new Error('listener bug');
  });
  await watch.start();
  kube.seed(workload('Deployment', 'a'));
  kube.seed(workload('Deployment', 'b'));
  await waitFor('both', () => log.length === 2);
  t.equal(watch.list().length, 2);
});

t.test('stop ends watches and a start waiting on an unreachable API', async (t) => {
  const { kube, watch } = await setup(t, { kinds: ['Deployment'] });
  kube.injectFault({ status: 500, times: Infinity });
  const starting = watch.start();
  await waitFor('a few attempts', () => watch.stats().errors >= 2);
  await watch.stop();
  await starting;
  t.notOk(watch.isSynced());
  kube.clearFaults();
  await watch.start();
  t.ok(watch.isSynced(), 'it can start again');
  await waitFor('a watch', () => kube.openWatches() >= 1);
  await watch.stop();
  await waitFor('the watch to close', () => kube.openWatches() === 0);
});

t.test('a server that keeps answering 410 Gone is relisted with backoff, not in a loop', async (t) => {
  const delays: number[] = [];
  const { kube, watch } = await setup(
    t,
    {
      kinds: ['Deployment'],
      backoff: () => exponentialBackoff({ initialMs: 1000, maxMs: 8000 }),
      // Records the backoff and returns at once: the test needs no real waiting.
      sleep: (ms) => {
        delays.push(ms);
        return new Promise((r) => setImmediate(r));
      },
    },
    { autoRollout: 'off' },
    [workload('Deployment', 'a')],
  );
  await watch.start();
  const gone = kube.injectFault({ watch: true, watchError: 410, times: 6 });
  kube.closeWatches();
  await waitFor('six 410s', () => gone.remaining === 0 && watch.stats().gone === 6);
  kube.seed(workload('Deployment', 'b'));
  await waitFor('the watch to work again', () => watch.list().length === 2);
  t.same(delays.slice(0, 5), [1000, 2000, 4000, 8000, 8000], 'every 410 after the first backs off, capped');
  const lists = kube.requestsMatching({ method: 'GET', watch: false }).length;
  t.ok(lists <= 8, `one LIST per 410 at most (${lists})`);
});
