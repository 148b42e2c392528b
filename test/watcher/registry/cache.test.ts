import t from 'tap';
import { CycleCache } from '../../../watcher/registry/cache.ts';
import { TokenBucket } from '../../../watcher/registry/rate-limit.ts';

t.test('the cycle cache shares one load per key within a cycle, then honours the TTL', async (t) => {
  let now = 0;
  let loads = 0;
  const cache = new CycleCache<number>({ ttlMs: 1000, now: () => now });
  const load = () => Promise.resolve(++loads);
  t.same(
    await Promise.all([cache.get('a', load), cache.get('a', load), cache.get('a', load)]),
    [1, 1, 1],
    'concurrent callers share one load',
  );
  now = 5000;
  t.equal(await cache.get('a', load), 1, 'same cycle: kept even past the TTL, one consistent view per cycle');
  cache.newCycle();
  t.equal(await cache.get('a', load), 2, 'new cycle past the TTL: loaded again');
  now = 5500;
  cache.newCycle();
  t.equal(await cache.get('a', load), 2, 'new cycle within the TTL: cached');
});

t.test('maxAgeMs bounds staleness when no new cycle starts', async (t) => {
  let now = 0;
  let loads = 0;
  const cache = new CycleCache<number>({ ttlMs: 0, now: () => now, maxAgeMs: 1000 });
  const load = () => Promise.resolve(++loads);
  await cache.get('k', load);
  now = 999;
  t.equal(await cache.get('k', load), 1);
  now = 1000;
  t.equal(await cache.get('k', load), 2, 'reloaded within the same cycle once too old');
});

t.test('failures are not cached', async (t) => {
  const cache = new CycleCache<string>({ ttlMs: 1000, now: () => 0 });
  await t.rejects(cache.get('k', () => Promise.reject(new Error('boom'))));
  t.equal(await cache.get('k', () => Promise.resolve('ok')), 'ok');
});

t.test('a TTL of 0 keeps answers for the current cycle only', async (t) => {
  let loads = 0;
  const cache = new CycleCache<number>({ ttlMs: 0, now: () => 0 });
  const load = () => Promise.resolve(++loads);
  await cache.get('k', load);
  t.equal(await cache.get('k', load), 1);
  cache.newCycle();
  t.equal(await cache.get('k', load), 2);
});

t.test('memory is bounded: the oldest entries go first', async (t) => {
  const cache = new CycleCache<string>({ ttlMs: 60_000, now: () => 0, maxEntries: 3 });
  for (const k of ['a', 'b', 'c', 'd']) await cache.get(k, () => Promise.resolve(k));
  t.equal(cache.size, 3);
  let reloaded = false;
  await cache.get('a', () => {
    reloaded = true;
    return Promise.resolve('a');
  });
  t.ok(reloaded, 'the evicted key is loaded again');
});

t.test('memory is bounded by bytes too: the oldest loaded values go first', async (t) => {
  const cache = new CycleCache<string>({
    ttlMs: 60_000,
    now: () => 0,
    maxBytes: 10,
    sizeOf: (v) => v.length,
  });
  await cache.get('a', () => Promise.resolve('aaaa'));
  await cache.get('b', () => Promise.resolve('bbbb'));
  t.equal(cache.bytes, 8);
  let release!: (v: string) => void;
  const pending = cache.get('slow', () => new Promise<string>((r) => (release = r)));
  await cache.get('c', () => Promise.resolve('cccc'));
  t.equal(cache.bytes, 8, 'a went to make room for c');
  let loads = 0;
  await cache.get('a', () => {
    loads++;
    return Promise.resolve('aaaa');
  });
  t.equal(loads, 1, 'a was evicted');
  let shared = 0;
  void cache.get('slow', () => {
    shared++;
    return Promise.resolve('x');
  });
  t.equal(shared, 0, 'a load in flight is never evicted for bytes: callers still share it');
  release('ssssssssssss');
  t.equal(await pending, 'ssssssssssss', 'a value larger than the budget reaches its callers');
  await Promise.resolve();
  t.ok(cache.bytes <= 10, `and is not kept (${cache.bytes} bytes)`);
});

t.test('the token bucket allows a burst, then spaces calls at the rate', async (t) => {
  let now = 0;
  const sleeps: number[] = [];
  const bucket = new TokenBucket({
    ratePerSecond: 4,
    burst: 2,
    now: () => now,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
  });
  await Promise.all([bucket.take(), bucket.take(), bucket.take(), bucket.take()]);
  t.same(sleeps, [250, 500], 'third waits one interval, fourth two');
  now = 10_000;
  sleeps.length = 0;
  await bucket.take();
  t.same(sleeps, [], 'refilled after a pause');
  t.throws(
    () => new TokenBucket({ ratePerSecond: 0, burst: 1, now: () => 0, sleep: () => Promise.resolve() }),
    RangeError,
  );
});
