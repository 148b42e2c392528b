// The chart runs the watcher image with git and ssh (tag <version>-git) when the Git write-back
// is on (watcher.git.enabled, or a default watcher.git.repo); rendered by the real helm.
/* eslint-disable @typescript-eslint/no-explicit-any */
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { find } from '../manifests/render.ts';
import type { KubeObject } from '../manifests/render.ts';
import { renderChart, ROOT } from './helm.ts';

type Json = Record<string, any>;
const pkg = JSON.parse(await readFile(`${ROOT}package.json`, 'utf8')) as { version: string };
const image = (objects: KubeObject[], name: string): string =>
  ((find(objects, 'Deployment', name).spec as Json).template.spec.containers[0] as Json).image as string;

t.test('the watcher image follows the Git write-back setting', async (t) => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['default', {}, `ghcr.io/image-watcher/watcher:${pkg.version}`],
    ['git.enabled', { 'watcher.git.enabled': true }, `ghcr.io/image-watcher/watcher:${pkg.version}-git`],
    [
      'a default repo',
      { 'watcher.git.repo': 'https://git.example.com/org/deploy.git' },
      `ghcr.io/image-watcher/watcher:${pkg.version}-git`,
    ],
    [
      'a tag of its own',
      { 'watcher.git.enabled': true, 'images.watcher.tag': '9.9.9' },
      'ghcr.io/image-watcher/watcher:9.9.9-git',
    ],
    [
      'a tag that is the -git one already',
      { 'watcher.git.enabled': true, 'images.watcher.tag': '9.9.9-git' },
      'ghcr.io/image-watcher/watcher:9.9.9-git',
    ],
    [
      'a digest (of the -git image)',
      {
        'watcher.git.enabled': true,
        'images.watcher.repository': 'registry.example/iw/watcher',
        'images.watcher.digest': `sha256:${'b'.repeat(64)}`,
      },
      `registry.example/iw/watcher:${pkg.version}-git@sha256:${'b'.repeat(64)}`,
    ],
  ];
  for (const [name, set, want] of cases) {
    const objects = await renderChart(set);
    t.equal(image(objects, 'image-watcher-watcher'), want, name);
    t.equal(
      image(objects, 'image-watcher-webhook'),
      `ghcr.io/image-watcher/webhook:${pkg.version}`,
      `${name}: the webhook keeps its image`,
    );
  }
  await t.rejects(renderChart({ 'watcher.git.enabled': 'yes' }), {
    message: /watcher\.git\.enabled: Invalid type/,
  });
});

t.test('with git, /tmp has room for the clone', async (t) => {
  const tmpLimit = (objects: KubeObject[]): unknown =>
    (
      (find(objects, 'Deployment', 'image-watcher-watcher').spec as Json).template.spec.volumes as Json[]
    ).find((v) => v.name === 'tmp')?.emptyDir?.sizeLimit;
  t.equal(tmpLimit(await renderChart({})), '64Mi', 'default image');
  t.equal(tmpLimit(await renderChart({ 'watcher.git.enabled': true })), '1Gi', 'git.enabled');
  t.equal(
    tmpLimit(await renderChart({ 'watcher.git.repo': 'https://git.example.com/org/deploy.git' })),
    '1Gi',
    'a default repo',
  );
  t.equal(
    tmpLimit(await renderChart({ 'watcher.git.enabled': true, 'watcher.git.tmpSizeLimit': '4Gi' })),
    '4Gi',
    'its own size',
  );
  await t.rejects(renderChart({ 'watcher.git.tmpSizeLimit': 'lots' }), {
    message: /tmpSizeLimit/,
  });
});
