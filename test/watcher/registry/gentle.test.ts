// Request counts against the real registry, through a counting proxy.
import t from 'tap';
import { parseImageReference } from '../../../shared/image-ref.ts';
import { OciRegistryClient } from '../../../watcher/registry/client.ts';
import { buildImage } from '../../support/images.ts';
import { pushImage, startCountingProxy, startRegistry } from '../../support/registry.ts';
import type { CountingProxy, RunningRegistry } from '../../support/registry.ts';

let registry: RunningRegistry;
let proxy: CountingProxy;
const REPOS = Array.from({ length: 10 }, (_, i) => `team/svc-${i}`);

t.before(async () => {
  registry = await startRegistry();
  await Promise.all(
    REPOS.flatMap((repo) =>
      ['1.0.0', '1.1.0', 'latest'].map((tag) => pushImage(registry.url, repo, [tag], buildImage())),
    ),
  );
  proxy = await startCountingProxy(registry.url);
});
t.teardown(async () => {
  await proxy.close();
  await registry.stop();
});

/** 100 workloads, 10 per repository, as the watcher sees them in one cycle. */
function workloads() {
  return Array.from({ length: 100 }, (_, i) => parseImageReference(`${proxy.host}/${REPOS[i % 10]}:1.0.0`));
}

t.test('100 workloads on 10 repositories cost 10 tag lists per cycle', async (t) => {
  proxy.requests.length = 0;
  let now = 0;
  const client = new OciRegistryClient({
    now: () => now,
    cacheTtlMs: 60_000,
    ratePerSecond: 1000,
    burst: 1000,
  });
  const started = performance.now();
  const lists = await Promise.all(workloads().map((ref) => client.listTags(ref)));
  const ms = performance.now() - started;
  t.ok(lists.every((tags) => tags.length === 3));
  t.equal(
    proxy.count('GET', /\/tags\/list$/),
    10,
    'one request per repository, concurrent callers shared it',
  );
  t.comment(`cycle 1: 100 workloads, ${proxy.requests.length} requests, ${ms.toFixed(0)} ms`);

  await Promise.all(workloads().map((ref) => client.listTags(ref)));
  t.equal(proxy.count('GET', /\/tags\/list$/), 10, 'a second pass in the same cycle hits no network');

  now += 30_000;
  client.newCycle();
  await Promise.all(workloads().map((ref) => client.listTags(ref)));
  t.equal(proxy.count('GET', /\/tags\/list$/), 10, 'next cycle within the TTL: served from cache');

  now += 60_000;
  client.newCycle();
  await Promise.all(workloads().map((ref) => client.listTags(ref)));
  t.equal(proxy.count('GET', /\/tags\/list$/), 20, 'next cycle after the TTL: 10 more');
});

t.test('digests cost HEAD requests only, one per repository and tag per cycle', async (t) => {
  proxy.requests.length = 0;
  const client = new OciRegistryClient({ ratePerSecond: 1000, burst: 1000 });
  const digests = await Promise.all(workloads().map((ref) => client.getDigest(ref, 'latest')));
  t.equal(new Set(digests).size, 10);
  t.equal(proxy.count('HEAD', /\/manifests\//), 10);
  t.equal(proxy.count('GET', /\/manifests\//), 0, 'no manifest GET: nothing a registry counts as a pull');
  t.equal(proxy.count('GET', /\/blobs\//), 0);
  client.newCycle();
  await Promise.all(workloads().map((ref) => client.getDigest(ref, 'latest')));
  t.equal(proxy.count('HEAD', /\/manifests\//), 20, 'digests are asked again each cycle');
});

t.test('at most `concurrency` requests per registry are in flight', async (t) => {
  let inFlight = 0;
  let peak = 0;
  const client = new OciRegistryClient({
    concurrency: 3,
    ratePerSecond: 1000,
    burst: 1000,
    fetch: async (input, init) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      try {
        const res = await fetch(input, init);
        const body = await res.arrayBuffer();
        return new Response(body, { status: res.status, headers: res.headers });
      } finally {
        inFlight--;
      }
    },
  });
  await Promise.all(REPOS.map((repo) => client.listTags(parseImageReference(`${proxy.host}/${repo}:1.0.0`))));
  t.equal(peak, 3);
});

t.test('the rate limit spaces requests beyond the burst', async (t) => {
  const sleeps: number[] = [];
  let now = 0;
  const client = new OciRegistryClient({
    ratePerSecond: 2,
    burst: 2,
    now: () => now,
    sleep: (ms) => {
      sleeps.push(ms);
      now += ms;
      return Promise.resolve();
    },
    concurrency: 1,
  });
  await Promise.all(
    REPOS.slice(0, 5).map((repo) => client.listTags(parseImageReference(`${proxy.host}/${repo}:1.0.0`))),
  );
  t.same(sleeps, [500, 500, 500], 'two at once, then one every 500 ms');
});
