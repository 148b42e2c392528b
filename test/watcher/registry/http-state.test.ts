import t from 'tap';
import { RegistryHttp } from '../../../watcher/registry/http.ts';

function http(fetchImpl: typeof fetch, concurrency = 2): RegistryHttp {
  return new RegistryHttp({
    fetch: fetchImpl,
    observer: { observeRegistryRequest: () => {} },
    logger: undefined,
    now: () => Date.now(),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    random: () => 0.5,
    timeoutMs: 1000,
    maxAttempts: 1,
    backoff: { initialMs: 1, maxMs: 2, jitter: 1 },
    maxRetryAfterMs: 1000,
    concurrency,
    ratePerSecond: 1000,
    burst: 1000,
  });
}

t.test('limiter state of idle registries is dropped, so thousands of hosts stay bounded', async (t) => {
  const client = http(() => Promise.resolve(new Response('{}', { status: 200 })));
  for (let i = 0; i < 1000; i++) {
    const res = await client.send({
      registry: `r${i}.example`,
      limitKey: `r${i}.example`,
      method: 'GET',
      url: `http://127.0.0.1:9/v2/`,
      headers: {},
      maxBytes: 1024,
      what: 'a ping',
    });
    t.equal(res.status, 200, `request ${i}`);
  }
  t.ok(client.trackedHosts <= 256, `at most 256 registries tracked (${client.trackedHosts})`);
});

t.test('a registry with a request in flight keeps its limiter: its concurrency still holds', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let inFlight = 0;
  let maxInFlight = 0;
  const client = http(async (input) => {
    if ((input instanceof Request ? input.url : input.toString()).includes('busy')) {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await gate;
      inFlight--;
    }
    return new Response('{}', { status: 200 });
  }, 1);
  const req = (host: string) => ({
    registry: host,
    limitKey: host,
    method: 'GET' as const,
    url: `http://${host}/v2/`,
    headers: {},
    maxBytes: 1024,
    what: 'a ping',
  });
  const first = client.send(req('busy.example'));
  for (let i = 0; i < 300; i++) await client.send(req(`idle${i}.example`));
  // Sent after the sweeps: with a fresh limiter it would run next to the first one.
  const second = client.send(req('busy.example'));
  await new Promise((r) => setTimeout(r, 20));
  release();
  t.equal((await first).status, 200);
  t.equal((await second).status, 200);
  t.equal(maxInFlight, 1, 'one request at a time to the busy registry, sweeps or not');
});
