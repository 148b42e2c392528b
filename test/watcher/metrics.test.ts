import { Gauge, Registry } from 'prom-client';
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

t.test('image_outdated, built at scrape time, exports what a stored gauge exported', async (t) => {
  // The oracle: a stock prom-client gauge driven as the watcher drove it before (remove the old
  // label set when a container's labels change, drop series of containers and workloads gone).
  const reference = new Registry();
  const stored = new Gauge({
    name: 'image_watcher_image_outdated',
    help: '1 when a newer allowed version of the container image exists, else 0.',
    labelNames: ['namespace', 'kind', 'workload', 'container', 'image', 'current_version', 'latest_version'],
    registers: [reference],
  });
  type Labels = Record<string, string>;
  const exported = new Map<string, Labels>(); // workload/container -> labels
  const m = new WatcherMetrics({ defaultMetrics: false });
  const series = (body: string) =>
    body
      .split('\n\n')
      .find((block) => block.includes('# TYPE image_watcher_image_outdated '))
      ?.split('\n')
      .filter((line) => line !== '')
      .sort();
  const same = async (what: string) =>
    t.same(series((await m.render()).body), series(await reference.metrics()), what);

  const workloads = [
    { namespace: 'shop', kind: 'Deployment', workload: 'web' },
    { namespace: 'shop', kind: 'StatefulSet', workload: 'web' },
    { namespace: 'ops', kind: 'CronJob', workload: 'backup' },
  ];
  const set = (w: (typeof workloads)[number], container: string, current: string, latest: string) => {
    const status = {
      container,
      image: `registry.example/${container}:${current}`,
      currentVersion: current,
      latestVersion: latest,
      outdated: current !== latest,
    };
    m.setImageStatus(w, status);
    const labels = {
      ...w,
      container,
      image: status.image,
      current_version: current,
      latest_version: latest,
    };
    const k = `${w.kind}/${w.namespace}/${w.workload}/${container}`;
    const old = exported.get(k);
    if (old && JSON.stringify(old) !== JSON.stringify(labels)) stored.remove(old);
    exported.set(k, labels);
    stored.set(labels, status.outdated ? 1 : 0);
  };
  const retain = (w: (typeof workloads)[number], names: string[]) => {
    m.retainContainers(w, new Set(names));
    for (const [k, labels] of exported) {
      if (k.startsWith(`${w.kind}/${w.namespace}/${w.workload}/`) && !names.includes(labels.container!)) {
        stored.remove(labels);
        exported.delete(k);
      }
    }
  };
  const remove = (w: (typeof workloads)[number]) => {
    m.removeWorkload(w);
    retain(w, []);
  };

  await same('no workload: the help and type lines alone');
  set(workloads[0]!, 'app', '1.0.0', '1.1.0');
  set(workloads[0]!, 'sidecar', '2.0', '2.0');
  set(workloads[1]!, 'app', '1.0.0', '1.0.0');
  set(workloads[2]!, 'job', '0.1', '0.2');
  await same('added');
  set(workloads[0]!, 'app', '1.0.0', '1.1.0');
  await same('set again unchanged');
  set(workloads[0]!, 'app', '1.1.0', '1.1.0');
  set(workloads[2]!, 'job', '0.1', '0.3');
  await same('a new running version, a new latest: the old series goes');
  retain(workloads[0]!, ['app']);
  await same('a container no longer watched');
  set(workloads[0]!, 'sidecar', '2.1', '2.1');
  await same('watched again');
  remove(workloads[1]!);
  await same('a deleted workload');
  set(workloads[1]!, 'app', '1.0.0', '1.2.0');
  await same('created again');
  retain(workloads[2]!, []);
  await same('no container watched (DISABLED)');
  m.clearImageStatus();
  stored.reset();
  exported.clear();
  await same('the lease lost: none');
  set(workloads[2]!, 'job', 'v"1\\', 'v\n2');
  await same('label values escaped as before');
});
