// docs/contract.md names what users and dashboards rely on: every metric, label value set up
// front, alert, environment variable and error code it names exists, and every metric exists there
// (or, for the documented extras, in the README).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { WatcherMetrics } from '../../watcher/metrics.ts';
import { WebhookMetrics } from '../../webhook/metrics.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const contract = read('docs/contract.md');
const readme = read('README.md');

/** The text of a `## ` section of the contract. */
function section(title: string): string {
  const start = contract.indexOf(`\n## ${title}`);
  if (start < 0) throw new Error(`docs/contract.md has no section ${title}`);
  const end = contract.indexOf('\n## ', start + 1);
  return contract.slice(start, end < 0 ? undefined : end);
}

async function registered() {
  const watcher = new WatcherMetrics({ defaultMetrics: false });
  watcher.expectRegistryEvents(['distribution']);
  const webhook = new WebhookMetrics({ defaultMetrics: false });
  return [
    ...(await watcher.registry.getMetricsAsJSON()),
    ...(await webhook.registry.getMetricsAsJSON()),
  ].filter((m) => m.name.startsWith('image_watcher_'));
}

t.test('every metric the contract names is registered, and every registered one is documented', async (t) => {
  const metrics = await registered();
  const names = new Set(metrics.map((m) => m.name));
  const named = new Set(section('Metrics').match(/image_watcher_[a-z_]+/g));
  for (const n of named) t.ok(names.has(n), `${n} (contract) is registered`);
  for (const n of names) t.ok(named.has(n) || readme.includes(n), `${n} is in the contract or the README`);
});

t.test('the result values a counter starts at 0 are the ones its contract line lists', async (t) => {
  const metrics = await registered();
  const lines = section('Metrics').split('\n- ');
  for (const m of metrics) {
    const results = new Set(
      m.values.map((v) => v.labels.result).filter((r): r is string => typeof r === 'string'),
    );
    if (results.size === 0) continue;
    const line = lines.find((l) => l.startsWith(`\`${m.name}`));
    t.ok(line, `${m.name} has a contract line`);
    for (const r of results) t.match(line ?? '', new RegExp(`\\b${r}\\b`), `${m.name} result ${r}`);
  }
});

t.test('the alerts of the contract are the alerts of the rules', (t) => {
  const named = [...section('Metrics').matchAll(/`(ImageWatcher[A-Za-z]+)`/g)].map((m) => m[1]!).sort();
  for (const file of [
    'manifests/monitoring/rules.yaml',
    'manifests/monitoring/prometheusrule.yaml',
    'charts/image-watcher/files/rules.yaml',
  ]) {
    const alerts = [...read(file).matchAll(/alert: (\S+)/g)].map((m) => m[1]!).sort();
    t.same(alerts, named, file);
  }
  t.end();
});

/** The settings loaders: every environment variable is read in one of them. */
const LOADERS = ['shared/config.ts', 'watcher/config.ts', 'webhook/config.ts', 'watcher/notify/config.ts'];
/** Upper-case words that are values (log levels, booleans) or the system's (HOME, HOSTNAME: fallbacks only). */
const NOT_VARIABLES = new Set([
  'ERROR',
  'WARN',
  'INFO',
  'DEBUG',
  'TRACE',
  'SILENT',
  'TRUE',
  'FALSE',
  'HOME',
  'HOSTNAME',
]);

t.test('every environment variable of the contract is read by a settings loader', (t) => {
  const loaders = LOADERS.map(read).join('\n');
  const env = section('Environment');
  // Names are in the first column of the table and in the signature-gate paragraph.
  const names = new Set(
    [...env.matchAll(/`([A-Z][A-Z0-9]*_[A-Z0-9_]+|[A-Z]{4,})`/g)]
      .map((m) => m[1]!)
      .filter((n) => !NOT_VARIABLES.has(n)),
  );
  t.ok(names.size > 20, 'the table was read');
  for (const n of names) t.match(loaders, new RegExp(`\\b${n}\\b`), n);
  t.end();
});

t.test('every environment variable a settings loader reads is in the contract', (t) => {
  const env = section('Environment');
  const names = new Set(
    LOADERS.flatMap((f) => [...read(f).matchAll(/'([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)'/g)].map((m) => m[1]!)),
  );
  t.ok(names.size > 40, 'the loaders were read');
  for (const n of names) if (!NOT_VARIABLES.has(n)) t.match(env, new RegExp(`\`${n}\``), n);
  t.end();
});

t.test('every error code the contract names exists in the source', (t) => {
  const source = [
    'shared/errors.ts',
    'watcher/api.ts',
    'watcher/gitops/git.ts',
    'watcher/gitops/pull-request.ts',
    'watcher/gitops/edit/index.ts',
    'watcher/http/app.ts',
  ]
    .map(read)
    .join('\n');
  const codes = new Set(contract.match(/\bE_[A-Z_]+\b/g));
  t.ok(codes.size > 5, 'codes were found');
  for (const c of codes) t.match(source, new RegExp(`'${c}'`), c);
  t.end();
});

t.test('every HTTP route the processes register is in the contract', (t) => {
  const files = [
    'watcher/http/app.ts',
    'watcher/approval/plugin.ts',
    'watcher/push/receiver.ts',
    'webhook/app.ts',
  ];
  const routes = new Set<string>();
  for (const file of files) {
    for (const m of read(file).matchAll(/app\.(?:get|post)(?:<[^(]*>)?\(\s*['`]([^'`]+)['`]/g)) {
      // `:name` (fastify) and `${name}` (a template) are `{name}` in the contract.
      routes.add(m[1]!.replace(/:(\w+)/g, '{$1}').replace(/\$\{(\w+)\}/g, '{$1}'));
    }
  }
  t.ok(routes.size >= 8, 'the routes were read');
  for (const r of routes) t.ok(contract.includes(r), `${r} is in docs/contract.md`);
  t.end();
});
