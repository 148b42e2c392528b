import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { PROMETHEUS_RULE_FILE, RULES_FILE, renderPrometheusRule } from '../support/gen-prometheusrule.ts';
import { findProgram } from '../support/programs.ts';

const PROMTOOL = findProgram('promtool', { envVar: 'PROMTOOL' });
const run = promisify(execFile);
const RULE_TESTS = RULES_FILE.replace(/rules\.yaml$/, 'tests/rules.test.yaml');

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
const rules = parse(await readFile(RULES_FILE, 'utf8')) as { groups: { name: string; rules: Rule[] }[] };
const alerts = rules.groups.flatMap((g) => g.rules);

t.test('promtool accepts the rules file', async (t) => {
  const { stdout } = await run(PROMTOOL, ['check', 'rules', RULES_FILE]);
  t.match(stdout, /SUCCESS: 12 rules found/);
});

t.test('promtool rule unit tests pass: every alert firing and not firing', async (t) => {
  const { stdout, stderr } = await run(PROMTOOL, ['test', 'rules', RULE_TESTS]).catch(
    (err: { stdout: string; stderr: string }) => err,
  );
  t.match(stdout + stderr, /SUCCESS/, stdout + stderr);
  const tests = parse(await readFile(RULE_TESTS, 'utf8')) as {
    tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
  };
  const cases = tests.tests.flatMap((x) => x.alert_rule_test);
  for (const { alert } of alerts) {
    t.ok(
      cases.some((c) => c.alertname === alert && c.exp_alerts.length > 0),
      `${alert} is tested firing`,
    );
    t.ok(
      cases.some((c) => c.alertname === alert && c.exp_alerts.length === 0),
      `${alert} is tested not firing`,
    );
  }
});

t.test('promtool notices a broken rule', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'iw-rules-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'broken.yaml');
  await writeFile(file, 'groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: rate(foo[5m]\n');
  const result = await run(PROMTOOL, ['check', 'rules', file]).then(
    () => ({ code: 0, stderr: '' }),
    (err: { code: number; stdout: string; stderr: string }) => err,
  );
  t.equal(result.code, 1);
});

t.test('alert names, groups and severities are stable', (t) => {
  t.same(
    rules.groups.map((g) => [g.name, g.rules.map((r) => r.alert)]),
    [
      [
        'image-watcher.workloads',
        ['ImageWatcherImageOutdated', 'ImageWatcherUpdateFailed', 'ImageWatcherUpdateRolledBack'],
      ],
      ['image-watcher.registry', ['ImageWatcherRegistryErrors', 'ImageWatcherPushEventsRejected']],
      ['image-watcher.watcher', ['ImageWatcherNotChecking', 'ImageWatcherDown']],
      [
        'image-watcher.webhook',
        ['ImageWatcherWebhookDown', 'ImageWatcherWebhookErrors', 'ImageWatcherWebhookSlow'],
      ],
      ['image-watcher.gitops', ['ImageWatcherGitWriteBackFailing']],
      ['image-watcher.verification', ['ImageWatcherSignatureErrors']],
    ],
  );
  for (const rule of alerts) {
    t.ok(
      ['info', 'warning', 'critical'].includes(rule.labels.severity ?? ''),
      `${rule.alert} has a severity`,
    );
    t.ok(
      rule.annotations.summary && rule.annotations.description,
      `${rule.alert} has summary and description`,
    );
  }
  t.end();
});

t.test('the outdated-image alert names the workload and both versions, after a patchable 24h', (t) => {
  // docs/deploy.md patches /spec/groups/0/rules/0/for: keep that path valid.
  const outdated = rules.groups[0]!.rules[0]!;
  t.equal(outdated.alert, 'ImageWatcherImageOutdated');
  t.equal(outdated.for, '24h');
  t.match(outdated.annotations.summary, '{{ $labels.namespace }}/{{ $labels.workload }}');
  for (const label of ['current_version', 'latest_version', 'container', 'image']) {
    t.match(outdated.annotations.description, `{{ $labels.${label} }}`);
  }
  t.end();
});

t.test('the not-checking alert allows two default check intervals', (t) => {
  const notChecking = alerts.find((r) => r.alert === 'ImageWatcherNotChecking')!;
  const defaultIntervalSeconds = 3600; // CHECK_INTERVAL default in the contract
  t.match(notChecking.expr, `> ${2 * defaultIntervalSeconds}`);
  t.end();
});

t.test('prometheusrule.yaml is generated from rules.yaml (no drift)', async (t) => {
  // Compared as data: prettier may reformat the generated file.
  const shipped = await readFile(PROMETHEUS_RULE_FILE, 'utf8');
  t.same(
    parse(shipped),
    parse(await renderPrometheusRule()),
    'run: node --import ./bench/register.js test/support/gen-prometheusrule.ts',
  );
  t.match(shipped, /^# GENERATED from rules\.yaml/, 'the file says it is generated');
});

t.test("the last wave's alerts watch what an operator must fix, not what is expected", (t) => {
  const byName = (name: string) => alerts.find((r) => r.alert === name)!;
  // Unsigned candidates are a policy outcome: held, never paged.
  t.match(byName('ImageWatcherSignatureErrors').expr, 'result!~"verified|no-signature"');
  // Only rejections by the receiver; duplicates, stale or unknown repositories are normal.
  t.match(byName('ImageWatcherPushEventsRejected').expr, 'result=~"unauthorized|invalid"');
  // Failing as a whole: a successful write in the same hour holds the alert back.
  const git = byName('ImageWatcherGitWriteBackFailing');
  t.match(git.expr, 'result=~"failed|refused"');
  t.match(git.expr, /unless on \(job\)[\s\S]*result=~"pushed\|unchanged"/);
  for (const name of ['ImageWatcherGitWriteBackFailing', 'ImageWatcherSignatureErrors']) {
    t.equal(byName(name).for, '30m', `${name} waits 30 minutes`);
  }
  t.end();
});
