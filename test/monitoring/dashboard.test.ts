import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { loadDashboard, panelQueries, substitute } from './dashboard-queries.ts';
import { findProgram } from '../support/programs.ts';

const PROMTOOL = findProgram('promtool', { envVar: 'PROMTOOL' });
const dashboard = await loadDashboard();
const queries = panelQueries(dashboard, { namespace: '.*', rateInterval: '1m' });

const CONTRACT_METRICS = [
  'image_watcher_image_outdated',
  'image_watcher_workloads',
  'image_watcher_updates_total',
  'image_watcher_notifications_total',
  'image_watcher_registry_requests_total',
  'image_watcher_registry_request_duration_seconds_bucket',
  'image_watcher_check_duration_seconds_bucket',
  'image_watcher_last_check_timestamp_seconds',
  'image_watcher_update_held',
  'image_watcher_admission_requests_total',
  'image_watcher_admission_duration_seconds_bucket',
  'image_watcher_git_pushes_total',
  'image_watcher_git_superseded_requests_total',
  'image_watcher_signature_checks_total',
  'image_watcher_registry_events_total',
];

t.test('the dashboard is a current Grafana dashboard with datasource and namespace variables', (t) => {
  t.ok(
    dashboard.schemaVersion >= 36 && dashboard.schemaVersion <= 41,
    `schemaVersion ${dashboard.schemaVersion}`,
  );
  t.equal(dashboard.uid, 'image-watcher');
  const variables = Object.fromEntries(dashboard.templating.list.map((v) => [v.name, v]));
  t.equal(variables.datasource?.type, 'datasource');
  t.equal(variables.namespace?.type, 'query');
  const ids = dashboard.panels.map((p) => p.id);
  t.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
    t.ok(panel.targets?.length, `${panel.title} has a query`);
    t.equal(
      (panel as { datasource?: { uid?: string } }).datasource?.uid,
      '${datasource}',
      `${panel.title} uses $datasource`,
    );
    t.ok(panel.gridPos.x + panel.gridPos.w <= 24, `${panel.title} fits the 24-column grid`);
  }
  t.end();
});

t.test('the panels the issue asks for are there', (t) => {
  const titles = dashboard.panels.map((p) => p.title);
  for (const want of [
    /Outdated images by namespace and workload/,
    /Update outcomes/,
    /Notifications/,
    /Registry requests by registry/,
    /Registry latency .* by registry/,
    /Admission requests/,
    /Admission latency/,
    /Admission denials/,
    /Last check age/,
    /Held updates by reason/,
    /Git write-backs by result/,
    /Signature checks by result/,
    /Registry push events by source and result/,
  ]) {
    t.ok(
      titles.some((title) => want.test(title)),
      `a panel matches ${want}`,
    );
  }
  t.end();
});

t.test('every contract metric is on the dashboard', (t) => {
  const all = queries.map((q) => q.expr).join('\n');
  for (const metric of CONTRACT_METRICS) t.match(all, new RegExp(`\\b${metric}\\b`), metric);
  t.end();
});

t.test('Grafana variables are substituted like Grafana does', (t) => {
  t.equal(
    substitute('rate(x{namespace=~"$namespace"}[$__rate_interval]) + y{namespace=~"${namespace}"}', {
      namespace: 'a|b',
      rateInterval: '2m',
    }),
    'rate(x{namespace=~"a|b"}[2m]) + y{namespace=~"a|b"}',
  );
  t.end();
});

t.test('every panel query is valid PromQL (promtool)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'iw-dashboard-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'queries.yaml');
  // Recording rules are the offline way to have promtool parse an expression.
  await writeFile(
    file,
    stringify({
      groups: [
        {
          name: 'dashboard',
          rules: queries.map((q, i) => ({ record: `dashboard:query_${i}`, expr: q.expr })),
        },
      ],
    }),
  );
  const { stdout } = await promisify(execFile)(PROMTOOL, ['check', 'rules', file]);
  t.match(stdout, `SUCCESS: ${queries.length} rules found`);
});
