import t, { type Test } from 'tap';
import { pino } from 'pino';
import { startFakeKube, type FakeKube } from '../../support/fake-kube/index.ts';
import { LeaseLeaderElector, type LeaderElectorOptions } from '../../../watcher/kube/leader.ts';
import type { LeaderElector } from '../../../watcher/kube/types.ts';
import { until } from '../../support/until.ts';

const logger = pino({ level: 'silent' });

const waitFor = (what: string, cond: () => boolean, ms = 4000) => until(what, cond, ms, 5);

async function fake(t: Test): Promise<FakeKube> {
  const kube = await startFakeKube();
  t.teardown(() => kube.close());
  return kube;
}

function elector(kube: FakeKube, identity: string, extra: Partial<LeaderElectorOptions> = {}) {
  const e = new LeaseLeaderElector({
    kubeConfig: kube.kubeConfig(),
    logger,
    namespace: 'image-watcher',
    name: 'image-watcher-watcher',
    identity,
    ...extra,
  });
  const changes: boolean[] = [];
  e.on('change', (leader) => changes.push(leader));
  return { e, changes };
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  leaseTransitions?: number;
  renewTime?: string;
}
const leaseSpec = (kube: FakeKube) =>
  kube.get('Lease', 'image-watcher', 'image-watcher-watcher')?.spec as LeaseSpec | undefined;

t.test('of two replicas exactly one leads; when it stops the other takes over', async (t) => {
  const kube = await fake(t);
  const fast = { renewIntervalMs: 30, retryIntervalMs: 30 };
  const a = elector(kube, 'pod-a', fast);
  const b = elector(kube, 'pod-b', fast);
  t.teardown(() => Promise.all([a.e.stop(), b.e.stop()]));
  await a.e.start();
  await b.e.start();
  t.ok(a.e.isLeader() satisfies boolean);
  t.equal(a.e.isLeader(), true);
  t.equal(b.e.isLeader(), false);
  t.match(leaseSpec(kube), { holderIdentity: 'pod-a', leaseDurationSeconds: 15, leaseTransitions: 0 });
  t.match(
    leaseSpec(kube)?.renewTime,
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/,
    'MicroTime has microseconds',
  );

  // The leader keeps renewing; the follower stays a follower.
  const rv = kube.get('Lease', 'image-watcher', 'image-watcher-watcher')!.metadata.resourceVersion;
  await waitFor(
    'a renewal',
    () => kube.get('Lease', 'image-watcher', 'image-watcher-watcher')!.metadata.resourceVersion !== rv,
  );
  t.equal(b.e.isLeader(), false);

  await a.e.stop();
  t.equal(a.e.isLeader(), false);
  t.same(a.changes, [true, false]);
  await waitFor('pod-b to take over', () => b.e.isLeader());
  t.match(leaseSpec(kube), { holderIdentity: 'pod-b', leaseTransitions: 1 });
  t.same(b.changes, [true]);
  t.ok((a.e satisfies LeaderElector) && true);
});

t.test('a crashed leader is replaced only after the lease duration, on the follower own clock', async (t) => {
  const kube = await fake(t);
  let now = 1_000_000;
  const clock = { now: () => now };
  const a = elector(kube, 'pod-a', clock);
  const b = elector(kube, 'pod-b', clock);
  t.equal(await a.e.tryAcquireOrRenew(), true);
  t.equal(await b.e.tryAcquireOrRenew(), false, 'b first sees the lease now');
  now += 14_000;
  t.equal(await b.e.tryAcquireOrRenew(), false, 'not expired after 14 s');
  // pod-a crashed: no renewals. 15 s after b first saw this record, b takes over.
  now += 1_500;
  t.equal(await b.e.tryAcquireOrRenew(), true);
  t.match(leaseSpec(kube), { holderIdentity: 'pod-b', leaseTransitions: 1 });
  // pod-a comes back: it sees another holder and follows.
  t.equal(await a.e.tryAcquireOrRenew(), false);
  t.same(a.changes, [true, false]);
});

t.test('a renewal by the holder postpones a takeover', async (t) => {
  const kube = await fake(t);
  let now = 0;
  const a = elector(kube, 'pod-a', { now: () => now });
  const b = elector(kube, 'pod-b', { now: () => now });
  await a.e.tryAcquireOrRenew();
  await b.e.tryAcquireOrRenew();
  now += 10_000;
  await a.e.tryAcquireOrRenew();
  now += 10_000;
  t.equal(await b.e.tryAcquireOrRenew(), false, 'the record changed 10 s ago');
});

t.test('of two replicas racing for a free lease, the 409 loser follows', async (t) => {
  const kube = await fake(t);
  const a = elector(kube, 'pod-a');
  const b = elector(kube, 'pod-b');
  const [ra, rb] = await Promise.all([a.e.tryAcquireOrRenew(), b.e.tryAcquireOrRenew()]);
  t.equal(Number(ra) + Number(rb), 1, 'exactly one won');
  t.equal(leaseSpec(kube)?.holderIdentity, ra ? 'pod-a' : 'pod-b');

  // Both see a released lease and write with the same resourceVersion: one gets 409.
  kube.upsert({
    ...kube.get('Lease', 'image-watcher', 'image-watcher-watcher')!,
    spec: { holderIdentity: '', leaseDurationSeconds: 1 },
  });
  const [sa, sb] = await Promise.all([a.e.tryAcquireOrRenew(), b.e.tryAcquireOrRenew()]);
  t.equal(Number(sa) + Number(sb), 1, 'exactly one won again');
  t.ok(kube.requestsMatching({ method: 'PUT' }).length >= 1);
});

t.test('a leader that cannot renew steps down at its renew deadline', async (t) => {
  const kube = await fake(t);
  let now = 0;
  const a = elector(kube, 'pod-a', { now: () => now });
  await a.e.tryAcquireOrRenew();
  kube.injectFault({ pathPattern: '/leases', status: 503, times: Infinity });
  now += 5_000;
  t.equal(await a.e.tryAcquireOrRenew(), true, 'still leading within the deadline');
  now += 6_000;
  t.equal(await a.e.tryAcquireOrRenew(), false, 'stepped down after 10 s without renewal');
  t.same(a.changes, [true, false]);
  kube.clearFaults();
  t.equal(await a.e.tryAcquireOrRenew(), true, 'its own lease is still its own');
});

t.test('a lease request that hangs counts as a failure', async (t) => {
  const kube = await fake(t);
  let now = 0;
  const a = elector(kube, 'pod-a', { now: () => now, requestTimeoutMs: 50 });
  await a.e.tryAcquireOrRenew();
  kube.injectFault({ pathPattern: '/leases', delayMs: 10_000 });
  now += 11_000;
  const started = Date.now();
  t.equal(await a.e.tryAcquireOrRenew(), false, 'stepped down instead of waiting');
  t.ok(Date.now() - started < 2000);
});

t.test('the identity defaults to the host name with a random suffix', async (t) => {
  const kube = await fake(t);
  const e = new LeaseLeaderElector({ kubeConfig: kube.kubeConfig(), logger, namespace: 'n', name: 'l' });
  const other = new LeaseLeaderElector({ kubeConfig: kube.kubeConfig(), logger, namespace: 'n', name: 'l' });
  t.match(e.identity, /-[0-9a-f]{6}$/);
  t.not(e.identity, other.identity);
  t.throws(() => new LeaseLeaderElector({ logger, namespace: 'n', name: 'l' }), TypeError);
});
