// Policy gates in the reconciler, on an injected clock and the fake cluster/registry: fallback to
// the next older candidate, a hold that ends (min-age) requeues the workload, manual updates
// override the age but never platform or constraint, and notification-only workloads ask nothing.
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { policyGates } from '../../../watcher/check/policy-gates.ts';
import { Controller } from '../../../watcher/controller/index.ts';
import { WatcherMetrics } from '../../../watcher/metrics.ts';
import type { UpdateNotice } from '../../../watcher/notify/types.ts';
import { ManualClock } from '../../support/clock.ts';
import type { Obj } from '../../support/watcher-fakes.ts';
import { FakeCluster, FakeRegistry } from '../../support/watcher-fakes.ts';

const NGINX = 'docker.io/library/nginx';
const D = (n: number) => `sha256:${String(n).repeat(64)}`;
const AMD64 = { os: 'linux', architecture: 'amd64' };
const ARM64 = { os: 'linux', architecture: 'arm64' };

function world(t: Test) {
  const clock = new ManualClock(Date.parse('2026-06-01T12:00:00Z'));
  const cluster = new FakeCluster();
  const registry = new FakeRegistry();
  registry.tags.set(NGINX, ['1.25.0', '1.25.1', '1.26.0']);
  registry.digests.set(`${NGINX}:1.25.1`, D(1));
  registry.digests.set(`${NGINX}:1.26.0`, D(2));
  const notices: UpdateNotice[] = [];
  const metrics = new WatcherMetrics({ defaultMetrics: false });
  const c = new Controller({
    watch: cluster,
    gateway: cluster,
    leader: undefined,
    registry,
    credentialsFor: () => undefined,
    metrics,
    notify: (n) => {
      notices.push(...n);
      return Promise.resolve([{ delivered: n.length, failed: 0 }]);
    },
    logger: pino({ level: process.env.DEBUG_POLICY ?? 'silent' }),
    now: () => clock.date(),
    timers: clock,
    gates: policyGates(),
    config: {
      checkIntervalMs: 7 * 86_400_000,
      runOnBoot: false,
      overrides: {},
      rolloutTimeoutMs: 600_000,
      rolloutPollMs: 5_000,
      debounceMs: 1_000,
      registryConcurrency: 4,
    },
  });
  t.teardown(() => c.stop());
  const settle = async (ms = 0, step = 60_000) => {
    await c.idle(0);
    for (let left = ms; left > 0; left -= step) {
      clock.advance(Math.min(step, left));
      await c.idle(0);
    }
  };
  const cycle = async () => {
    void c.runCycle();
    await settle();
  };
  const held = () => c.workloads()[0]?.containers[0]?.held;
  return { clock, cluster, registry, notices, metrics, c, settle, cycle, held };
}

const image = (o: Obj) => o.spec.template.spec.containers[0]?.image;

t.test(
  'a candidate lacking a platform is held; the next older one that has them all is applied',
  async (t) => {
    const w = world(t);
    w.registry.manifests.set(`${NGINX}:1.25.0`, { kind: 'index', platforms: [AMD64, ARM64] });
    w.registry.manifests.set(`${NGINX}:${D(1)}`, { kind: 'index', platforms: [ARM64, AMD64] });
    w.registry.manifests.set(`${NGINX}:1.25.1`, { kind: 'index', platforms: [ARM64, AMD64] });
    w.registry.manifests.set(`${NGINX}:${D(2)}`, { kind: 'index', platforms: [AMD64] });
    w.cluster.add('web', 'nginx:1.25.0', {
      'image-watcher/mode': 'AUTO_UPDATE',
      'image-watcher/strategy': 'MINOR',
    });
    await w.c.start();
    await w.cycle();
    t.equal(image(w.cluster.objects.get('Deployment/shop/web')!), 'nginx:1.25.1', 'and no further');
    t.match(w.held(), {
      reason: 'platform',
      version: '1.26.0',
      message: '1.26.0 lacks linux/arm64; the running image provides linux/arm64, linux/amd64',
    });
    t.same(
      w.registry.factCalls.filter((c) => c.includes('sha256')).sort(),
      [`manifest ${NGINX}:${D(1)}`, `manifest ${NGINX}:${D(2)}`].sort(),
      'one manifest request per candidate digest',
    );
  },
);

t.test('min-age: the newest is held until it comes of age, then applied by the requeue', async (t) => {
  const w = world(t);
  w.registry.tags.set(NGINX, ['1.25.0', '1.25.1']);
  w.registry.created.set(`${NGINX}:${D(1)}`, '2026-06-01T11:00:00Z'); // one hour old
  w.cluster.add('web', 'nginx:1.25.0', {
    'image-watcher/mode': 'AUTO_UPDATE',
    'image-watcher/min-age': '2h',
  });
  await w.c.start();
  await w.cycle();
  t.equal(image(w.cluster.objects.get('Deployment/shop/web')!), 'nginx:1.25.0', 'too young: not applied');
  t.match(w.held(), { reason: 'min-age', version: '1.25.1', until: '2026-06-01T13:00:00.000Z' });
  t.match(
    (await w.metrics.render()).body,
    /image_watcher_update_held\{namespace="shop",kind="Deployment",workload="web",container="app",reason="min-age"\} 1/,
  );
  await w.settle(60 * 60_000);
  t.equal(image(w.cluster.objects.get('Deployment/shop/web')!), 'nginx:1.25.1', 'applied once of age');
  t.equal(w.clock.now(), Date.parse('2026-06-01T13:00:00Z'), 'no later than the hour it came of age');
});

t.test('NOTIFICATION without min-age asks no manifest, config or extra digest', async (t) => {
  const w = world(t);
  w.cluster.add('web', 'nginx:1.25.0', {});
  await w.c.start();
  await w.cycle();
  t.match(w.notices, [{ event: 'available', newVersion: '1.26.0' }]);
  t.same(w.registry.factCalls, []);
  t.equal(w.held(), undefined);
});

t.test('a constraint narrows the strategy; the newer version outside it is reported held', async (t) => {
  const w = world(t);
  w.cluster.add('web', 'nginx:1.25.0', { 'image-watcher/constraint': '~1.25' });
  await w.c.start();
  await w.cycle();
  t.match(w.notices, [{ event: 'available', newVersion: '1.25.1' }]);
  t.same(w.held(), {
    reason: 'constraint',
    version: '1.26.0',
    message: '1.26.0 is outside the constraint ~1.25',
  });
  t.same(w.registry.factCalls, [], 'a constraint needs no registry request');
});

t.test('a manual update overrides min-age, never platform or the constraint', async (t) => {
  const w = world(t);
  w.registry.created.set(`${NGINX}:${D(1)}`, '2026-06-01T11:59:00Z');
  w.registry.created.set(`${NGINX}:${D(2)}`, '2026-06-01T11:59:00Z');
  w.registry.manifests.set(`${NGINX}:1.25.0`, { kind: 'index', platforms: [AMD64, ARM64] });
  w.registry.manifests.set(`${NGINX}:${D(1)}`, { kind: 'index', platforms: [AMD64, ARM64] });
  w.registry.manifests.set(`${NGINX}:${D(2)}`, { kind: 'image' });
  w.cluster.add('web', 'nginx:1.25.0', {
    'image-watcher/min-age': '7d',
    'image-watcher/constraint': '<1.26',
  });
  w.cluster.add('api', 'nginx:1.25.0', { 'image-watcher/min-age': '7d' });
  await w.c.start();
  const req = { kind: 'Deployment' as const, namespace: 'shop', name: 'api' };

  await t.rejects(
    w.c.manualUpdate({ ...req, version: '1.26.0' }),
    {
      code: 'E_HELD',
      message: /1\.26\.0 is held for container app \(platform\): 1\.26\.0 is a single-platform image/,
    },
    'platform holds an explicit version',
  );
  await t.rejects(w.c.manualUpdate({ ...req, name: 'web', version: '1.26.0' }), {
    code: 'E_HELD',
    message: /1\.26\.0 is outside the constraint <1\.26/,
  });
  await w.settle();
  const r = await w.c.manualUpdate(req);
  t.same(
    r.changes,
    [{ container: 'app', from: '1.25.0', to: '1.25.1' }],
    'the age is overridden, not the platform',
  );
  t.equal(image(w.cluster.objects.get('Deployment/shop/api')!), 'nginx:1.25.1');
});

t.test('outside the window AUTO_UPDATE waits, but a manual update applies now', async (t) => {
  const w = world(t);
  w.registry.tags.set(NGINX, ['1.25.0', '1.25.1']);
  // Monday 12:00 UTC; the window is 02:00-02:59 UTC.
  w.cluster.add('web', 'nginx:1.25.0', {
    'image-watcher/mode': 'AUTO_UPDATE',
    'image-watcher/schedule': '* 2 * * *',
  });
  await w.c.start();
  await w.cycle();
  t.equal(image(w.cluster.objects.get('Deployment/shop/web')!), 'nginx:1.25.0');
  t.match(w.held(), { reason: 'schedule', version: '1.25.1', until: '2026-06-02T02:00:00.000Z' });
  t.match(w.notices, [
    { event: 'available', held: { reason: 'schedule', until: '2026-06-02T02:00:00.000Z' } },
  ]);
  const r = await w.c.manualUpdate({ kind: 'Deployment', namespace: 'shop', name: 'web' });
  t.same(r.changes, [{ container: 'app', from: '1.25.0', to: '1.25.1' }]);
  t.equal(
    image(w.cluster.objects.get('Deployment/shop/web')!),
    'nginx:1.25.1',
    'the window does not hold a person',
  );
});
