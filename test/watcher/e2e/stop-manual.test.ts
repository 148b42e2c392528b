// A manual update request in flight when the watcher stops (SIGTERM, a rolling restart): through a
// real socket to the watcher built by createWatcher, while the registry has not answered yet.
// The caller gets a clear answer and nothing is left half-applied.
import { createServer } from 'node:http';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { annotationsOf, deployment, fakeKube, imageOf, startWatcher } from './support.ts';

t.test('a manual update in flight when the watcher stops: 503 E_STOPPING, nothing applied', async (t) => {
  // A registry that takes the request and never answers (until teardown).
  const held: ServerResponse[] = [];
  let asked!: () => void;
  const reached = new Promise<void>((resolve) => (asked = resolve));
  const registry = createServer((_req, res) => {
    held.push(res);
    asked();
  });
  await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const res of held) res.destroy();
    registry.close();
  });
  const host = `127.0.0.1:${(registry.address() as AddressInfo).port}`;

  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed(deployment('web', `${host}/shop/web:1.0.0`, { 'image-watcher/mode': 'AUTO_UPDATE' }));
  const w = await startWatcher(t.teardown.bind(t), kube, {
    env: { HTTP_PORT: '0', LISTEN_ADDRESS: '127.0.0.1' },
    listen: true,
    // The registry's own time-out is not what ends the request.
    io: { registry: { timeoutMs: 300_000, maxAttempts: 1, cacheTtlMs: 0 } },
  });
  const { port } = w.app.server.address() as AddressInfo;
  const answer = fetch(`http://127.0.0.1:${port}/api/v1/workloads/shop/deployment/web/update`, {
    method: 'POST',
    headers: { authorization: 'Bearer tok_0123456789abcdef' },
  });
  await reached; // the update is asking the registry
  await w.stop();
  const res = await answer;
  t.equal(res.status, 503, 'Service Unavailable: ask again (another replica, or after the restart)');
  t.equal(res.headers.get('retry-after'), '1');
  t.match(await res.json(), { code: 'E_STOPPING', error: /the watcher is stopping/ });

  const d = kube.get('Deployment', 'shop', 'web');
  t.equal(imageOf(d), `${host}/shop/web:1.0.0`, 'the image is not changed');
  const a = annotationsOf(d);
  t.equal(a['image-watcher/rollout'], undefined, 'no rollout recorded');
  t.equal(a['image-watcher/last-updated-version'], undefined);
  t.same(
    kube.requestsMatching({ method: 'PATCH', pathPattern: /\/deployments\/web$/ }),
    [],
    'the workload was not patched at all',
  );
  await t.rejects(
    w.controller.manualUpdate({ kind: 'Deployment', namespace: 'shop', name: 'web' }),
    { code: 'E_STOPPING' },
    'a request after the stop is answered at once',
  );
});
