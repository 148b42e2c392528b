// End to end with real components: docker-registry and the fake API server behind a
// running watcher and webhook; the Debian prometheus scrapes both and evaluates the
// shipped alert rules; prometheus-alertmanager delivers the outdated-image alert to a
// receiver in this test; every dashboard panel query returns data from that Prometheus.
import t from 'tap';
import { loadDashboard, panelQueries } from '../monitoring/dashboard-queries.ts';
import { deployment, rulesWithShortOutdatedFor, startStack } from './stack.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out waiting for ${what}${reason}`);
    }
    await sleep(250);
  }
}

t.test('the test rules differ from the shipped ones only in the outdated alert delay', (t) => {
  const rules =
    'groups:\n  - name: g\n    rules:\n      - alert: ImageWatcherImageOutdated\n        expr: x == 1\n        for: 24h\n';
  t.match(rulesWithShortOutdatedFor(rules, '2s'), /for: 2s/);
  t.throws(() => rulesWithShortOutdatedFor('groups: []\n', '2s'), /no ImageWatcherImageOutdated/);
  t.end();
});

t.test('the outdated-image alert reaches Alertmanager and every dashboard panel has data', async (t) => {
  const stack = await startStack({
    log: (line) => t.comment(line),
  });
  t.teardown(() => stack.stop());
  const { prometheus } = stack;

  const denied = await stack.review(
    deployment('typo', `${stack.registryHost}/e2e/app:1.0.0`, { 'image-watcher/strategie': 'MINOR' }),
  );
  t.equal(denied.response.allowed, false, 'the webhook denies an unknown image-watcher/ key');

  await until('both targets up', 20_000, async () => {
    const targets = await prometheus.targets();
    return targets.length === 2 && targets.every((x) => x.health === 'up') ? targets : undefined;
  });

  const alert = await until(
    'ImageWatcherImageOutdated for shop/web at the Alertmanager receiver',
    45_000,
    () =>
      Promise.resolve(
        stack
          .alerts()
          .find((a) => a.labels.alertname === 'ImageWatcherImageOutdated' && a.labels.workload === 'web'),
      ),
  );
  t.match(alert.labels, {
    severity: 'info',
    namespace: 'shop',
    kind: 'Deployment',
    workload: 'web',
    container: 'app',
    current_version: '1.0.0',
    latest_version: '1.2.0',
    job: 'image-watcher-watcher',
  });
  t.equal(alert.annotations.summary, 'shop/web runs an outdated image');
  t.match(
    alert.annotations.description,
    /runs \S+\/e2e\/app:1\.0\.0 at version 1\.0\.0; 1\.2\.0 is available/,
  );
  t.notOk(
    stack
      .alerts()
      .some((a) => a.labels.alertname === 'ImageWatcherImageOutdated' && a.labels.workload === 'ledger'),
    'an up-to-date workload raises no alert',
  );

  // Every panel of the shipped dashboard, queried as Grafana would.
  const dashboard = await loadDashboard();
  for (const query of panelQueries(dashboard, { namespace: '.*', rateInterval: '15s' })) {
    const result = await until(`data for "${query.panel.title}" (${query.expr})`, 20_000, async () => {
      const samples = await prometheus.query(query.expr);
      return samples.some((s) => Number.isFinite(Number(s.value[1]))) ? samples : undefined;
    }).catch((err: unknown) => err as Error);
    t.ok(Array.isArray(result), `panel "${query.panel.title}" ${query.target.refId} returns data`, {
      expr: query.expr,
      error: result instanceof Error ? result.message : undefined,
    });
  }
  t.ok(stack.admissions() > 0, 'admission reviews were sent during the test');
  t.ok(
    stack.received.some((r) => r.path === '/notify'),
    'the watcher notified the receiver too (the notification panel counts it)',
  );
});
