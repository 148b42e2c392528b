// The controller against small in-memory fakes of its collaborators (the end-to-end tests in
// test/watcher/e2e use the fake API server and a real registry instead).
import { pino } from 'pino';
import t from 'tap';
import { Controller } from '../../watcher/controller/index.ts';
import type { ControllerConfig, ControllerDeps } from '../../watcher/controller/index.ts';
import { WatcherMetrics } from '../../watcher/metrics.ts';
import type { UpdateNotice } from '../../watcher/notify/types.ts';
import type { Obj } from '../support/watcher-fakes.ts';
import { FakeCluster, FakeLeader, FakeRegistry } from '../support/watcher-fakes.ts';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

interface Harness {
  cluster: FakeCluster;
  registry: FakeRegistry;
  notices: UpdateNotice[];
  metrics: WatcherMetrics;
  make(opts?: {
    leader?: FakeLeader;
    config?: Partial<ControllerConfig>;
    releaseNotes?: () => Promise<{ url: string } | undefined>;
    gitops?: ControllerDeps['gitops'];
    now?: () => Date;
  }): Promise<Controller>;
}

function harness(t: { teardown(fn: () => unknown): void }): Harness {
  const cluster = new FakeCluster();
  const registry = new FakeRegistry();
  registry.tags.set('docker.io/library/nginx', ['1.25.0', '1.25.1', '1.26.0', 'latest']);
  registry.tags.set('docker.io/library/redis', ['7.0.0', '7.2.0']);
  const notices: UpdateNotice[] = [];
  const metrics = new WatcherMetrics({ defaultMetrics: false });
  const controllers: Controller[] = [];
  t.teardown(async () => {
    for (const c of controllers) await c.stop();
  });
  return {
    cluster,
    registry,
    notices,
    metrics,
    async make(opts = {}) {
      const c = new Controller({
        watch: cluster,
        gateway: cluster,
        leader: opts.leader,
        registry,
        credentialsFor: () => undefined,
        metrics,
        notify: (n) => {
          notices.push(...n);
          return Promise.resolve();
        },
        ...(opts.releaseNotes ? { releaseNotes: opts.releaseNotes } : {}),
        ...(opts.gitops ? { gitops: opts.gitops } : {}),
        logger: pino({ level: 'silent' }),
        now: opts.now ?? (() => new Date('2026-11-23T10:00:00Z')),
        config: {
          checkIntervalMs: 3_600_000,
          runOnBoot: false,
          overrides: {},
          rolloutTimeoutMs: 1000,
          rolloutPollMs: 1,
          debounceMs: 5,
          registryConcurrency: 4,
          ...opts.config,
        },
      });
      controllers.push(c);
      await c.start();
      return c;
    },
  };
}

const ann = (o: Obj, key: string) => o.metadata.annotations?.[`image-watcher/${key}`];

t.test('NOTIFICATION announces a version once, also across a restart', async (t) => {
  const h = harness(t);
  const web = h.cluster.add('web', 'nginx:1.25.0');
  const c1 = await h.make();
  await c1.runCycle();
  t.equal(h.notices.length, 1, 'one notice');
  t.match(h.notices[0], {
    event: 'available',
    container: 'app',
    currentVersion: '1.25.0',
    newVersion: '1.26.0',
    change: 'minor',
  });
  t.equal(ann(h.cluster.objects.get('Deployment/shop/web')!, 'last-notified-version'), '1.26.0');
  t.same(
    h.cluster.events.map((e) => e.reason),
    ['UpdateAvailable'],
  );
  await c1.runCycle();
  await c1.stop();
  const c2 = await h.make();
  await c2.runCycle();
  t.equal(h.notices.length, 1, 'no repeat by the same or a restarted controller');
  t.equal(
    web.spec.template.spec.containers[0]?.image,
    'nginx:1.25.0',
    'NOTIFICATION never changes the image',
  );
  h.registry.tags.set('docker.io/library/nginx', ['1.25.0', '1.26.0', '1.27.0']);
  await c2.runCycle();
  t.equal(h.notices.length, 2, 'a newer version is announced again');
  t.equal(h.notices[1]?.newVersion, '1.27.0');
});

t.test('two replicas: only the leader acts', async (t) => {
  const h = harness(t);
  h.cluster.add('web', 'nginx:1.25.0');
  const a = await h.make({ leader: new FakeLeader(true) });
  const b = await h.make({ leader: new FakeLeader(false) });
  await Promise.all([a.runCycle(), b.runCycle()]);
  t.equal(h.notices.length, 1);
  t.equal(h.registry.listCalls.get('docker.io/library/nginx'), 1, 'the follower does not ask the registry');
});

t.test('a replica that loses the lease stops exporting image_outdated series', async (t) => {
  const h = harness(t);
  h.cluster.add('web', 'nginx:1.25.0');
  const lease = new FakeLeader(true);
  const c = await h.make({ leader: lease });
  await c.runCycle();
  t.match((await h.metrics.render()).body, /image_watcher_image_outdated\{[^}]*workload="web"[^}]*\} 1/);
  lease.set(false);
  t.notMatch((await h.metrics.render()).body, /image_watcher_image_outdated\{/, 'no stale series');
  t.match((await h.metrics.render()).body, /image_watcher_leader 0/);
});

t.test('two leaders at once (a handover) still notify once thanks to the test guard', async (t) => {
  const h = harness(t);
  h.cluster.add('web', 'nginx:1.25.0');
  const a = await h.make();
  const b = await h.make();
  await Promise.all([a.runCycle(), b.runCycle()]);
  t.equal(h.notices.length, 1);
});

t.test('AUTO_UPDATE updates, writes the history and counts a success', async (t) => {
  const h = harness(t);
  h.cluster.add('web', 'nginx:1.25.0', {
    'image-watcher/mode': 'AUTO_UPDATE',
    'image-watcher/strategy': 'PATCH',
  });
  const notes = { url: 'https://example.invalid/notes' };
  const c = await h.make({ releaseNotes: () => Promise.resolve(notes) });
  await c.runCycle();
  const o = h.cluster.objects.get('Deployment/shop/web')!;
  t.equal(o.spec.template.spec.containers[0]?.image, 'nginx:1.25.1');
  t.equal(ann(o, 'previous-version'), '1.25.0');
  t.equal(ann(o, 'current-version'), '1.25.1');
  t.equal(ann(o, 'last-updated-version'), '1.25.1');
  t.equal(ann(o, 'last-updated'), '2026-11-23T10:00:00Z');
  t.match(h.notices, [{ event: 'updated', newVersion: '1.25.1', releaseNotes: notes }]);
  t.match(await h.metrics.render(), {
    body: /image_watcher_updates_total\{namespace="shop",kind="Deployment",workload="web",result="success"\} 1/,
  });
  await c.runCycle();
  t.equal(h.cluster.imagePatches('web'), 1, 'nothing more to do once updated');
});

t.test('a failed rollout is rolled back and that version is never retried', async (t) => {
  const h = harness(t);
  h.cluster.rollout = 'deadline';
  h.cluster.add('web', 'nginx:1.25.0', {
    'image-watcher/mode': 'AUTO_UPDATE',
    'image-watcher/strategy': 'PATCH',
  });
  const c = await h.make();
  await c.runCycle();
  await c.idle();
  const o = h.cluster.objects.get('Deployment/shop/web')!;
  t.equal(o.spec.template.spec.containers[0]?.image, 'nginx:1.25.0', 'old image back');
  t.equal(ann(o, 'last-failed-version'), '1.25.1');
  t.equal(ann(o, 'current-version'), '1.25.0');
  t.match(h.notices, [{ event: 'rolled_back', newVersion: '1.25.1' }]);
  t.ok(h.cluster.events.some((e) => e.reason === 'UpdateRolledBack' && e.type === 'Warning'));
  t.match(await h.metrics.render(), { body: /result="rolled_back"\} 1/ });
  await c.runCycle();
  await c.idle();
  t.equal(h.cluster.imagePatches('web'), 2, 'one update and one rollback, no retry');
});

t.test('a GitOps revert is recorded once and not fought', async (t) => {
  const h = harness(t);
  h.cluster.add('web', 'nginx:1.25.0', {
    'image-watcher/mode': 'AUTO_UPDATE',
    'image-watcher/strategy': 'PATCH',
  });
  const c = await h.make();
  await c.runCycle();
  await c.idle();
  t.equal(h.cluster.imagePatches('web'), 1);
  // GitOps re-applies the old manifest; the webhook keeps our annotations.
  h.cluster.edit('web', (o) => {
    o.spec.template.spec.containers[0]!.image = 'nginx:1.25.0';
  });
  await c.idle();
  for (let i = 0; i < 3; i++) await c.runCycle();
  await c.idle();
  t.equal(h.cluster.imagePatches('web'), 1, 'no second update of the same version');
  const o = h.cluster.objects.get('Deployment/shop/web')!;
  t.equal(o.spec.template.spec.containers[0]?.image, 'nginx:1.25.0');
  t.equal(ann(o, 'last-failed-version'), '1.25.1');
  t.equal(h.notices.filter((n) => n.event === 'reverted_externally').length, 1, 'notified once');
});

t.test('a registry down for one repository does not stop the others', async (t) => {
  const h = harness(t);
  h.registry.down.add('docker.io/library/redis');
  h.cluster.add('web', 'nginx:1.25.0');
  h.cluster.add('cache', 'redis:7.0.0');
  const c = await h.make();
  await c.runCycle();
  t.same(
    h.notices.map((n) => n.workload.name),
    ['web'],
  );
  const cache = c.workloads().find((w) => w.name === 'cache');
  t.match(cache?.lastError, /E_REGISTRY_UNAVAILABLE/);
  t.equal(c.workloads().find((w) => w.name === 'web')?.lastError, undefined);
  t.match(await h.metrics.render(), {
    body: /image_watcher_check_errors_total\{code="E_REGISTRY_UNAVAILABLE"\} 1/,
  });
});

t.test('each repository is asked once per cycle however many workloads use it', async (t) => {
  const h = harness(t);
  for (let i = 0; i < 20; i++)
    h.cluster.add(`web-${i}`, i % 2 ? 'nginx:1.25.0' : 'docker.io/library/nginx:1.26.0');
  const c = await h.make();
  await c.runCycle();
  t.equal(h.registry.listCalls.get('docker.io/library/nginx'), 1);
});

t.test('an annotation change is picked up without a restart', async (t) => {
  const h = harness(t);
  h.cluster.add('web', 'nginx:1.25.0', { 'image-watcher/mode': 'DISABLED' });
  const c = await h.make();
  await c.runCycle();
  t.equal(h.notices.length, 0, 'DISABLED: nothing');
  h.cluster.edit('web', (o) => {
    o.metadata.annotations!['image-watcher/mode'] = 'AUTO_UPDATE';
  });
  await c.idle();
  t.equal(
    h.cluster.objects.get('Deployment/shop/web')!.spec.template.spec.containers[0]?.image,
    'nginx:1.26.0',
  );
});

t.test(
  'workloads with equal annotations share their parsed settings, each still judged on its own',
  async (t) => {
    const h = harness(t);
    const only = { 'image-watcher/containers': 'side1' };
    h.cluster.add('a', 'nginx:1.25.0');
    h.cluster.add('b', 'nginx:1.25.0');
    // Equal annotations, other containers: side1 exists only in the second.
    h.cluster.add('one', 'nginx:1.25.0', only);
    h.cluster.add('two', ['nginx:1.25.0', 'redis:7.0.0'], only);
    const c = await h.make();
    await c.runCycle();
    const view = (name: string) => c.workloads().find((w) => w.name === name);
    t.equal(view('a')?.mode, 'NOTIFICATION');
    t.equal(view('b')?.mode, 'NOTIFICATION');
    t.match(view('one')?.lastError, /names containers that do not exist: side1/);
    t.equal(view('two')?.lastError, undefined);
    t.same(
      view('two')?.containers.map((v) => v.name),
      ['side1'],
      'only the named container is watched',
    );
    h.cluster.edit('b', (o) => {
      o.metadata.annotations!['image-watcher/mode'] = 'DISABLED';
    });
    await c.idle();
    t.equal(view('b')?.mode, 'DISABLED', 'the edited workload reads its new settings');
    t.equal(view('a')?.mode, 'NOTIFICATION', 'the one it shared them with keeps its own');
  },
);

t.test('a deleted workload takes its metric series along', async (t) => {
  const h = harness(t);
  h.cluster.add('web', 'nginx:1.25.0');
  const c = await h.make();
  await c.runCycle();
  t.match(
    (await h.metrics.render()).body,
    /image_watcher_image_outdated\{[^}]*workload="web"[^}]*latest_version="1.26.0"\} 1/,
  );
  t.match((await h.metrics.render()).body, /image_watcher_workloads\{mode="NOTIFICATION"\} 1/);
  h.cluster.remove('web');
  const body = (await h.metrics.render()).body;
  t.notMatch(body, /workload="web"/);
  t.match(body, /image_watcher_workloads\{mode="NOTIFICATION"\} 0/);
  t.same(c.workloads(), []);
});

t.test('under ALL a new digest behind latest is announced after a baseline', async (t) => {
  const h = harness(t);
  h.registry.digests.set('docker.io/library/nginx:latest', D1);
  h.cluster.add('web', 'nginx:latest');
  const c = await h.make();
  await c.runCycle();
  t.equal(h.notices.length, 0, 'first sighting records the baseline');
  h.registry.digests.set('docker.io/library/nginx:latest', D2);
  await c.runCycle();
  t.equal(h.notices.length, 0, 'a new digest must be seen in two passes in a row');
  await c.runCycle();
  t.match(h.notices, [{ event: 'available', change: 'digest', newVersion: `latest@${D2}` }]);
  await c.runCycle();
  t.equal(h.notices.length, 1, 'the same digest is not announced twice');
});

t.test('invalid annotations are reported, not fatal', async (t) => {
  const h = harness(t);
  h.cluster.add('web', 'nginx:1.25.0', { 'image-watcher/strategy': 'SOMETIMES' });
  h.cluster.add('api', 'nginx:1.25.0');
  const c = await h.make();
  await c.runCycle();
  t.match(c.workloads().find((w) => w.name === 'web')?.lastError, /strategy/);
  t.same(
    h.notices.map((n) => n.workload.name),
    ['api'],
  );
});

t.test('manualUpdate honours DISABLED, explicit versions and never downgrades', async (t) => {
  const h = harness(t);
  h.cluster.add('off', 'nginx:1.25.0', { 'image-watcher/mode': 'DISABLED' });
  h.cluster.add('web', 'nginx:1.25.1');
  const c = await h.make();
  await t.rejects(c.manualUpdate({ kind: 'Deployment', namespace: 'shop', name: 'off' }), {
    code: 'E_DISABLED',
  });
  await t.rejects(c.manualUpdate({ kind: 'Deployment', namespace: 'shop', name: 'nope' }), {
    code: 'E_NOT_FOUND',
  });
  await t.rejects(c.manualUpdate({ kind: 'Deployment', namespace: 'shop', name: 'web', version: '1.25.0' }), {
    code: 'E_BAD_VERSION',
  });
  await t.rejects(c.manualUpdate({ kind: 'Deployment', namespace: 'shop', name: 'web', version: '9.9.9' }), {
    code: 'E_BAD_VERSION',
  });
  h.registry.tags.set('docker.io/library/nginx', ['1.25.0', '1.25.1', '1.26.0', '1.26.0-alpine', '1.27']);
  for (const other of ['1.26.0-alpine', '1.27']) {
    await t.rejects(c.manualUpdate({ kind: 'Deployment', namespace: 'shop', name: 'web', version: other }), {
      code: 'E_BAD_VERSION',
      message: new RegExp(`'${other}' does not have the form of the running tag of app \\(1\\.25\\.1\\)`),
    });
  }
  const r = await c.manualUpdate({ kind: 'Deployment', namespace: 'shop', name: 'web', version: '1.26.0' });
  t.match(r, { changes: [{ container: 'app', from: '1.25.1', to: '1.26.0' }] });
  await c.idle();
  t.equal(
    h.cluster.objects.get('Deployment/shop/web')!.spec.template.spec.containers[0]?.image,
    'nginx:1.26.0',
  );
  await t.rejects(c.manualUpdate({ kind: 'Deployment', namespace: 'shop', name: 'web' }), {
    code: 'E_NO_UPDATE',
  });
});

t.test('a new leader checks at once', async (t) => {
  const h = harness(t);
  h.cluster.add('web', 'nginx:1.25.0');
  const leader = new FakeLeader(false);
  const c = await h.make({ leader });
  await c.runCycle();
  t.equal(h.notices.length, 0);
  leader.set(true);
  await c.idle();
  t.equal(h.notices.length, 1);
  t.match((await h.metrics.render()).body, /image_watcher_leader 1/);
});

t.test('RUN_ON_BOOT checks right after start', async (t) => {
  const h = harness(t);
  h.cluster.add('web', 'nginx:1.25.0');
  const c = await h.make({ config: { runOnBoot: true } });
  await c.idle();
  t.equal(h.notices.length, 1);
  t.match((await h.metrics.render()).body, /image_watcher_last_check_timestamp_seconds \d+/);
});

t.test('release notes are fetched once per image per cycle, and a failure never fails a check', async (t) => {
  const h = harness(t);
  for (let i = 0; i < 5; i++) h.cluster.add(`web-${i}`, 'nginx:1.25.0');
  h.cluster.add('cache', 'redis:7.0.0');
  let calls = 0;
  const c = await h.make({
    releaseNotes: () => {
      calls++;
      return calls === 1
        ? Promise.resolve({ url: 'https://example.invalid/1.26.0' })
        : Promise.reject(new Error('boom'));
    },
  });
  await c.runCycle();
  t.equal(calls, 2, 'one fetch for nginx, one for redis');
  t.equal(h.notices.length, 6, 'every workload is still announced');
  t.equal(h.notices.filter((n) => n.releaseNotes?.url !== undefined).length, 5, 'the nginx notes are shared');
});

t.test('the release notes of an announced version are kept for the approval page', async (t) => {
  const h = harness(t);
  h.cluster.add('web', 'nginx:1.25.0');
  let calls = 0;
  const c = await h.make({
    releaseNotes: () => {
      calls++;
      return Promise.resolve({ url: 'https://example.invalid/1.26.0' });
    },
  });
  await c.runCycle();
  t.match(h.notices, [{ newVersion: '1.26.0', releaseNotes: { url: 'https://example.invalid/1.26.0' } }]);
  t.same(c.releaseNotesFor('Deployment', 'shop', 'web', '1.26.0'), { url: 'https://example.invalid/1.26.0' });
  t.equal(calls, 1, 'looking them up fetches nothing');
  t.equal(c.releaseNotesFor('Deployment', 'shop', 'web', '1.25.1'), undefined, 'another version: none');
  t.equal(c.releaseNotesFor('Deployment', 'shop', 'api', '1.26.0'), undefined, 'another workload: none');
});

t.test('a status write racing the notification stamp is retried on the fresh object', async (t) => {
  const h = harness(t);
  h.cluster.add('web', 'nginx:1.25.0');
  const c = await h.make();
  h.cluster.statusWriteBeforeNextPatch = true;
  await c.runCycle();
  t.equal(h.notices.length, 1, 'announced once after the retry');
  t.same(
    h.cluster.patches.map((p) => p.ops.some((o) => o.path.endsWith('notice-pending') && o.op === 'remove')),
    [false, true],
    'one successful claim, then the stamp after the send',
  );
  await c.runCycle();
  t.equal(h.notices.length, 1);
});

t.test(
  'a transient API error while a rollout is watched loses neither the rollout nor other notices',
  async (t) => {
    const h = harness(t);
    h.cluster.add('note', 'nginx:1.25.0');
    h.cluster.add('auto', 'nginx:1.25.0', {
      'image-watcher/mode': 'AUTO_UPDATE',
      'image-watcher/strategy': 'PATCH',
    });
    const c = await h.make();
    h.cluster.failGets = 2;
    await c.runCycle();
    await c.idle();
    t.equal(
      h.cluster.objects.get('Deployment/shop/note')!.metadata.annotations?.[
        'image-watcher/last-notified-version'
      ],
      '1.26.0',
    );
    t.match(
      h.notices.map((n) => `${n.workload.name} ${n.event}`).sort(),
      ['auto updated', 'note available'],
      'the stamped announcement is sent and the rollout watch goes on',
    );
    t.match(await h.metrics.render(), { body: /workload="auto",result="success"\} 1/ });
  },
);

t.test('a manual update holds the workload until its rollout ends', async (t) => {
  const h = harness(t);
  h.cluster.rollout = 'pending';
  h.cluster.add('web', 'nginx:1.25.0', { 'image-watcher/mode': 'AUTO_UPDATE' });
  const c = await h.make();
  const r = await c.manualUpdate({ kind: 'Deployment', namespace: 'shop', name: 'web', version: '1.25.1' });
  t.match(r, { status: 'updating', changes: [{ from: '1.25.0', to: '1.25.1' }] });
  await c.runCycle();
  t.equal(h.cluster.imagePatches('web'), 1, 'no second update while the first rollout is watched');
  h.cluster.rollout = 'complete';
  // The rollout controller reports progress: a watch event like any other.
  h.cluster.edit('web', (o) => {
    o.status = { ...o.status, updatedReplicas: 1 };
  });
  await c.idle();
  const now = h.cluster.objects.get('Deployment/shop/web')!;
  t.equal(now.spec.template.spec.containers[0]?.image, 'nginx:1.26.0', 'then the cycle goes on from 1.25.1');
  t.equal(ann(now, 'previous-version'), '1.25.1');
});

t.test('a workload switched to DISABLED drops its image_outdated series', async (t) => {
  const h = harness(t);
  h.cluster.add('web', 'nginx:1.25.0');
  const c = await h.make();
  await c.runCycle();
  t.match((await h.metrics.render()).body, /image_watcher_image_outdated\{[^}]*workload="web"[^}]*\} 1/);
  h.cluster.edit('web', (o) => {
    o.metadata.annotations = { ...o.metadata.annotations, 'image-watcher/mode': 'DISABLED' };
  });
  await c.runCycle();
  await c.idle();
  t.notMatch((await h.metrics.render()).body, /image_watcher_image_outdated\{[^}]*workload="web"/);
});

t.test('a failed Git write is not tried again in its pass, and is in the next', async (t) => {
  const h = harness(t);
  h.cluster.add('web', 'nginx:1.25.0', {
    'image-watcher/mode': 'AUTO_UPDATE',
    'image-watcher/strategy': 'PATCH',
    'image-watcher/write-back': 'git',
    'image-watcher/git-repo': 'https://git.example.com/shop.git',
    'image-watcher/git-path': 'apps',
  });
  const submitted: string[] = [];
  const c = await h.make({
    gitops: {
      defaults: { repo: undefined, secret: undefined },
      writeBack: {
        submit: (req) => {
          submitted.push(req.changes.map((x) => x.newVersion).join());
          return Promise.resolve({ result: 'failed', code: 'E_GIT_PUSH', reason: 'remote said no' });
        },
      },
    },
  });
  await c.runCycle();
  await c.idle();
  t.same(submitted, ['1.25.1']);
  await c.reconcileWorkload('Deployment/shop/web');
  t.same(submitted, ['1.25.1'], 'not written again in the pass that failed');
  await c.runCycle();
  await c.idle();
  t.same(submitted, ['1.25.1', '1.25.1'], 'written again in the next pass');
  t.match(c.workloads()[0]?.lastError, /^E_GIT_PUSH: remote said no/);
});

t.test('a notice claim without a time is taken over only a claim time-out after it was seen', async (t) => {
  const h = harness(t);
  // notice-pending with last-notified removed (by hand): no crashed sender leaves that.
  h.cluster.add('web', 'nginx:1.25.0', { 'image-watcher/notice-pending': '1.26.0' });
  let now = Date.parse('2026-11-23T10:00:00Z');
  const c = await h.make({ now: () => new Date(now), config: { noticeClaimTtlMs: 60_000 } });
  await c.runCycle();
  t.same(h.notices, [], 'respected when first seen');
  now += 59_000;
  await c.runCycle();
  t.same(h.notices, [], 'still respected within the time-out');
  now += 1000;
  await c.runCycle();
  t.match(h.notices, [{ event: 'available', newVersion: '1.26.0' }], 'taken over after the time-out');
  t.equal(ann(h.cluster.objects.get('Deployment/shop/web')!, 'notice-pending'), undefined);
});
