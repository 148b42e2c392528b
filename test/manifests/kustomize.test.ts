// Rendered YAML is untyped; these tests walk it as plain JSON.
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return */
import t from 'tap';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { find, MANIFESTS_DIR, readExamples, renderKustomization, type KubeObject } from './render.ts';
import { schemaErrors } from './schema.ts';
import { compileUserPattern } from '../../shared/regex.ts';

const NS = 'image-watcher';
const objects = await renderKustomization();

type Json = Record<string, any>;
const spec = (o: KubeObject): Json => o.spec as Json;
const podSpec = (o: KubeObject): Json => spec(o).template.spec as Json;
const container = (o: KubeObject): Json => podSpec(o).containers[0] as Json;
const env = (c: Json): Record<string, Json> =>
  Object.fromEntries((c.env as Json[]).map((e) => [e.name as string, e]));

t.test('kubectl kustomize renders every expected object', (t) => {
  const names = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
  t.same(names, [
    'Certificate/image-watcher-webhook',
    'ClusterRole/image-watcher-api-reader',
    'ClusterRole/image-watcher-api-updater',
    'ClusterRole/image-watcher-watcher',
    'ClusterRoleBinding/image-watcher-watcher',
    'ConfigMap/image-watcher-dashboard',
    'Deployment/image-watcher-watcher',
    'Deployment/image-watcher-webhook',
    'Issuer/image-watcher-selfsigned',
    'MutatingWebhookConfiguration/image-watcher',
    'Namespace/image-watcher',
    'NetworkPolicy/image-watcher-receiver',
    'NetworkPolicy/image-watcher-watcher',
    'NetworkPolicy/image-watcher-webhook',
    'PodDisruptionBudget/image-watcher-watcher',
    'PodDisruptionBudget/image-watcher-webhook',
    'PrometheusRule/image-watcher',
    'Role/image-watcher-watcher-leader-election',
    'RoleBinding/image-watcher-watcher-leader-election',
    'Service/image-watcher-receiver',
    'Service/image-watcher-watcher',
    'Service/image-watcher-webhook',
    'ServiceAccount/image-watcher-watcher',
    'ServiceAccount/image-watcher-webhook',
    'ServiceMonitor/image-watcher-watcher',
    'ServiceMonitor/image-watcher-webhook',
  ]);
  const clusterScoped = new Set([
    'Namespace',
    'ClusterRole',
    'ClusterRoleBinding',
    'MutatingWebhookConfiguration',
  ]);
  for (const o of objects) {
    t.equal(
      o.metadata.namespace,
      clusterScoped.has(o.kind) ? undefined : NS,
      `${o.kind}/${o.metadata.name} namespace`,
    );
  }
  t.end();
});

t.test('every rendered object and every example validates against its OpenAPI schema', async (t) => {
  const examples = (await readExamples()).flatMap((e) => e.objects);
  t.ok(examples.length >= 4, 'examples are present');
  for (const o of [...objects, ...examples]) {
    t.equal(schemaErrors(o), undefined, `${o.kind}/${o.metadata.name}`);
  }
});

t.test('the schema check rejects a broken object', (t) => {
  const deployment = structuredClone(find(objects, 'Deployment', 'image-watcher-webhook'));
  delete podSpec(deployment).containers[0].name;
  t.match(schemaErrors(deployment), /required property 'name'|must have required property name/);
  t.match(
    schemaErrors({ apiVersion: 'example.com/v1', kind: 'Thing', metadata: { name: 'x' } }),
    /no schema/,
  );
  t.end();
});

t.test('examples are annotated workloads with valid image-watcher settings', async (t) => {
  const modes = new Set(['AUTO_UPDATE', 'NOTIFICATION', 'DISABLED']);
  for (const { file, objects: docs } of await readExamples()) {
    for (const o of docs) {
      t.ok(
        ['Deployment', 'StatefulSet', 'DaemonSet', 'CronJob'].includes(o.kind),
        `${file}: ${o.kind} is watched`,
      );
      const annotations = o.metadata.annotations ?? {};
      t.ok(modes.has(annotations['image-watcher/mode'] ?? ''), `${file}: mode is set and valid`);
      for (const key of ['image-watcher/include', 'image-watcher/exclude']) {
        if (annotations[key] !== undefined)
          t.doesNotThrow(() => compileUserPattern(annotations[key]!), `${file}: ${key} is RE2 syntax`);
      }
    }
  }
});

t.test('the MutatingWebhookConfiguration fails open, fast and without side effects', (t) => {
  const config = find(objects, 'MutatingWebhookConfiguration', 'image-watcher');
  t.equal(config.metadata.annotations?.['cert-manager.io/inject-ca-from'], `${NS}/image-watcher-webhook`);
  find(objects, 'Certificate', 'image-watcher-webhook');
  const webhooks = (config as Json).webhooks as Json[];
  t.equal(webhooks.length, 1);
  const w = webhooks[0]!;
  t.equal(w.failurePolicy, 'Ignore');
  t.ok(w.timeoutSeconds >= 1 && w.timeoutSeconds <= 3, 'timeoutSeconds is at most 3');
  t.equal(w.sideEffects, 'None');
  t.equal(w.reinvocationPolicy, 'IfNeeded');
  t.same(w.admissionReviewVersions, ['v1']);
  t.same(w.clientConfig.service, {
    name: 'image-watcher-webhook',
    namespace: NS,
    path: '/mutate',
    port: 443,
  });
  t.equal(w.clientConfig.caBundle, undefined, 'the CA bundle comes from cert-manager, not the repository');
  t.same(w.namespaceSelector, {
    matchExpressions: [
      {
        key: 'kubernetes.io/metadata.name',
        operator: 'NotIn',
        values: ['kube-system', 'kube-node-lease', NS],
      },
    ],
  });
  const resources = (w.rules as Json[]).flatMap((r) =>
    (r.resources as string[]).map(
      (res) => `${r.apiGroups.join()}/${r.apiVersions.join()}/${res}:${r.operations.join('+')}`,
    ),
  );
  t.same(resources.sort(), [
    'apps/v1/daemonsets:CREATE+UPDATE',
    'apps/v1/deployments:CREATE+UPDATE',
    'apps/v1/statefulsets:CREATE+UPDATE',
    'batch/v1/cronjobs:CREATE+UPDATE',
  ]);
  t.end();
});

t.test('the serving certificate is mounted where TLS_CERT_FILE and TLS_KEY_FILE point', (t) => {
  const cert = find(objects, 'Certificate', 'image-watcher-webhook');
  t.same(spec(cert).dnsNames, [
    `image-watcher-webhook.${NS}.svc`,
    `image-watcher-webhook.${NS}.svc.cluster.local`,
  ]);
  t.same(spec(cert).issuerRef, { kind: 'Issuer', name: 'image-watcher-selfsigned' });
  const deployment = find(objects, 'Deployment', 'image-watcher-webhook');
  const c = container(deployment);
  const tlsVolume = (podSpec(deployment).volumes as Json[]).find(
    (v) => v.secret?.secretName === spec(cert).secretName,
  );
  t.ok(tlsVolume, 'the certificate secret is a volume');
  const mount = (c.volumeMounts as Json[]).find((m) => m.name === tlsVolume?.name);
  t.equal(env(c).TLS_CERT_FILE?.value, `${mount?.mountPath}/tls.crt`);
  t.equal(env(c).TLS_KEY_FILE?.value, `${mount?.mountPath}/tls.key`);
  t.end();
});

t.test('the webhook is highly available and needs no API access', (t) => {
  const deployment = find(objects, 'Deployment', 'image-watcher-webhook');
  t.equal(spec(deployment).replicas, 3);
  t.equal(podSpec(deployment).serviceAccountName, 'image-watcher-webhook');
  t.equal(podSpec(deployment).automountServiceAccountToken, false);
  t.equal(find(objects, 'ServiceAccount', 'image-watcher-webhook').automountServiceAccountToken, false);
  const antiAffinity = podSpec(deployment).affinity.podAntiAffinity;
  t.equal(
    antiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey,
    'kubernetes.io/hostname',
  );
  const pdb = find(objects, 'PodDisruptionBudget', 'image-watcher-webhook');
  t.equal(spec(pdb).maxUnavailable, 1);
  t.same(spec(pdb).selector.matchLabels, spec(deployment).selector.matchLabels);
  t.equal(
    env(container(deployment)).WATCHER_SERVICE_ACCOUNT?.value,
    `system:serviceaccount:${NS}:image-watcher-watcher`,
  );
  t.equal(container(deployment).image, 'ghcr.io/image-watcher/webhook:0.1.0');
  t.end();
});

t.test('the watcher elects a leader with its Lease and gets its pod identity', (t) => {
  const deployment = find(objects, 'Deployment', 'image-watcher-watcher');
  t.ok(spec(deployment).replicas >= 2, 'a standby replica');
  t.equal(podSpec(deployment).serviceAccountName, 'image-watcher-watcher');
  const e = env(container(deployment));
  t.equal(e.LEADER_ELECTION?.value, 'true');
  t.equal(e.LEASE_NAME?.value, 'image-watcher-watcher');
  t.equal(e.POD_NAME?.valueFrom.fieldRef.fieldPath, 'metadata.name');
  t.equal(e.POD_NAMESPACE?.valueFrom.fieldRef.fieldPath, 'metadata.namespace');
  t.same(e.APPROVAL_SECRET?.valueFrom.secretKeyRef, {
    name: 'image-watcher',
    key: 'APPROVAL_SECRET',
    optional: true,
  });
  t.equal(container(deployment).image, 'ghcr.io/image-watcher/watcher:0.1.0');
  t.equal(spec(find(objects, 'PodDisruptionBudget', 'image-watcher-watcher')).minAvailable, 1);
  t.end();
});

t.test('every container runs under the restricted pod security profile', (t) => {
  for (const name of ['image-watcher-webhook', 'image-watcher-watcher']) {
    const pod = podSpec(find(objects, 'Deployment', name));
    t.equal(pod.securityContext.runAsNonRoot, true, `${name} pod runAsNonRoot`);
    t.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault', `${name} pod seccomp`);
    for (const c of [...(pod.containers as Json[]), ...((pod.initContainers as Json[] | undefined) ?? [])]) {
      const sc = c.securityContext as Json;
      t.equal(sc.runAsNonRoot, true, `${name}/${c.name} runAsNonRoot`);
      t.ok(sc.runAsUser > 0, `${name}/${c.name} runAsUser is not root`);
      t.equal(sc.readOnlyRootFilesystem, true, `${name}/${c.name} readOnlyRootFilesystem`);
      t.equal(sc.allowPrivilegeEscalation, false, `${name}/${c.name} allowPrivilegeEscalation`);
      t.not(sc.privileged, true, `${name}/${c.name} not privileged`);
      t.same(sc.capabilities, { drop: ['ALL'] }, `${name}/${c.name} drops all capabilities`);
      t.equal(sc.seccompProfile.type, 'RuntimeDefault', `${name}/${c.name} seccomp`);
      const tmp = (c.volumeMounts as Json[]).find((m) => m.mountPath === '/tmp');
      t.ok(tmp, `${name}/${c.name} has a writable /tmp`);
      t.ok(
        (pod.volumes as Json[]).find((v) => v.name === tmp?.name)?.emptyDir,
        `${name}/${c.name} /tmp is an emptyDir`,
      );
      for (const kind of ['requests', 'limits']) {
        t.ok(
          c.resources?.[kind]?.cpu && c.resources?.[kind]?.memory,
          `${name}/${c.name} has cpu and memory ${kind}`,
        );
      }
      t.same(c.livenessProbe.httpGet.path, '/healthz', `${name}/${c.name} liveness on /healthz`);
      t.same(c.readinessProbe.httpGet.path, '/readyz', `${name}/${c.name} readiness on /readyz`);
      const probePort = (c.ports as Json[]).find((p) => p.name === c.readinessProbe.httpGet.port);
      t.equal(probePort?.containerPort, 8080, `${name}/${c.name} probes HTTP_PORT`);
    }
  }
  t.equal(
    find(objects, 'Namespace', NS).metadata.labels?.['pod-security.kubernetes.io/enforce'],
    'restricted',
  );
  t.end();
});

t.test('resources are sized from the benchmarks', (t) => {
  t.same(container(find(objects, 'Deployment', 'image-watcher-webhook')).resources, {
    requests: { cpu: '50m', memory: '96Mi' },
    limits: { cpu: '500m', memory: '256Mi' },
  });
  t.same(container(find(objects, 'Deployment', 'image-watcher-watcher')).resources, {
    requests: { cpu: '100m', memory: '160Mi' },
    limits: { cpu: '1', memory: '384Mi' },
  });
  for (const name of ['image-watcher-webhook', 'image-watcher-watcher']) {
    const options = (container(find(objects, 'Deployment', name)).env as Json[]).find(
      (e) => e.name === 'NODE_OPTIONS',
    )?.value as string | undefined;
    t.match(options, /--max-semi-space-size=\d+/, `${name} bounds the young generation`);
    const oldSpace = Number(/--max-old-space-size=(\d+)/.exec(options ?? '')?.[1]);
    const limitMi = Number(
      /^(\d+)Mi$/.exec(container(find(objects, 'Deployment', name)).resources.limits.memory as string)?.[1],
    );
    t.ok(oldSpace > 0 && oldSpace < limitMi, `${name} caps the heap below its memory limit`);
  }
  t.end();
});

t.test('pods drain from endpoints before SIGTERM', (t) => {
  for (const name of ['image-watcher-webhook', 'image-watcher-watcher']) {
    const pod = podSpec(find(objects, 'Deployment', name));
    const c = container(find(objects, 'Deployment', name));
    // A sleep action, not exec: the images have no shell.
    t.same(c.lifecycle?.preStop, { sleep: { seconds: 5 } }, `${name} preStop sleep`);
    t.ok(
      pod.terminationGracePeriodSeconds >= 5 + 30,
      `${name} grace period covers the preStop sleep and a 30 s stop`,
    );
  }
  t.end();
});

t.test('services expose the contract ports', (t) => {
  const ports = (name: string): Json[] => spec(find(objects, 'Service', name)).ports as Json[];
  t.same(
    ports('image-watcher-webhook').map((p) => [p.name, p.port, p.targetPort]),
    [
      ['https', 443, 'https'],
      ['http-metrics', 8080, 'http-metrics'],
    ],
  );
  t.same(
    ports('image-watcher-watcher').map((p) => [p.name, p.port, p.targetPort]),
    [['http', 8080, 'http']],
  );
  const webhookPorts = container(find(objects, 'Deployment', 'image-watcher-webhook')).ports as Json[];
  t.same(
    webhookPorts.map((p) => [p.name, p.containerPort]),
    [
      ['https', 8443],
      ['http-metrics', 8080],
    ],
  );
  t.end();
});

// Every (role, apiGroup, resource, verb, resourceName) the manifests grant.
function grants(objs: readonly KubeObject[]): string[] {
  const out: string[] = [];
  for (const o of objs.filter((x) => x.kind === 'ClusterRole' || x.kind === 'Role')) {
    for (const rule of (o as Json).rules as Json[]) {
      t.equal(rule.nonResourceURLs, undefined, 'no non-resource URLs');
      for (const group of rule.apiGroups as string[])
        for (const resource of rule.resources as string[])
          for (const verb of rule.verbs as string[])
            for (const resourceName of (rule.resourceNames as string[] | undefined) ?? ['*'])
              out.push(`${o.kind}/${o.metadata.name} ${group || 'core'} ${resource} ${verb} ${resourceName}`);
    }
  }
  return out.sort();
}

t.test('RBAC grants the watcher exactly its allow-list and the webhook nothing', (t) => {
  const cr = 'ClusterRole/image-watcher-watcher';
  const role = 'Role/image-watcher-watcher-leader-election';
  const want = [
    ...['deployments', 'statefulsets', 'daemonsets'].flatMap((r) =>
      ['get', 'list', 'watch', 'patch'].map((v) => `${cr} apps ${r} ${v} *`),
    ),
    ...['get', 'list', 'watch', 'patch'].map((v) => `${cr} batch cronjobs ${v} *`),
    `${cr} core events create *`,
    `${cr} core events patch *`,
    // Events through the core API only (client.ts): no events.k8s.io grant.
    `${cr} core secrets get *`,
    `${cr} core serviceaccounts get *`,
    // verify-key ConfigMaps, by name.
    `${cr} core configmaps get *`,
    // The HTTP API's callers: TokenReview and SubjectAccessReview, nothing more.
    `${cr} authentication.k8s.io tokenreviews create *`,
    `${cr} authorization.k8s.io subjectaccessreviews create *`,
    // Roles for API callers (bound by the user): attributes in image-watcher.io only.
    'ClusterRole/image-watcher-api-reader image-watcher.io workloads list *',
    'ClusterRole/image-watcher-api-reader image-watcher.io images get *',
    'ClusterRole/image-watcher-api-updater image-watcher.io workloads update *',
    `${role} coordination.k8s.io leases create *`,
    `${role} coordination.k8s.io leases get image-watcher-watcher`,
    `${role} coordination.k8s.io leases update image-watcher-watcher`,
  ].sort();
  t.same(grants(objects), want);

  const bindings = objects.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding');
  t.same(
    bindings
      .map((b) => [b.kind, (b as Json).roleRef.kind, (b as Json).roleRef.name, (b as Json).subjects])
      .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    [
      [
        'ClusterRoleBinding',
        'ClusterRole',
        'image-watcher-watcher',
        [{ kind: 'ServiceAccount', name: 'image-watcher-watcher', namespace: NS }],
      ],
      [
        'RoleBinding',
        'Role',
        'image-watcher-watcher-leader-election',
        [{ kind: 'ServiceAccount', name: 'image-watcher-watcher', namespace: NS }],
      ],
    ],
    'only the watcher service account is bound; the webhook has no binding',
  );
  t.equal(find(objects, 'RoleBinding', 'image-watcher-watcher-leader-election').metadata.namespace, NS);
  t.end();
});

t.test('API_TOKEN comes from the optional Secret, never a literal', (t) => {
  const watcher = env(container(find(objects, 'Deployment', 'image-watcher-watcher')));
  t.same(watcher.API_TOKEN, {
    name: 'API_TOKEN',
    valueFrom: { secretKeyRef: { name: 'image-watcher', key: 'API_TOKEN', optional: true } },
  });
  t.end();
});

t.test('the RBAC check notices an extra verb', (t) => {
  const tampered = structuredClone(objects);
  const role = tampered.find(
    (o) => o.kind === 'ClusterRole' && o.metadata.name === 'image-watcher-watcher',
  )! as Json;
  role.rules[0].verbs.push('delete');
  t.ok(grants(tampered).includes('ClusterRole/image-watcher-watcher apps deployments delete *'));
  t.end();
});

t.test('network policies admit only the expected traffic', (t) => {
  const webhook = spec(find(objects, 'NetworkPolicy', 'image-watcher-webhook'));
  t.same(webhook.policyTypes, ['Ingress', 'Egress']);
  t.same(webhook.ingress[0], { ports: [{ port: 8443, protocol: 'TCP' }] }, 'admission from any source');
  t.same(webhook.ingress[1].from, [
    { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
  ]);
  t.same(webhook.ingress[1].ports, [{ port: 8080, protocol: 'TCP' }]);
  t.same(
    (webhook.egress as Json[]).flatMap((r) => (r.ports as Json[]).map((p) => p.port)),
    [53, 53],
    'the webhook only resolves names',
  );
  const watcher = spec(find(objects, 'NetworkPolicy', 'image-watcher-watcher'));
  t.same(watcher.ingress, [{ ports: [{ port: 8080, protocol: 'TCP' }] }]);
  const egressPorts = new Set(
    (watcher.egress as Json[]).flatMap((r) => (r.ports as Json[]).map((p) => p.port)),
  );
  for (const port of [53, 443, 80, 6443]) t.ok(egressPorts.has(port), `watcher may reach port ${port}`);
  // The metadata service (169.254.169.254, fd00:ec2::254) is excluded from every rule beyond DNS.
  for (const rule of watcher.egress as Json[]) {
    const ports = (rule.ports as Json[]).map((p) => p.port as number);
    if (ports.every((p) => p === 53)) continue;
    const blocks = ((rule.to ?? []) as Json[]).map((to) => to.ipBlock as Json | undefined);
    t.ok(
      blocks.length > 0 && blocks.every((b) => b !== undefined),
      `ports ${ports.join(',')} go to ipBlocks only`,
    );
    t.same(
      blocks.map((b) => [b!.cidr, b!.except]),
      [
        ['0.0.0.0/0', ['169.254.169.254/32']],
        ['::/0', ['fd00:ec2::254/128']],
      ],
      `ports ${ports.join(',')} never reach the cloud metadata service`,
    );
  }
  t.end();
});

t.test('ServiceMonitors scrape both components with their own labels', (t) => {
  for (const [name, port] of [
    ['image-watcher-watcher', 'http'],
    ['image-watcher-webhook', 'http-metrics'],
  ] as const) {
    const sm = spec(find(objects, 'ServiceMonitor', name));
    t.same(
      sm.selector.matchLabels,
      spec(find(objects, 'Service', name)).selector,
      `${name} selects its Service`,
    );
    t.same(sm.endpoints, [{ port, path: '/metrics', interval: '30s', honorLabels: true }]);
  }
  t.end();
});

t.test('the push receivers have their own port, Service and NetworkPolicy (for an Ingress)', (t) => {
  const w = find(objects, 'Deployment', 'image-watcher-watcher');
  const c = container(w);
  const port = (c.ports as Json[]).find((p) => p.name === 'receiver');
  t.equal(env(c).RECEIVER_PORT?.value, String(port?.containerPort), 'RECEIVER_PORT is the receiver port');
  t.match(env(c).REGISTRY_WEBHOOK_TOKEN, {
    valueFrom: { secretKeyRef: { key: 'REGISTRY_WEBHOOK_TOKEN', optional: true } },
  });
  const svc = find(objects, 'Service', 'image-watcher-receiver');
  t.same(
    (spec(svc).ports as Json[]).map((p) => p.targetPort),
    ['receiver'],
    'the Service reaches the receiver port only, never the API port',
  );
  const np = find(objects, 'NetworkPolicy', 'image-watcher-receiver');
  t.same(spec(np).ingress, [{ ports: [{ port: port?.containerPort, protocol: 'TCP' }] }]);
  t.end();
});

t.test('the PrometheusRule carries exactly the groups of rules.yaml', async (t) => {
  const rules = parse(await readFile(`${MANIFESTS_DIR}monitoring/rules.yaml`, 'utf8')) as Json;
  t.same(spec(find(objects, 'PrometheusRule', 'image-watcher')).groups, rules.groups);
});

t.test('the dashboard ships as a ConfigMap the Grafana sidecar picks up', async (t) => {
  const cm = find(objects, 'ConfigMap', 'image-watcher-dashboard');
  t.equal(cm.metadata.labels?.grafana_dashboard, '1');
  const json = (cm as Json).data['image-watcher.json'] as string;
  t.same(JSON.parse(json), JSON.parse(await readFile(`${MANIFESTS_DIR}monitoring/dashboard.json`, 'utf8')));
});

t.test('the overlay in docs/deploy.md builds and changes what it says', async (t) => {
  const readme = await readFile(`${MANIFESTS_DIR}../docs/deploy.md`, 'utf8');
  const overlay = /```yaml\n# my-overlay\/kustomization\.yaml\n([\s\S]*?)```/.exec(readme)?.[1];
  t.ok(overlay, 'the README has the overlay example');
  const dir = await mkdtemp(join(tmpdir(), 'iw-overlay-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(
    join(dir, 'kustomization.yaml'),
    overlay!.replace('../manifests', relative(dir, MANIFESTS_DIR)),
  );
  const rendered = await renderKustomization(dir);
  const rule = spec(find(rendered, 'PrometheusRule', 'image-watcher')).groups[0].rules[0];
  t.same([rule.alert, rule.for], ['ImageWatcherImageOutdated', '72h']);
  t.same(env(container(find(rendered, 'Deployment', 'image-watcher-watcher'))).CHECK_INTERVAL?.value, '6h');
  for (const o of rendered.filter((x) => x.apiVersion.startsWith('monitoring.coreos.com/'))) {
    t.equal(
      o.metadata.labels?.release,
      'kube-prometheus-stack',
      `${o.kind}/${o.metadata.name} gets the release label`,
    );
  }
});
