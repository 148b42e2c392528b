// manifests/gitops: the kustomize component that runs the watcher image with git and ssh (tag
// <version>-git) for the Git write-back, in an overlay of manifests/ and of manifests/run-once/,
// rendered by kubectl kustomize. Nothing else changes but the room in /tmp for the clone.
/* eslint-disable @typescript-eslint/no-explicit-any */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { parse } from 'yaml';
import { MANIFESTS_DIR, renderKustomization } from './render.ts';
import type { KubeObject } from './render.ts';
import { schemaErrors } from './schema.ts';

type Json = Record<string, any>;
const pkg = JSON.parse(await readFile(`${MANIFESTS_DIR}../package.json`, 'utf8')) as { version: string };

/** Images of every pod template (Deployments, CronJobs). */
function images(objects: KubeObject[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const o of objects) {
    const spec = o.spec as Json | undefined;
    const pod = (spec?.template?.spec ?? spec?.jobTemplate?.spec?.template?.spec) as Json | undefined;
    if (pod) out[`${o.kind}/${o.metadata.name}`] = (pod.containers as Json[]).map((c) => c.image as string);
  }
  return out;
}

async function overlay(t: Test, base: string): Promise<KubeObject[]> {
  const dir = await mkdtemp(join(tmpdir(), 'iw-gitops-overlay-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(
    join(dir, 'kustomization.yaml'),
    [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'resources:',
      `  - ${relative(dir, base)}`,
      'components:',
      `  - ${relative(dir, `${MANIFESTS_DIR}gitops`)}`,
      '',
    ].join('\n'),
  );
  return renderKustomization(dir);
}

t.test('the component pins the -git tag of the package version', async (t) => {
  const component = parse(await readFile(`${MANIFESTS_DIR}gitops/kustomization.yaml`, 'utf8')) as Json;
  t.equal(component.kind, 'Component');
  t.same(component.images, [{ name: 'ghcr.io/image-watcher/watcher', newTag: `${pkg.version}-git` }]);
});

for (const [name, base, workload] of [
  ['manifests/', MANIFESTS_DIR, 'Deployment/image-watcher-watcher'],
  ['manifests/run-once/', `${MANIFESTS_DIR}run-once/`, 'CronJob/image-watcher-run-once'],
] as const) {
  t.test(
    `an overlay of ${name} with the component runs the -git watcher with room for a clone, nothing else changes`,
    async (t) => {
      const plain = await renderKustomization(base);
      const withGit = await overlay(t, base);
      const want = images(plain);
      want[workload] = [`ghcr.io/image-watcher/watcher:${pkg.version}-git`];
      t.same(images(withGit), want, 'only the watcher image changes');
      t.same(
        images(plain)[workload],
        [`ghcr.io/image-watcher/watcher:${pkg.version}`],
        'the base has the default',
      );
      const tmpLimit = (objects: KubeObject[]): unknown => {
        const o = objects.find((x) => `${x.kind}/${x.metadata.name}` === workload);
        const spec = o?.spec as Json | undefined;
        const pod = (spec?.template?.spec ?? spec?.jobTemplate?.spec?.template?.spec) as Json | undefined;
        return (pod?.volumes as Json[] | undefined)?.find((v) => v.name === 'tmp')?.emptyDir?.sizeLimit;
      };
      t.equal(tmpLimit(plain), '64Mi');
      t.equal(tmpLimit(withGit), '1Gi', '/tmp holds a clone of a large repository');
      const strip = (objects: KubeObject[]): string =>
        JSON.stringify(objects)
          .replaceAll(`watcher:${pkg.version}-git"`, `watcher:${pkg.version}"`)
          .replace('"sizeLimit":"1Gi"', '"sizeLimit":"64Mi"');
      t.equal(strip(withGit), JSON.stringify(plain), 'every other byte is the same');
      for (const o of withGit) t.equal(schemaErrors(o), undefined, `${o.kind}/${o.metadata.name} is valid`);
    },
  );
}
