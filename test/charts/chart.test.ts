// charts/image-watcher rendered by the real helm: by default the same objects as
// `kubectl kustomize manifests/`, every variant valid against the Kubernetes and CRD schemas,
// values checked by values.schema.json, images always tagged with the package version.
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { parse } from 'yaml';
import { find, renderKustomization } from '../manifests/render.ts';
import type { KubeObject } from '../manifests/render.ts';
import { schemaErrors } from '../manifests/schema.ts';
import { CHART, helmRun, renderChart, ROOT } from './helm.ts';

type Json = Record<string, any>;
const pkg = JSON.parse(await readFile(`${ROOT}package.json`, 'utf8')) as { version: string };
const HELM_LABELS = ['helm.sh/chart', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/version'];

/** Drops what only helm adds (its labels) and orders objects, so both renderings compare. */
function normalise(objects: KubeObject[]): KubeObject[] {
  const strip = (labels: Record<string, string> | undefined): void => {
    for (const key of HELM_LABELS) delete labels?.[key];
  };
  return structuredClone(objects)
    .map((o) => {
      strip(o.metadata.labels);
      strip((o.spec as Json | undefined)?.template?.metadata?.labels);
      return o;
    })
    .sort((a, b) => key(a).localeCompare(key(b)));
}
const key = (o: KubeObject): string => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const podSpec = (o: KubeObject): Json => (o.spec as Json).template.spec as Json;
const env = (o: KubeObject): Record<string, Json> =>
  Object.fromEntries((podSpec(o).containers[0].env as Json[]).map((e) => [e.name as string, e]));
const images = (objects: KubeObject[]): string[] =>
  objects
    .filter((o) => o.kind === 'Deployment')
    .flatMap((o) => (podSpec(o).containers as Json[]).map((c) => c.image as string));

t.test('helm lint is clean', async (t) => {
  const { code, out } = await helmRun(['lint', '--strict', CHART]);
  t.equal(code, 0, out);
  t.notMatch(out, /\[(WARNING|ERROR)\]/, 'no warnings');
});

t.test('the default rendering is the kustomize rendering', async (t) => {
  const chart = normalise(await renderChart());
  const kustomize = normalise(await renderKustomization());
  t.same(chart.map(key), kustomize.map(key), 'the same objects');
  for (const o of kustomize) {
    t.same(
      chart.find((c) => key(c) === key(o)),
      o,
      key(o),
    );
  }
  for (const o of await renderChart()) {
    for (const label of HELM_LABELS.filter(
      (l) => o.kind !== 'Namespace' || l !== 'app.kubernetes.io/version',
    ))
      t.ok(o.metadata.labels?.[label], `${key(o)} carries ${label}`);
  }
});

t.test('the chart files are the manifests’ own', async (t) => {
  for (const [file, source] of [
    ['files/rules.yaml', 'manifests/monitoring/rules.yaml'],
    ['files/dashboard.json', 'manifests/monitoring/dashboard.json'],
  ]) {
    t.equal(
      await readFile(`${CHART}/${file}`, 'utf8'),
      await readFile(`${ROOT}${source}`, 'utf8'),
      `${file} is a copy of ${source} (cp ${source} charts/image-watcher/${file})`,
    );
  }
});

const VARIANTS: Record<string, Record<string, unknown>> = {
  default: {},
  'without cert-manager': { 'certManager.enabled': false },
  'without monitoring and policies': {
    'monitoring.serviceMonitor.enabled': false,
    'monitoring.prometheusRule.enabled': false,
    'monitoring.dashboard.enabled': false,
    networkPolicy: { enabled: false },
    'webhook.podDisruptionBudget.enabled': false,
    'watcher.podDisruptionBudget.enabled': false,
  },
  'everything set': {
    namespace: { name: 'tools', create: false },
    'images.watcher': {
      repository: 'registry.example/iw/watcher',
      tag: '9.9.9',
      digest: `sha256:${'a'.repeat(64)}`,
    },
    imagePullSecrets: [{ name: 'pull' }],
    'webhook.replicas': 5,
    'webhook.resources': { requests: { cpu: '10m', memory: '64Mi' }, limits: { memory: '128Mi' } },
    'webhook.objectSelector': { matchLabels: { 'image-watcher/enabled': 'true' } },
    'webhook.namespaceSelector': { matchLabels: { team: 'shop' } },
    'webhook.extraEnv': [{ name: 'LOG_FORMAT', value: 'json' }],
    'watcher.replicas': 1,
    'watcher.watchNamespaces': ['shop', 'blog'],
    'watcher.publicUrl': 'https://iw.example.com',
    'watcher.updateSchedule': '* 2-4 * * 1-5',
    'watcher.updateTimezone': 'Europe/Paris',
    'watcher.minReleaseAge': '3d',
    'watcher.extraEnv': [{ name: 'NOTIFY_DIGEST_THRESHOLD', value: '3' }],
    'watcher.verify': { signatures: 'cosign', configMap: 'verify-keys', keysFile: true, trustedRoot: true },
    'watcher.nodeSelector': { 'kubernetes.io/os': 'linux' },
    'watcher.tolerations': [{ key: 'dedicated', operator: 'Equal', value: 'tools', effect: 'NoSchedule' }],
    'watcher.affinity': {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['tools'] }] }],
        },
      },
    },
    'secrets.extraKeys': ['SLACK_WEBHOOK_URL', 'SMTP_URL'],
    'secrets.create': true,
    'secrets.values': { APPROVAL_SECRET: 'a-long-approval-secret' },
    'monitoring.serviceMonitor.labels': { release: 'kube-prometheus-stack' },
    'monitoring.prometheusRule.labels': { release: 'kube-prometheus-stack' },
  },
};

const rendered: Record<string, KubeObject[]> = {};
for (const [name, set] of Object.entries(VARIANTS)) rendered[name] = await renderChart(set);

t.test('every rendered object of every variant validates against its schema', (t) => {
  for (const [name, objects] of Object.entries(rendered))
    for (const o of objects) t.equal(schemaErrors(o), undefined, `${name}: ${key(o)}`);
  t.end();
});

t.test('images name the package version, never an untagged image', async (t) => {
  const chart = parse(await readFile(`${CHART}/Chart.yaml`, 'utf8')) as Json;
  t.equal(chart.version, pkg.version, 'chart version is the package version');
  t.equal(chart.appVersion, pkg.version, 'appVersion is the package version');
  const kustomization = parse(await readFile(`${ROOT}manifests/kustomization.yaml`, 'utf8')) as Json;
  t.same(
    (kustomization.images as Json[]).map((i) => i.newTag),
    [pkg.version, pkg.version],
    'kustomize pins both images to the package version',
  );
  const tagged = /^[^@\s]+:[A-Za-z0-9_][A-Za-z0-9_.-]*(@sha256:[a-f0-9]{64})?$/;
  for (const objects of [...Object.values(rendered), await renderKustomization()])
    for (const image of images(objects)) t.match(image, tagged, `${image} has a tag`);
  t.same(images(rendered.default!).sort(), [
    `ghcr.io/image-watcher/watcher:${pkg.version}`,
    `ghcr.io/image-watcher/webhook:${pkg.version}`,
  ]);
  t.same(images(await renderKustomization()).sort(), images(rendered.default!).sort());
  t.ok(
    images(rendered['everything set']!).includes(
      `registry.example/iw/watcher:9.9.9@sha256:${'a'.repeat(64)}`,
    ),
    'repository, tag and digest',
  );
  await t.rejects(renderChart({ 'images.webhook.tag': 'latest tag' }), {
    message: /images\.webhook\.tag: Does not match pattern/,
  });
});

t.test('without cert-manager the chart makes a CA and a serving certificate for the Service', (t) => {
  const objects = rendered['without cert-manager']!;
  t.notOk(
    objects.some((o) => o.kind === 'Certificate' || o.kind === 'Issuer'),
    'no cert-manager objects',
  );
  const secret = find(objects, 'Secret', 'image-watcher-webhook-tls') as Json;
  t.equal(secret.type, 'kubernetes.io/tls');
  const decode = (k: string): string => Buffer.from(secret.data[k] as string, 'base64').toString();
  const ca = new X509Certificate(decode('ca.crt'));
  const cert = new X509Certificate(decode('tls.crt'));
  t.ok(cert.verify(ca.publicKey), 'signed by the CA');
  t.ok(cert.checkHost('image-watcher-webhook.image-watcher.svc'), 'valid for the Service name');
  const config = find(objects, 'MutatingWebhookConfiguration', 'image-watcher') as Json;
  t.equal(config.webhooks[0].clientConfig.caBundle, secret.data['ca.crt'], 'the caBundle is that CA');
  t.equal(config.metadata.annotations?.['cert-manager.io/inject-ca-from'], undefined);
  t.end();
});

t.test('monitoring, network policies and disruption budgets can be left out', (t) => {
  const kinds = new Set(rendered['without monitoring and policies']!.map((o) => o.kind));
  for (const kind of [
    'ServiceMonitor',
    'PrometheusRule',
    'ConfigMap',
    'NetworkPolicy',
    'PodDisruptionBudget',
  ])
    t.notOk(kinds.has(kind), `no ${kind}`);
  t.ok(kinds.has('Deployment'));
  t.end();
});

t.test('values reach the objects', (t) => {
  const objects = rendered['everything set']!;
  t.notOk(
    objects.some((o) => o.kind === 'Namespace'),
    'namespace.create=false',
  );
  for (const o of objects)
    if (!['ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration'].includes(o.kind))
      t.equal(o.metadata.namespace, 'tools', `${key(o)} in tools`);
  const webhook = find(objects, 'Deployment', 'image-watcher-webhook');
  const watcher = find(objects, 'Deployment', 'image-watcher-watcher');
  t.equal((webhook.spec as Json).replicas, 5);
  t.equal((watcher.spec as Json).replicas, 1);
  t.same(podSpec(webhook).containers[0].resources, {
    requests: { cpu: '10m', memory: '64Mi' },
    limits: { cpu: '500m', memory: '128Mi' },
  });
  t.same(podSpec(webhook).imagePullSecrets, [{ name: 'pull' }]);
  t.equal(env(webhook).WATCHER_SERVICE_ACCOUNT?.value, 'system:serviceaccount:tools:image-watcher-watcher');
  t.equal(env(webhook).LOG_FORMAT?.value, 'json');
  t.equal(env(watcher).WATCH_NAMESPACES?.value, 'shop,blog');
  t.equal(env(watcher).PUBLIC_URL?.value, 'https://iw.example.com');
  t.equal(env(watcher).UPDATE_SCHEDULE?.value, '* 2-4 * * 1-5');
  t.equal(env(watcher).UPDATE_TIMEZONE?.value, 'Europe/Paris');
  t.equal(env(watcher).MIN_RELEASE_AGE?.value, '3d');
  t.equal(env(watcher).NOTIFY_DIGEST_THRESHOLD?.value, '3');
  t.equal(env(watcher).VERIFY_SIGNATURES?.value, 'cosign');
  t.equal(env(watcher).VERIFY_KEYS_FILE?.value, '/etc/image-watcher/verify/keys.pem');
  t.equal(env(watcher).VERIFY_TRUSTED_ROOT?.value, '/etc/image-watcher/verify/trusted_root.json');
  t.same(
    (podSpec(watcher).volumes as Json[]).find((v) => v.name === 'verify'),
    { name: 'verify', configMap: { name: 'verify-keys' } },
    'the verify ConfigMap is mounted',
  );
  for (const k of ['APPROVAL_SECRET', 'GITHUB_TOKEN', 'SLACK_WEBHOOK_URL', 'SMTP_URL'])
    t.same(env(watcher)[k]?.valueFrom.secretKeyRef, { name: 'image-watcher', key: k, optional: true }, k);
  t.same((find(objects, 'Secret', 'image-watcher') as Json).stringData, {
    APPROVAL_SECRET: 'a-long-approval-secret',
  });
  t.same(podSpec(watcher).nodeSelector, { 'kubernetes.io/os': 'linux' });
  t.equal(podSpec(watcher).tolerations[0].key, 'dedicated');
  t.ok(podSpec(watcher).affinity.nodeAffinity, 'affinity replaces the default anti-affinity');
  t.ok(podSpec(webhook).affinity.podAntiAffinity, 'the webhook keeps its anti-affinity');
  const config = find(objects, 'MutatingWebhookConfiguration', 'image-watcher') as Json;
  t.same(config.webhooks[0].objectSelector, { matchLabels: { 'image-watcher/enabled': 'true' } });
  t.same(config.webhooks[0].namespaceSelector, { matchLabels: { team: 'shop' } });
  t.equal(config.webhooks[0].clientConfig.service.namespace, 'tools');
  t.equal(config.metadata.annotations['cert-manager.io/inject-ca-from'], 'tools/image-watcher-webhook');
  t.same((find(objects, 'Certificate', 'image-watcher-webhook').spec as Json).dnsNames, [
    'image-watcher-webhook.tools.svc',
    'image-watcher-webhook.tools.svc.cluster.local',
  ]);
  t.equal(
    find(objects, 'ServiceMonitor', 'image-watcher-watcher').metadata.labels?.release,
    'kube-prometheus-stack',
  );
  t.equal(find(objects, 'PrometheusRule', 'image-watcher').metadata.labels?.release, 'kube-prometheus-stack');
  const subjects = (o: KubeObject): Json[] => (o as Json).subjects as Json[];
  t.equal(subjects(find(objects, 'ClusterRoleBinding', 'image-watcher-watcher'))[0]!.namespace, 'tools');
  t.equal(
    subjects(find(objects, 'RoleBinding', 'image-watcher-watcher-leader-election'))[0]!.namespace,
    'tools',
  );
  t.end();
});

t.test('values.schema.json rejects bad values with helm’s message', async (t) => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['a replica count as text', { 'webhook.replicas': 'three' }, /webhook\.replicas: Invalid type/],
    ['a short digest', { 'images.watcher.digest': 'sha256:abc' }, /images\.watcher\.digest/],
    ['an unknown key', { 'watcher.replicaCount': 2 }, /replicaCount/],
    ['a bad namespace', { 'namespace.name': 'Tools' }, /namespace\.name/],
    ['a bad interval', { 'watcher.checkInterval': 'hourly' }, /watcher\.checkInterval/],
  ];
  for (const [name, set, want] of cases) await t.rejects(renderChart(set), { message: want }, name);
});
