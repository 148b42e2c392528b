// Writes manifests/monitoring/prometheusrule.yaml from manifests/monitoring/rules.yaml so the
// PrometheusRule CR and the plain rules file promtool tests never drift apart.
// Run: node --import ./bench/register.js test/support/gen-prometheusrule.ts
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

export const RULES_FILE = fileURLToPath(new URL('../../manifests/monitoring/rules.yaml', import.meta.url));
export const PROMETHEUS_RULE_FILE = fileURLToPath(
  new URL('../../manifests/monitoring/prometheusrule.yaml', import.meta.url),
);

const HEADER = `# GENERATED from rules.yaml by test/support/gen-prometheusrule.ts; edit rules.yaml and rerun:
#   node --import ./bench/register.js test/support/gen-prometheusrule.ts
`;

/** The PrometheusRule CR carrying exactly the groups of the plain rules file. */
export function prometheusRuleFor(rules: { groups: unknown[] }): Record<string, unknown> {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: 'image-watcher',
      labels: {
        'app.kubernetes.io/name': 'image-watcher',
        'app.kubernetes.io/part-of': 'image-watcher',
      },
    },
    spec: { groups: rules.groups },
  };
}

export async function renderPrometheusRule(): Promise<string> {
  const rules = parse(await readFile(RULES_FILE, 'utf8')) as { groups: unknown[] };
  return HEADER + stringify(prometheusRuleFor(rules), { lineWidth: 0 });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await writeFile(PROMETHEUS_RULE_FILE, await renderPrometheusRule());
  console.log(`wrote ${PROMETHEUS_RULE_FILE}`);
}
