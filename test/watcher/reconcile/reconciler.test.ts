// The reconciler with an injected clock: time moves only when a test advances it, so rollout
// deadlines, requeues and notice claims are decided without real waiting.
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { Controller } from '../../../watcher/controller/index.ts';
import type { ControllerConfig } from '../../../watcher/controller/index.ts';
import type { WorkloadKind } from '../../../watcher/kube/types.ts';
import { WatcherMetrics } from '../../../watcher/metrics.ts';
import type { UpdateNotice } from '../../../watcher/notify/types.ts';
import { ManualClock } from '../../support/clock.ts';
import type { Obj } from '../../support/watcher-fakes.ts';
import { FakeCluster, FakeLeader, FakeRegistry } from '../../support/watcher-fakes.ts';

const AUTO = { 'image-watcher/mode': 'AUTO_UPDATE', 'image-watcher/strategy': 'PATCH' };
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const D3 = `sha256:${'3'.repeat(64)}`;

function world(t: Test) {
  const clock = new ManualClock();
  const cluster = new FakeCluster();
  const registry = new FakeRegistry();
  registry.tags.set('docker.io/library/nginx', ['1.25.0', '1.25.1', '1.26.0']);
  registry.tags.set('docker.io/library/redis', ['7.0.0', '7.2.0']);
  const notices: UpdateNotice[] = [];
  const controllers: Controller[] = [];
  t.teardown(async () => {
    for (const c of controllers) await c.stop();
  });
  const make = async (
    opts: {
      leader?: FakeLeader;
      config?: Partial<ControllerConfig>;
      notify?: (n: UpdateNotice[]) => Promise<unknown>;
    } = {},
  ) => {
    const metrics = new WatcherMetrics({ defaultMetrics: false });
    const c = new Controller({
      watch: cluster,
      gateway: cluster,
      leader: opts.leader,
      registry,
      credentialsFor: () => undefined,
      metrics,
      notify:
        opts.notify ??
        ((n) => {
          notices.push(...n);
          return Promise.resolve([{ delivered: n.length, failed: 0 }]);
        }),
      logger: pino({ level: process.env.DEBUG_RECON ?? 'silent' }),
      now: () => clock.date(),
      timers: clock,
      config: {
        checkIntervalMs: 3_600_000,
        runOnBoot: false,
        overrides: {},
        rolloutTimeoutMs: 600_000,
        rolloutPollMs: 5_000,
        debounceMs: 1_000,
        registryConcurrency: 4,
        ...opts.config,
      },
    });
    controllers.push(c);
    await c.start();
    return { c, metrics };
  };
  /** Runs what is due now, then lets time pass in steps (each step fires due requeues). */
  const settle = async (c: Controller, ms = 0, step = 1000) => {
    await c.idle(0);
    for (let left = ms; left > 0; left -= step) {
      clock.advance(Math.min(step, left));
      await c.idle(0);
    }
  };
  return { clock, cluster, registry, notices, make, settle };
}

const ann = (o: Obj, key: string) => o.metadata.annotations?.[`image-watcher/${key}`];
const image = (o: Obj) => o.spec.template.spec.containers[0]?.image;

t.test('rollouts as state: each reconcile judges the record from the workload status', async (t) => {
  const cases: {
    name: string;
    rollout: 'complete' | 'deadline' | 'pending';
    /** Advance the clock this far after the update. */
    after: number;
    want: { image: string; record: boolean; events: string[]; result?: string; failed?: string };
  }[] = [
    {
      name: 'a rollout that completes clears the record and counts a success',
      rollout: 'complete',
      after: 0,
      want: { image: 'nginx:1.25.1', record: false, events: ['updated'], result: 'success' },
    },
    {
      name: 'a Progressing=False deadline rolls back at once and records the failed version',
      rollout: 'deadline',
      after: 0,
      want: {
        image: 'nginx:1.25.0',
        record: false,
        events: ['rolled_back'],
        result: 'rolled_back',
        failed: '1.25.1',
      },
    },
    {
      name: 'a rollout still running before ROLLOUT_TIMEOUT is left alone, record kept',
      rollout: 'pending',
      after: 599_000,
      want: { image: 'nginx:1.25.1', record: true, events: [] },
    },
    {
      name: 'a rollout still running at ROLLOUT_TIMEOUT is rolled back',
      rollout: 'pending',
      after: 600_000,
      want: {
        image: 'nginx:1.25.0',
        record: false,
        events: ['rolled_back'],
        result: 'rolled_back',
        failed: '1.25.1',
      },
    },
  ];
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const w = world(t);
      w.cluster.rollout = c.rollout;
      w.cluster.add('web', 'nginx:1.25.0', AUTO);
      const { c: ctl, metrics } = await w.make();
      void ctl.runCycle();
      await w.settle(ctl, c.after, 5_000);
      const o = w.cluster.objects.get('Deployment/shop/web')!;
      t.equal(image(o), c.want.image);
      t.equal(ann(o, 'rollout') !== undefined, c.want.record, 'record');
      t.same(
        w.notices.map((n) => n.event),
        c.want.events,
      );
      if (c.want.result) {
        t.match((await metrics.render()).body, new RegExp(`workload="web",result="${c.want.result}"\\} 1`));
      }
      t.equal(ann(o, 'last-failed-version'), c.want.failed);
    });
  }
});

t.test('a restart mid-rollout: the new process judges the record like any other', async (t) => {
  const w = world(t);
  w.cluster.rollout = 'pending';
  w.cluster.add('web', 'nginx:1.25.0', AUTO);
  const first = await w.make();
  void first.c.runCycle();
  await w.settle(first.c);
  t.equal(w.cluster.imagePatches('web'), 1);
  await first.c.stop();
  // The rollout finishes while no watcher runs; a new one starts (no RUN_ON_BOOT).
  w.cluster.edit('web', (o) => {
    o.status = { ...o.status, updatedReplicas: 1 };
  });
  const second = await w.make();
  await w.settle(second.c);
  const o = w.cluster.objects.get('Deployment/shop/web')!;
  t.equal(ann(o, 'rollout'), undefined, 'the record is cleared by the restarted watcher');
  t.same(
    w.notices.map((n) => `${n.event} ${n.newVersion}`),
    ['updated 1.25.1'],
  );
  t.equal(w.cluster.imagePatches('web'), 1, 'not updated twice');
});

t.test('a leader change mid-rollout: the new leader rolls back past the deadline', async (t) => {
  const w = world(t);
  w.cluster.rollout = 'pending';
  w.cluster.add('web', 'nginx:1.25.0', AUTO);
  const leaseA = new FakeLeader(true);
  const leaseB = new FakeLeader(false);
  const a = await w.make({ leader: leaseA });
  const b = await w.make({ leader: leaseB });
  void a.c.runCycle();
  await w.settle(a.c);
  t.equal(image(w.cluster.objects.get('Deployment/shop/web')!), 'nginx:1.25.1');
  leaseA.set(false);
  leaseB.set(true);
  await w.settle(b.c, 610_000, 5_000);
  await w.settle(a.c);
  const o = w.cluster.objects.get('Deployment/shop/web')!;
  t.equal(image(o), 'nginx:1.25.0', 'the new leader rolled it back');
  t.equal(ann(o, 'last-failed-version'), '1.25.1');
  t.same(
    w.notices.map((n) => n.event),
    ['rolled_back'],
    'one rollback, by one replica',
  );
});

t.test('a notice is sent when decided, not after another workload’s rollout', async (t) => {
  const w = world(t);
  w.cluster.rollout = 'pending';
  w.cluster.add('auto', 'nginx:1.25.0', AUTO);
  w.cluster.add('note', 'redis:7.0.0');
  const { c } = await w.make();
  void c.runCycle();
  await w.settle(c);
  t.same(
    w.notices.map((n) => `${n.workload.name} ${n.event}`),
    ['note available'],
    'announced while the other rollout is still running',
  );
  t.ok(ann(w.cluster.objects.get('Deployment/shop/auto')!, 'rollout'), 'that rollout is still recorded');
});

t.test('notices: stamped only after the send; a crash in between sends again, once', async (t) => {
  const w = world(t);
  w.cluster.add('web', 'nginx:1.25.0');
  // The first process dies during the send (its send never comes back; it is stopped).
  const hung = await w.make({ notify: () => Promise.reject(new Error('killed mid-send')) });
  void hung.c.runCycle();
  await w.settle(hung.c);
  await hung.c.stop();
  const o = () => w.cluster.objects.get('Deployment/shop/web')!;
  t.equal(ann(o(), 'notice-pending'), '1.26.0', 'claimed');
  t.equal(ann(o(), 'last-notified-version'), undefined, 'not stamped before the send');
  // A restart within the claim time-out leaves the claim to its owner...
  const second = await w.make({ config: { noticeClaimTtlMs: 300_000 } });
  void second.c.runCycle();
  await w.settle(second.c);
  t.equal(w.notices.length, 0, 'no duplicate while the claim may still be sent');
  // ...and takes it over once it has timed out.
  await w.settle(second.c, 300_000, 60_000);
  t.same(
    w.notices.map((n) => `${n.event} ${n.newVersion}`),
    ['available 1.26.0'],
  );
  t.equal(ann(o(), 'last-notified-version'), '1.26.0');
  t.equal(ann(o(), 'notice-pending'), undefined);
  void second.c.runCycle();
  await w.settle(second.c);
  t.equal(w.notices.length, 1, 'stamped: never sent again');
});

t.test('notices: when every channel fails, the claim stays and the notice is retried', async (t) => {
  const w = world(t);
  w.cluster.add('web', 'nginx:1.25.0');
  let fail = true;
  const sent: string[] = [];
  const { c } = await w.make({
    config: { noticeClaimTtlMs: 60_000 },
    notify: (n) => {
      if (fail) return Promise.resolve([{ delivered: 0, failed: 1 }]);
      sent.push(...n.map((x) => x.newVersion));
      return Promise.resolve([{ delivered: 1, failed: 0 }]);
    },
  });
  void c.runCycle();
  await w.settle(c);
  const o = () => w.cluster.objects.get('Deployment/shop/web')!;
  t.equal(ann(o(), 'last-notified-version'), undefined);
  fail = false;
  await w.settle(c, 60_000, 10_000);
  t.same(sent, ['1.26.0']);
  t.equal(ann(o(), 'last-notified-version'), '1.26.0');
});

t.test('the digest flap rule: a digest counts once seen in two passes in a row', async (t) => {
  const w = world(t);
  w.registry.digests.set('docker.io/library/nginx:latest', D1);
  w.cluster.add('web', 'nginx:latest');
  const { c } = await w.make();
  const pass = async (digest: string) => {
    w.registry.digests.set('docker.io/library/nginx:latest', digest);
    void c.runCycle();
    await w.settle(c);
  };
  await pass(D1); // baseline
  for (const d of [D2, D3, D2, D3, D2, D3]) await pass(d);
  t.equal(w.notices.length, 0, 'a registry that answers a new digest on every HEAD never notifies');
  await pass(D3);
  t.match(w.notices, [{ event: 'available', change: 'digest', newVersion: `latest@${D3}` }]);
});

function statefulSet(cluster: FakeCluster, partition: number | undefined): Obj {
  const o = cluster.add('db', 'nginx:1.25.0', AUTO, 'StatefulSet');
  o.spec.replicas = 3;
  if (partition !== undefined)
    o.spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { partition } };
  o.status = { observedGeneration: 1, replicas: 3, updatedReplicas: 3, availableReplicas: 3 };
  return o;
}

t.test('a StatefulSet: counts reached but pods on the old revision is not complete', async (t) => {
  const w = world(t);
  w.cluster.rollout = 'pending';
  statefulSet(w.cluster, undefined);
  const { c } = await w.make();
  void c.runCycle();
  await w.settle(c);
  // The controller reports every replica updated and available, but the revisions still differ.
  w.cluster.edit('db', (o) => {
    o.status = {
      observedGeneration: o.metadata.generation,
      replicas: 3,
      updatedReplicas: 3,
      availableReplicas: 3,
      currentRevision: 'db-1',
      updateRevision: 'db-2',
    };
  });
  await w.settle(c, 10_000);
  t.ok(ann(w.cluster.objects.get('StatefulSet/shop/db')!, 'rollout'), 'still watched');
  t.same(w.notices, []);
  w.cluster.edit('db', (o) => {
    o.status = { ...o.status, currentRevision: 'db-2' };
  });
  await w.settle(c);
  t.same(
    w.notices.map((n) => n.event),
    ['updated'],
  );
});

t.test('a StatefulSet with a partition completes once the pods above it are updated', async (t) => {
  const w = world(t);
  w.cluster.rollout = 'pending';
  statefulSet(w.cluster, 2);
  const { c } = await w.make();
  void c.runCycle();
  await w.settle(c);
  w.cluster.edit('db', (o) => {
    o.status = {
      observedGeneration: o.metadata.generation,
      replicas: 3,
      updatedReplicas: 1,
      availableReplicas: 3,
      currentRevision: 'db-1',
      updateRevision: 'db-2',
    };
  });
  await w.settle(c);
  t.same(
    w.notices.map((n) => n.event),
    ['updated'],
    'replica 2 (the one at or above the partition) runs the new revision: done',
  );
  t.equal(ann(w.cluster.objects.get('StatefulSet/shop/db')!, 'rollout'), undefined);
});

t.test('a CronJob: success as soon as the update is written, never rolled back', async (t) => {
  const w = world(t);
  w.cluster.rollout = 'deadline'; // whatever its status says: a CronJob has no rollout
  const kind: WorkloadKind = 'CronJob';
  w.cluster.add('nightly', 'nginx:1.25.0', AUTO, kind);
  const { c, metrics } = await w.make();
  void c.runCycle();
  await w.settle(c);
  const o = w.cluster.objects.get('CronJob/shop/nightly')!;
  t.equal(o.spec.jobTemplate?.spec.template.spec.containers[0]?.image, 'nginx:1.25.1');
  t.equal(ann(o, 'rollout'), undefined);
  t.same(
    w.notices.map((n) => n.event),
    ['updated'],
  );
  t.match((await metrics.render()).body, /workload="nightly",result="success"\} 1/);
});

t.test('a watch event is reconciled after the debounce, a burst costs one reconcile', async (t) => {
  const w = world(t);
  w.cluster.add('web', 'nginx:1.25.0', { 'image-watcher/mode': 'DISABLED' });
  const { c } = await w.make();
  for (let i = 0; i < 3; i++) {
    w.cluster.edit('web', (o) => {
      o.metadata.annotations = { 'image-watcher/mode': 'NOTIFICATION', n: String(i) };
    });
  }
  await w.settle(c, 999);
  t.equal(w.notices.length, 0, 'not before the debounce');
  await w.settle(c, 1);
  t.equal(w.notices.length, 1);
  t.equal(w.registry.listCalls.get('docker.io/library/nginx'), 1, 'one check for the burst');
});

t.test('one registry that never answers stalls only its own workloads (the security review)', async (t) => {
  const w = world(t);
  w.registry.hang.add('docker.io/library/nginx');
  w.cluster.add('web', 'nginx:1.25.0');
  w.cluster.add('cache', 'redis:7.0.0');
  const { c } = await w.make();
  let passDone = false;
  void c.runCycle().then(() => {
    passDone = true;
  });
  // No idle(): a reconcile is waiting for nginx on purpose. The notice for cache is an event away.
  for (let i = 0; i < 100 && w.notices.length === 0; i++) await new Promise((r) => setImmediate(r));
  t.same(
    w.notices.map((n) => n.workload.name),
    ['cache'],
    'the other workload is announced while nginx hangs',
  );
  t.notOk(passDone, 'the pass waits for web');
  // Deleting the only workload that waits for nginx aborts its request; the pass completes.
  w.cluster.remove('web');
  await new Promise((r) => setImmediate(r));
  t.same(w.registry.aborted, ['docker.io/library/nginx']);
  t.ok(passDone);
});
