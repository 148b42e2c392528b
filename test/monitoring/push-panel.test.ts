// The push-events panel against real Prometheus: the watcher starts a 0 for every source's
// accepted, unauthorized and invalid (the alert needs them), 24 series; the panel shows only
// the pairs that occurred, not 24 flat zero bars.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { WatcherMetrics } from '../../watcher/metrics.ts';
import { SOURCES } from '../../watcher/push/sources.ts';
import { startPrometheus } from '../support/prometheus.ts';
import { until } from '../support/until.ts';
import { loadDashboard, panelQueries } from './dashboard-queries.ts';

const EVENTS = 'image_watcher_registry_events_total';

t.test('the push-events panel shows the source and result pairs that occurred, no zero series', async (t) => {
  const metrics = new WatcherMetrics({ defaultMetrics: false });
  metrics.expectRegistryEvents(SOURCES);
  const server = createServer((_req, res) => {
    metrics.render().then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const prometheus = await startPrometheus({
    targets: [
      { job: 'image-watcher-watcher', address: `127.0.0.1:${(server.address() as AddressInfo).port}` },
    ],
    interval: '1s',
  });
  t.teardown(() => prometheus.stop());

  const zeros = SOURCES.length * 3;
  await until(
    `${zeros} zero series scraped`,
    async () => (await prometheus.query(EVENTS)).length === zeros,
    20_000,
  );
  // A pair without a started 0 is born at 1: Prometheus sees its increase from the next sample on.
  metrics.observeRegistryEvent('harbor', 'duplicate');
  await until(
    'the new pair scraped',
    async () => (await prometheus.query(EVENTS)).length === zeros + 1,
    20_000,
  );
  metrics.observeRegistryEvent('distribution', 'accepted');
  metrics.observeRegistryEvent('distribution', 'accepted');
  metrics.observeRegistryEvent('harbor', 'duplicate');
  await until(
    'the events scraped',
    async () => (await prometheus.query(`sum(${EVENTS})`)).some((s) => s.value[1] === '4'),
    20_000,
  );

  const dashboard = await loadDashboard();
  const [panel] = panelQueries(dashboard, { namespace: '.*', rateInterval: '1m' }).filter(
    (q) => q.panel.title === 'Registry push events by source and result',
  );
  t.ok(panel, 'the panel is on the dashboard');
  const series = await prometheus.query(panel!.expr);
  t.same(
    series.map((s) => `${s.metric.source} ${s.metric.result}`).sort(),
    ['distribution accepted', 'harbor duplicate'],
    'one series per pair that occurred',
  );
  t.ok(
    series.every((s) => Number(s.value[1]) > 0),
    'each with its increase',
  );
});
