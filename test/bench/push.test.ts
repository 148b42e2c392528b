// bench/push.ts starts the watcher on a port the kernel picks and points the registry's
// notifications at the port the watcher reports: before, it probed a free port, closed it and bound
// it again only after starting the registry (which probes its own port the same way), so the
// watcher could fail with E_LISTEN.
import t from 'tap';
import { startPushBench } from '../../bench/push.ts';

t.setTimeout(120_000);

t.test('the bench watcher listens first; the registry notifies the port it reports', async (t) => {
  const bench = await startPushBench(['shop/app-0']);
  t.teardown(() => bench.stop());
  const { port } = bench;
  t.ok(port > 0, `the watcher listens on ${port}`);
  t.not(bench.registry.url, `http://127.0.0.1:${port}`, 'the registry has a port of its own');
  t.equal(await bench.accepted(), 1, "the 1.0.0 push's event reached the watcher");
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  t.equal(res.status, 200, '/healthz on the reported port');
});
