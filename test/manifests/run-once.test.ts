// manifests/run-once: the watcher as a CronJob. Rendered with kubectl kustomize, checked against
// the OpenAPI schemas, the restricted pod security profile and an exact RBAC allow-list.
/* eslint-disable @typescript-eslint/no-explicit-any */
import t from 'tap';
import { loadWatcherConfig } from '../../watcher/create.ts';
import { find, MANIFESTS_DIR, renderKustomization, type KubeObject } from './render.ts';
import { schemaErrors } from './schema.ts';

type Json = Record<string, any>;
const NS = 'image-watcher';
const NAME = 'image-watcher-run-once';
const objects = await renderKustomization(`${MANIFESTS_DIR}run-once/`);
const cron = find(objects, 'CronJob', NAME) as Json;
const pod = cron.spec.jobTemplate.spec.template.spec as Json;
const container = pod.containers[0] as Json;

t.test('renders a CronJob, its service account and its RBAC, all schema-valid', (t) => {
  t.same(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort(), [
    `ClusterRole/${NAME}`,
    `ClusterRoleBinding/${NAME}`,
    `CronJob/${NAME}`,
    `ServiceAccount/${NAME}`,
  ]);
  for (const o of objects) t.equal(schemaErrors(o), undefined, `${o.kind}/${o.metadata.name}`);
  t.equal(cron.metadata.namespace, NS);
  t.end();
});

t.test('one pass at a time, never retried forever, with the watcher image', (t) => {
  t.equal(cron.spec.concurrencyPolicy, 'Forbid', 'two passes at once would both act');
  t.equal(cron.spec.jobTemplate.spec.backoffLimit, 1);
  t.ok(cron.spec.jobTemplate.spec.activeDeadlineSeconds > 0);
  t.equal(pod.restartPolicy, 'Never');
  t.equal(pod.serviceAccountName, NAME);
  t.equal(container.image, 'ghcr.io/image-watcher/watcher:0.1.0');
  // The literal settings of the manifest load in the one settings loader, RUN_ONCE on.
  const env = Object.fromEntries(
    (container.env as Json[]).filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string]),
  );
  const wc = loadWatcherConfig(env);
  t.equal(wc.settings.runOnce, true);
  t.equal(wc.settings.watchAnnotatedOnly, true);
  t.end();
});

t.test('the pod runs under the restricted pod security profile', (t) => {
  t.equal(pod.securityContext.runAsNonRoot, true);
  t.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
  const sc = container.securityContext as Json;
  t.equal(sc.runAsNonRoot, true);
  t.ok(sc.runAsUser > 0);
  t.equal(sc.readOnlyRootFilesystem, true);
  t.equal(sc.allowPrivilegeEscalation, false);
  t.not(sc.privileged, true);
  t.same(sc.capabilities, { drop: ['ALL'] });
  t.equal(sc.seccompProfile.type, 'RuntimeDefault');
  const tmp = (container.volumeMounts as Json[]).find((m) => m.mountPath === '/tmp');
  t.ok((pod.volumes as Json[]).find((v) => v.name === tmp?.name)?.emptyDir, '/tmp is an emptyDir');
  for (const kind of ['requests', 'limits'])
    t.ok(container.resources[kind].cpu && container.resources[kind].memory, `cpu and memory ${kind}`);
  t.end();
});

t.test('RBAC: exactly what one pass needs; no Lease, no reviews', (t) => {
  const cr = `ClusterRole/${NAME}`;
  const grants: string[] = [];
  for (const o of objects.filter((x: KubeObject) => x.kind === 'ClusterRole' || x.kind === 'Role')) {
    for (const rule of (o as Json).rules as Json[])
      for (const group of rule.apiGroups as string[])
        for (const resource of rule.resources as string[])
          for (const verb of rule.verbs as string[])
            grants.push(`${o.kind}/${o.metadata.name} ${group || 'core'} ${resource} ${verb}`);
  }
  t.same(
    grants.sort(),
    [
      ...['deployments', 'statefulsets', 'daemonsets'].flatMap((r) =>
        ['get', 'list', 'watch', 'patch'].map((v) => `${cr} apps ${r} ${v}`),
      ),
      ...['get', 'list', 'watch', 'patch'].map((v) => `${cr} batch cronjobs ${v}`),
      `${cr} core events create`,
      `${cr} core events patch`,
      `${cr} core secrets get`,
      `${cr} core serviceaccounts get`,
      `${cr} core configmaps get`,
    ].sort(),
  );
  t.same((find(objects, 'ClusterRoleBinding', NAME) as Json).subjects, [
    { kind: 'ServiceAccount', name: NAME, namespace: NS },
  ]);
  t.end();
});
