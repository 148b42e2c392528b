import t from 'tap';
import { abortableSleep, exponentialBackoff } from '../../../watcher/kube/backoff.ts';

t.test('delays double from 1 s up to the 30 s cap and start over after reset', (t) => {
  const b = exponentialBackoff();
  t.same(
    Array.from({ length: 8 }, () => b.next()),
    [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000],
  );
  b.reset();
  t.equal(b.next(), 1000);
  t.end();
});

t.test('jitter shortens each delay by up to its fraction', (t) => {
  const b = exponentialBackoff({ initialMs: 100, maxMs: 400, jitter: 0.5, random: () => 1 });
  t.same([b.next(), b.next(), b.next(), b.next()], [50, 100, 200, 200]);
  const none = exponentialBackoff({ initialMs: 100, jitter: 0.5, random: () => 0 });
  t.equal(none.next(), 100);
  t.end();
});

t.test('abortableSleep waits, and ends at once when aborted', async (t) => {
  let started = Date.now();
  await abortableSleep(30);
  t.ok(Date.now() - started >= 25, 'it waited');
  const abort = new AbortController();
  started = Date.now();
  const p = abortableSleep(10_000, abort.signal);
  abort.abort();
  await p;
  t.ok(Date.now() - started < 1000, 'abort ends the sleep');
  await abortableSleep(10_000, abort.signal);
  t.pass('an already aborted signal returns at once');
});
