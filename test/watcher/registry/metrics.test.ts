import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import t from 'tap';
import { parseImageReference } from '../../../shared/image-ref.ts';
import { OciRegistryClient } from '../../../watcher/registry/client.ts';
import { registerRegistryMetrics } from '../../../watcher/registry/metrics.ts';

t.test('the client records requests by registry, method and code, and their duration', async (t) => {
  let calls = 0;
  const server = createServer((req, res) => {
    calls++;
    if (req.url?.includes('/tags/list')) {
      if (calls === 1) return res.writeHead(503).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"tags":["1.0.0"]}');
      return;
    }
    res.writeHead(200, { 'docker-content-digest': `sha256:${'a'.repeat(64)}` }).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;

  const registry = new Registry();
  const client = new OciRegistryClient({
    observer: registerRegistryMetrics(registry),
    sleep: () => Promise.resolve(),
  });
  const ref = parseImageReference(`${host}/app:1.0.0`);
  await client.listTags(ref);
  await client.getDigest(ref, '1.0.0');

  const text = await registry.metrics();
  t.match(text, `image_watcher_registry_requests_total{registry="${host}",method="GET",code="503"} 1`);
  t.match(text, `image_watcher_registry_requests_total{registry="${host}",method="GET",code="200"} 1`);
  t.match(text, `image_watcher_registry_requests_total{registry="${host}",method="HEAD",code="200"} 1`);
  t.match(text, `image_watcher_registry_request_duration_seconds_count{registry="${host}"} 3`);
  t.match(text, /# TYPE image_watcher_registry_request_duration_seconds histogram/);
});
