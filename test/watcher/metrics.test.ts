import t from 'tap';
import { WatcherMetrics } from '../../watcher/metrics.ts';

const web = { namespace: 'shop', kind: 'Deployment', workload: 'web' };

t.test('a changed version replaces the old series instead of adding one', async (t) => {
  const m = new WatcherMetrics({ defaultMetrics: false });
  m.setImageStatus(web, {
    container: 'app',
    image: 'nginx:1.25.0',
    currentVersion: '1.25.0',
    latestVersion: '1.26.0',
    outdated: true,
  });
  m.setImageStatus(web, {
    container: 'app',
    image: 'nginx:1.26.0',
    currentVersion: '1.26.0',
    latestVersion: '1.26.0',
    outdated: false,
  });
  const body = (await m.render()).body;
  t.notMatch(body, /current_version="1.25.0"/);
  t.match(
    body,
    /image_watcher_image_outdated\{namespace="shop",kind="Deployment",workload="web",container="app",image="nginx:1.26.0",current_version="1.26.0",latest_version="1.26.0"\} 0/,
  );
});

t.test('containers no longer watched and deleted workloads lose their series', async (t) => {
  const m = new WatcherMetrics({ defaultMetrics: false });
  m.setImageStatus(web, {
    container: 'app',
    image: 'a:1',
    currentVersion: '1',
    latestVersion: '2',
    outdated: true,
  });
  m.setImageStatus(web, {
    container: 'side',
    image: 'b:1',
    currentVersion: '1',
    latestVersion: '1',
    outdated: false,
  });
  m.observeUpdate(web, 'success');
  m.retainContainers(web, new Set(['app']));
  let body = (await m.render()).body;
  t.notMatch(body, /container="side"/, 'unwatched container removed');
  t.match(body, /container="app"/);
  m.removeWorkload(web);
  body = (await m.render()).body;
  t.notMatch(body, /workload="web"/, 'every series of the workload removed, update counters included');
});

t.test('the remaining contract metrics have their names and labels', async (t) => {
  const m = new WatcherMetrics({ defaultMetrics: false });
  m.setWorkloadCounts({ AUTO_UPDATE: 2 });
  m.observeNotification({ channel: 'slack', result: 'success' });
  m.observeRegistryRequest({ registry: 'ghcr.io', method: 'GET', code: '200', seconds: 0.02 });
  m.observeCheck({ seconds: 1.5, finishedAt: new Date(1_700_000_000_000) });
  m.observeCheckError('E_REGISTRY_AUTH');
  m.setLeader(true);
  const body = (await m.render()).body;
  for (const line of [
    'image_watcher_workloads{mode="AUTO_UPDATE"} 2',
    'image_watcher_workloads{mode="DISABLED"} 0',
    'image_watcher_notifications_total{channel="slack",result="success"} 1',
    'image_watcher_registry_requests_total{registry="ghcr.io",method="GET",code="200"} 1',
    'image_watcher_registry_request_duration_seconds_count{registry="ghcr.io"} 1',
    'image_watcher_check_duration_seconds_count 1',
    'image_watcher_last_check_timestamp_seconds 1700000000',
    'image_watcher_check_errors_total{code="E_REGISTRY_AUTH"} 1',
    'image_watcher_leader 1',
  ]) {
    t.ok(body.includes(line), line);
  }
});

t.test('image_watcher_update_held: one series per held container, cleared when no longer held', async (t) => {
  const m = new WatcherMetrics({ defaultMetrics: false });
  const held = async () =>
    (await m.render()).body.split('\n').filter((l) => l.startsWith('image_watcher_update_held{'));
  m.setHeld(web, 'app', 'schedule');
  m.setHeld(web, 'sidecar', 'platform');
  t.same(await held(), [
    'image_watcher_update_held{namespace="shop",kind="Deployment",workload="web",container="app",reason="schedule"} 1',
    'image_watcher_update_held{namespace="shop",kind="Deployment",workload="web",container="sidecar",reason="platform"} 1',
  ]);
  m.setHeld(web, 'app', 'min-age');
  t.same(
    await held(),
    [
      'image_watcher_update_held{namespace="shop",kind="Deployment",workload="web",container="sidecar",reason="platform"} 1',
      'image_watcher_update_held{namespace="shop",kind="Deployment",workload="web",container="app",reason="min-age"} 1',
    ],
    'a new reason replaces the old series',
  );
  m.setHeld(web, 'app', undefined);
  t.equal((await held()).length, 1, 'no longer held: its series goes');
  m.retainContainers(web, new Set(['app']));
  t.same(await held(), [], 'a container no longer watched loses its series');
  m.setHeld(web, 'app', 'constraint');
  m.removeWorkload(web);
  t.same(await held(), [], 'a deleted workload loses its series');
  m.setHeld(web, 'app', 'constraint');
  m.clearImageStatus();
  t.same(await held(), [], 'a replica that loses the lease drops them');
});

t.test('counters the alerts use start at 0, so the first failure is an increase', async (t) => {
  const m = new WatcherMetrics({ defaultMetrics: false });
  let body = (await m.render()).body;
  for (const line of [
    'image_watcher_git_pushes_total{result="failed"} 0',
    'image_watcher_git_superseded_requests_total{result="failed"} 0',
    'image_watcher_signature_checks_total{result="verified"} 0',
    'image_watcher_signature_checks_total{result="key-error"} 0',
    'image_watcher_signature_checks_total{result="wrong-key"} 0',
    'image_watcher_signature_checks_total{result="no-signature"} 0',
  ]) {
    t.ok(body.includes(line), line);
  }
  t.notMatch(body, /image_watcher_registry_events_total\{/, 'receivers off: no event series');
  m.expectRegistryEvents(['distribution', 'harbor']);
  m.observeRegistryEvent('harbor', 'unauthorized');
  m.observeSignatureCheck('registry-error');
  body = (await m.render()).body;
  for (const line of [
    'image_watcher_registry_events_total{source="distribution",result="accepted"} 0',
    'image_watcher_registry_events_total{source="distribution",result="invalid"} 0',
    'image_watcher_registry_events_total{source="harbor",result="unauthorized"} 1',
    'image_watcher_signature_checks_total{result="registry-error"} 1',
  ]) {
    t.ok(body.includes(line), line);
  }
});
