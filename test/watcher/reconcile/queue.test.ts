import t from 'tap';
import { WorkQueue, cappedBackoff } from '../../../watcher/reconcile/queue.ts';
import type { ReconcileResult } from '../../../watcher/reconcile/queue.ts';
import { ManualClock } from '../../support/clock.ts';

/** A handler whose calls the test releases one by one. */
function gated() {
  const calls: string[] = [];
  const gates: { key: string; release: (r?: ReconcileResult | Error) => void }[] = [];
  let active = 0;
  let maxActive = 0;
  const handler = (key: string): Promise<ReconcileResult> => {
    calls.push(key);
    active++;
    maxActive = Math.max(maxActive, active);
    return new Promise<ReconcileResult>((resolve, reject) => {
      gates.push({
        key,
        release: (r) => {
          active--;
          if (r instanceof Error) reject(r);
          else resolve(r ?? {});
        },
      });
    });
  };
  return { calls, gates, handler, maxActive: () => maxActive };
}

const tick = () => new Promise((r) => setImmediate(r));

t.test('a key added many times while queued runs once', async (t) => {
  const q = new WorkQueue({ concurrency: 1, timers: new ManualClock() });
  const g = gated();
  q.add('a');
  q.add('b');
  q.add('b');
  q.add('a');
  q.start(g.handler);
  t.same(g.calls, ['a']);
  g.gates[0]!.release();
  await tick();
  t.same(g.calls, ['a', 'b']);
  g.gates[1]!.release();
  await q.idle();
  t.same(g.calls, ['a', 'b']);
});

t.test('a key is never handled twice at once; added while running, it runs once more after', async (t) => {
  const q = new WorkQueue({ concurrency: 4, timers: new ManualClock() });
  const g = gated();
  q.start(g.handler);
  q.add('a');
  q.add('a');
  q.add('a');
  t.same(g.calls, ['a']);
  g.gates[0]!.release();
  await tick();
  t.same(g.calls, ['a', 'a'], 'one more run for the adds during the first');
  g.gates[1]!.release();
  await q.idle();
  t.equal(g.calls.length, 2);
  t.equal(g.maxActive(), 1);
});

t.test('concurrency bounds the keys handled at once', async (t) => {
  const q = new WorkQueue({ concurrency: 2, timers: new ManualClock() });
  const g = gated();
  q.start(g.handler);
  for (const k of ['a', 'b', 'c', 'd']) q.add(k);
  t.same(g.calls, ['a', 'b']);
  g.gates[0]!.release();
  await tick();
  t.same(g.calls, ['a', 'b', 'c']);
  for (const gate of g.gates.slice(1)) gate.release();
  await tick();
  g.gates[3]!.release();
  await q.idle();
  t.equal(g.maxActive(), 2);
});

t.test('addAfter: the earliest due time wins', async (t) => {
  const clock = new ManualClock();
  const q = new WorkQueue({ concurrency: 1, timers: clock });
  const g = gated();
  q.start(g.handler);
  q.addAfter('a', 10_000);
  q.addAfter('a', 3_000);
  q.addAfter('a', 20_000);
  clock.advance(2_999);
  t.same(g.calls, []);
  clock.advance(1);
  t.same(g.calls, ['a']);
  g.gates[0]!.release();
  await q.idle();
  clock.advance(60_000);
  t.same(g.calls, ['a'], 'the later times were folded into the first');
});

t.test('requeueAfter brings a key back; add() before that runs it now', async (t) => {
  const clock = new ManualClock();
  const q = new WorkQueue({ concurrency: 1, timers: clock });
  const g = gated();
  q.start(g.handler);
  q.add('a');
  g.gates[0]!.release({ requeueAfter: 5_000 });
  await q.idle();
  t.ok(q.has('a'), 'waiting');
  clock.advance(5_000);
  t.same(g.calls, ['a', 'a']);
  g.gates[1]!.release({ requeueAfter: 5_000 });
  await q.idle();
  q.add('a');
  t.same(g.calls, ['a', 'a', 'a'], 'an event does not wait for the requeue');
  g.gates[2]!.release();
  await q.idle();
  clock.advance(10_000);
  t.equal(g.calls.length, 3, 'the pending requeue was dropped by add');
});

t.test('a failing key backs off per key, capped, and a success resets it', async (t) => {
  const clock = new ManualClock();
  const errors: string[] = [];
  const q = new WorkQueue({
    concurrency: 2,
    timers: clock,
    backoff: (n) => cappedBackoff(n, 1000, 4000),
    onError: (key) => errors.push(key),
  });
  const g = gated();
  q.start(g.handler);
  q.add('bad');
  q.add('good');
  g.gates[0]!.release(new Error('boom'));
  g.gates[1]!.release();
  await q.idle();
  const at = (ms: number) => {
    clock.advance(ms);
  };
  at(999);
  t.equal(g.calls.length, 2);
  at(1);
  t.equal(g.calls.length, 3, 'first retry after 1 s');
  g.gates[2]!.release(new Error('boom'));
  await q.idle();
  at(1999);
  t.equal(g.calls.length, 3);
  at(1);
  t.equal(g.calls.length, 4, 'then 2 s');
  g.gates[3]!.release(new Error('boom'));
  await q.idle();
  at(4000);
  t.equal(g.calls.length, 5, 'then 4 s');
  g.gates[4]!.release(new Error('boom'));
  await q.idle();
  at(4000);
  t.equal(g.calls.length, 6, 'capped at 4 s');
  g.gates[5]!.release();
  await q.idle();
  t.same(errors, ['bad', 'bad', 'bad', 'bad']);
  q.add('bad');
  g.gates[6]!.release(new Error('boom'));
  await q.idle();
  at(1000);
  t.equal(g.calls.length, 8, 'a success reset the backoff');
  g.gates[7]!.release();
  await q.idle();
  t.same(
    g.calls.filter((k) => k === 'good'),
    ['good'],
    'the good key never waited for the bad one',
  );
});

t.test('stop drains: running handlers finish, queued and delayed keys are dropped', async (t) => {
  const clock = new ManualClock();
  const q = new WorkQueue({ concurrency: 1, timers: clock });
  const g = gated();
  q.start(g.handler);
  q.add('a');
  q.add('b');
  q.addAfter('c', 1000);
  let stopped = false;
  const stopping = q.stop().then(() => {
    stopped = true;
  });
  await tick();
  t.notOk(stopped, 'waits for the running handler');
  g.gates[0]!.release();
  await stopping;
  clock.advance(5000);
  q.add('d');
  t.same(g.calls, ['a']);
  t.equal(clock.pending, 0);
});

t.test('forget drops a queued key and its delayed run', async (t) => {
  const clock = new ManualClock();
  const q = new WorkQueue({ concurrency: 1, timers: clock });
  const g = gated();
  q.add('x');
  q.add('y');
  q.addAfter('z', 100);
  q.forget('x');
  q.forget('z');
  q.start(g.handler);
  clock.advance(1000);
  t.same(g.calls, ['y']);
  g.gates[0]!.release();
  await q.idle();
});

t.test('cappedBackoff doubles up to the cap', (t) => {
  t.same(
    [1, 2, 3, 4, 5, 40].map((n) => cappedBackoff(n, 500, 3000)),
    [500, 1000, 2000, 3000, 3000, 3000],
  );
  t.end();
});
