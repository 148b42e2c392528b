// Two replicas with real Lease leader election, and the HTTP API over the real pieces.
import { pino } from 'pino';
import t from 'tap';
import type { Test } from 'tap';
import { build } from '../../../watcher/http/app.ts';
import { LeaseLeaderElector } from '../../../watcher/kube/leader.ts';
import type { UpdateNotice } from '../../../watcher/notify/types.ts';
import { createRegistryClient } from '../../../watcher/registry/index.ts';
import { ApiAccess } from '../../../watcher/http/access.ts';
import { kubeIdentityReviewer } from '../../../watcher/http/kube-review.ts';
import { buildImage } from '../../support/images.ts';
import type { RunningRegistry } from '../../support/registry.ts';
import { pushImage, startRegistry } from '../../support/registry.ts';
import { rolloutStatus } from '../../support/fake-kube/rollout.ts';
import { annotationsOf, deployment, fakeKube, imageOf, startWatcher, until } from './support.ts';

let registry: RunningRegistry;

t.before(async () => {
  registry = await startRegistry();
  await pushImage(registry.url, 'shop/web', ['1.0.0', '1.0.1', '1.1.0'], buildImage());
  await pushImage(
    registry.url,
    'mojaloop/central-ledger',
    ['v13.1.0', 'v13.1.1', 'v13.1.0-patch.2'],
    buildImage(),
  );
});
t.teardown(() => registry.stop());

const web = (tag: string) => `${registry.host}/shop/web:${tag}`;

/** Two started Lease electors for the same lease, stopped at teardown; exactly one leads. */
async function twoElectors(
  t: Test,
  kube: Awaited<ReturnType<typeof fakeKube>>,
): Promise<[LeaseLeaderElector, LeaseLeaderElector]> {
  const elector = (identity: string) =>
    new LeaseLeaderElector({
      kubeConfig: kube.kubeConfig(),
      logger: pino({ level: 'silent' }),
      namespace: 'image-watcher',
      name: 'image-watcher-watcher',
      identity,
      leaseDurationSeconds: 2,
      renewIntervalMs: 200,
      retryIntervalMs: 100,
    });
  const a = elector('replica-a');
  const b = elector('replica-b');
  t.teardown(() => Promise.all([a.stop(), b.stop()]));
  await a.start();
  await b.start();
  return [a, b];
}

t.test('two replicas: one leads and acts, the other takes over when it stops', async (t) => {
  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'image-watcher' } });
  kube.seed(deployment('web', web('1.0.0')));
  const [a, b] = await twoElectors(t, kube);
  t.ok(a.isLeader() !== b.isLeader(), 'exactly one leads');
  const [leader, follower] = a.isLeader() ? [a, b] : [b, a];
  const notices: UpdateNotice[] = [];
  const wl = await startWatcher(t.teardown.bind(t), kube, { leader, notices });
  const wf = await startWatcher(t.teardown.bind(t), kube, { leader: follower, notices });
  await Promise.all([wl.controller.runCycle(), wf.controller.runCycle()]);
  t.equal(notices.length, 1, 'one notice');
  t.match(await wl.metricsText(), /image_watcher_registry_requests_total/, 'the leader asked the registry');
  t.notMatch(await wf.metricsText(), /image_watcher_registry_requests_total\{/, 'the follower did not');
  t.match(await wf.metricsText(), /image_watcher_leader 0/);

  // A new version while the leader goes away: the follower takes over and announces it once.
  await pushImage(registry.url, 'shop/web', ['1.2.0'], buildImage());
  await leader.stop();
  await until('the follower to lead', () => follower.isLeader(), 5000);
  await until('the new leader to announce 1.2.0', () => notices.some((n) => n.newVersion === '1.2.0'), 5000);
  await wf.controller.idle();
  t.equal(notices.length, 2);
  t.equal(
    annotationsOf(kube.get('Deployment', 'shop', 'web'))['image-watcher/last-notified-version'],
    '1.2.0',
  );
});

t.test('a leader replaced mid-rollout: the next leader resumes the watch and rolls back', async (t) => {
  const kube = await fakeKube(t.teardown.bind(t), {
    // The controller never acts on 1.0.1 by itself: the test decides when the rollout fails.
    autoRollout: (obj) => (JSON.stringify(obj.spec).includes(':1.0.1') ? 'off' : 'succeed'),
  });
  kube.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'image-watcher' } });
  kube.seed(
    deployment('web', web('1.0.0'), {
      'image-watcher/mode': 'AUTO_UPDATE',
      'image-watcher/strategy': 'PATCH',
    }),
  );
  const [a, b] = await twoElectors(t, kube);
  const [leader, follower] = a.isLeader() ? [a, b] : [b, a];
  const notices: UpdateNotice[] = [];
  const config = { rolloutTimeoutMs: 60_000 };
  const wl = await startWatcher(t.teardown.bind(t), kube, { leader, notices, config });
  const wf = await startWatcher(t.teardown.bind(t), kube, { leader: follower, notices, config });

  void wl.controller.runCycle();
  await until(
    'the leader to apply 1.0.1',
    () => imageOf(kube.get('Deployment', 'shop', 'web')) === web('1.0.1'),
  );
  const pending = JSON.parse(
    annotationsOf(kube.get('Deployment', 'shop', 'web'))['image-watcher/rollout'] ?? 'null',
  ) as { deadline: string; changes: { container: string; image: string; newImage: string }[] } | null;
  t.match(pending, {
    deadline: /^\d{4}-\d\d-\d\dT/,
    changes: [{ container: 'app', image: web('1.0.0'), newImage: web('1.0.1') }],
  });
  // The leader is replaced (a rolling update of the watcher) while the rollout runs.
  await wl.controller.stop();
  await leader.stop();
  await until('the follower to lead', () => follower.isLeader(), 5000);
  // Now the rollout fails: the new leader, which never applied it, must roll it back.
  const current = kube.get('Deployment', 'shop', 'web')!;
  kube.setStatus('Deployment', 'shop', 'web', rolloutStatus(current, 'fail'));
  await until(
    'the new leader to roll back',
    () => imageOf(kube.get('Deployment', 'shop', 'web')) === web('1.0.0'),
    10_000,
  );
  await wf.controller.idle();
  const after = annotationsOf(kube.get('Deployment', 'shop', 'web'));
  t.equal(after['image-watcher/last-failed-version'], '1.0.1', 'never tried again');
  t.equal(after['image-watcher/rollout'], undefined, 'the pending record is gone');
  t.match(notices, [{ event: 'rolled_back', newVersion: '1.0.1', detail: /timed out/ }]);
  t.match(await wf.metricsText(), /result="rolled_back"\} 1/);
  t.notMatch(await wl.metricsText(), /image_watcher_updates_total\{/, 'the old leader counted nothing');
});

t.test(
  'a watcher restarted mid-rollout sees it finish, then clears the record and announces it',
  async (t) => {
    const kube = await fakeKube(t.teardown.bind(t), {
      autoRollout: (obj) => (JSON.stringify(obj.spec).includes(':1.0.1') ? 'off' : 'succeed'),
    });
    kube.seed(
      deployment('web', web('1.0.0'), {
        'image-watcher/mode': 'AUTO_UPDATE',
        'image-watcher/strategy': 'PATCH',
      }),
    );
    const notices: UpdateNotice[] = [];
    const config = { rolloutTimeoutMs: 60_000 };
    const first = await startWatcher(t.teardown.bind(t), kube, { notices, config });
    void first.controller.runCycle();
    await until('1.0.1 to be applied', () => imageOf(kube.get('Deployment', 'shop', 'web')) === web('1.0.1'));
    await first.controller.stop();
    t.ok(annotationsOf(kube.get('Deployment', 'shop', 'web'))['image-watcher/rollout'], 'left pending');

    const second = await startWatcher(t.teardown.bind(t), kube, { notices, config });
    kube.setStatus(
      'Deployment',
      'shop',
      'web',
      rolloutStatus(kube.get('Deployment', 'shop', 'web')!, 'succeed'),
    );
    await until(
      'the record to be cleared',
      () => annotationsOf(kube.get('Deployment', 'shop', 'web'))['image-watcher/rollout'] === undefined,
      10_000,
    );
    await second.controller.idle();
    t.equal(imageOf(kube.get('Deployment', 'shop', 'web')), web('1.0.1'), 'kept');
    t.match(notices, [{ event: 'updated', newVersion: '1.0.1' }]);
    t.match(await second.metricsText(), /result="success"\} 1/);
  },
);

t.test('the HTTP API over the real pieces', async (t) => {
  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed(deployment('web', web('1.0.0')));
  const w = await startWatcher(t.teardown.bind(t), kube);
  // A dashboard's service account, bound to image-watcher-api-reader (manifests/watcher/api-roles.yaml).
  kube.addIdentity('reader-token', { username: 'system:serviceaccount:ops:dashboard' });
  kube.addAccessRule({
    users: ['system:serviceaccount:ops:dashboard'],
    verbs: ['list', 'get'],
    apiGroups: ['image-watcher.io'],
    resources: ['workloads', 'images'],
  });
  const app = await build({
    api: w.controller,
    registry: createRegistryClient({ logger: pino({ level: 'silent' }) }),
    metrics: w.metrics,
    ready: () => w.watch.isSynced(),
    access: new ApiAccess({
      reviewer: kubeIdentityReviewer({ kubeConfig: kube.kubeConfig() }),
      now: Date.now,
    }),
  });
  t.teardown(() => app.close());
  const reader = { authorization: 'Bearer reader-token' };

  t.equal((await app.inject('/readyz')).statusCode, 200);
  t.equal((await app.inject('/api/v1/workloads')).statusCode, 401, 'no identity, no inventory');
  const listed = (await app.inject({ url: '/api/v1/workloads', headers: reader })).json();
  t.match(listed, {
    workloads: [
      {
        name: 'web',
        kind: 'Deployment',
        mode: 'NOTIFICATION',
        strategy: 'ALL',
        containers: [{ currentVersion: '1.0.0' }],
      },
    ],
  });

  const resolved = await app.inject({
    url: `/api/v1/resolve?image=${encodeURIComponent(web('1.0.0'))}&strategy=PATCH`,
    headers: reader,
  });
  t.same(resolved.json(), {
    image: web('1.0.0'),
    current: '1.0.0',
    latest: '1.0.1',
    fullImage: web('1.0.1'),
    updateAvailable: true,
  });

  const forbidden = await app.inject({
    method: 'POST',
    url: '/api/v1/workloads/shop/deployment/web/update',
    headers: { authorization: 'Bearer wrong-token-000000' },
  });
  t.equal(forbidden.statusCode, 403);
  t.equal(imageOf(kube.get('Deployment', 'shop', 'web')), web('1.0.0'));

  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/workloads/shop/deployment/web/update?version=1.0.1',
    headers: { authorization: 'Bearer tok_0123456789abcdef' },
  });
  t.equal(res.statusCode, 202);
  t.match(res.json(), { status: 'updating', changes: [{ container: 'app', from: '1.0.0', to: '1.0.1' }] });
  t.equal(imageOf(kube.get('Deployment', 'shop', 'web')), web('1.0.1'));
  await w.controller.idle();
  t.match(await w.metricsText(), /result="success"\} 1/);
  t.match(annotationsOf(kube.get('Deployment', 'shop', 'web')), {
    'image-watcher/previous-version': '1.0.0',
    'image-watcher/current-version': '1.0.1',
  });
});
