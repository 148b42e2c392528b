// .github/workflows/release.yaml cannot run here; it is checked structurally: the shape GitHub
// requires, and that it builds, labels, attests and pushes what CI tests.
/* eslint-disable @typescript-eslint/no-explicit-any */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { parse } from 'yaml';
import { ROOT } from './helm.ts';

type Json = Record<string, any>;
const workflow = parse(await readFile(`${ROOT}.github/workflows/release.yaml`, 'utf8')) as Json;
const jobs = workflow.jobs as Record<string, Json>;
const steps = (job: string): Json[] => (jobs[job]?.steps ?? []) as Json[];
const uses = (job: string, action: string): Json | undefined =>
  steps(job).find((s) => typeof s.uses === 'string' && s.uses.startsWith(`${action}@`));

t.test('the workflow has the shape GitHub Actions requires', (t) => {
  t.equal(typeof workflow.name, 'string');
  t.same(workflow.on, { push: { tags: ['v*.*.*'] } }, 'runs for version tags only');
  t.same(workflow.permissions, { contents: 'read' }, 'read-only by default');
  t.ok(Object.keys(jobs).length > 0);
  for (const [name, job] of Object.entries(jobs)) {
    t.match(name, /^[A-Za-z_][A-Za-z0-9_-]*$/, `job id ${name}`);
    t.type(job['runs-on'], 'string', `${name} runs-on`);
    t.ok(Array.isArray(job.steps) && job.steps.length > 0, `${name} has steps`);
    for (const step of job.steps as Json[]) {
      t.ok('uses' in step !== 'run' in step, `${name}: a step either uses an action or runs a command`);
      if (step.uses !== undefined)
        t.match(
          step.uses,
          /^[\w.-]+\/[\w.-]+(\/[\w./-]+)?@(v\d+(\.\d+)*|[0-9a-f]{40})$/,
          `${step.uses} is pinned`,
        );
      for (const k of Object.keys(step))
        t.ok(
          ['id', 'name', 'uses', 'with', 'run', 'env', 'if', 'shell'].includes(k),
          `${name}: step key ${k}`,
        );
    }
    for (const need of [job.needs ?? []].flat() as string[])
      t.ok(jobs[need], `${name} needs ${need}, which exists`);
    for (const [scope, level] of Object.entries((job.permissions ?? {}) as Record<string, string>))
      t.ok(['read', 'write', 'none'].includes(level), `${name}: permission ${scope}: ${level}`);
  }
  t.end();
});

t.test(
  'images: both components and the -git watcher, amd64 and arm64, labels, SBOM, provenance, pushed',
  (t) => {
    const matrix = jobs.images?.strategy?.matrix?.include as {
      component: string;
      target: string;
      suffix: string;
    }[];
    t.same(matrix.map((m) => `${m.component}${m.suffix}`).sort(), ['watcher', 'watcher-git', 'webhook']);
    for (const m of matrix) {
      t.ok(existsSync(`${ROOT}Dockerfile.${m.component}`), `Dockerfile.${m.component} exists`);
      if (m.target !== '')
        t.match(
          readFileSync(`${ROOT}Dockerfile.${m.component}`, 'utf8'),
          new RegExp(`^FROM .* AS ${m.target}$`, 'm'),
          `Dockerfile.${m.component} has the target ${m.target}`,
        );
    }
    t.same(jobs.images?.permissions, { contents: 'read', packages: 'write' });
    for (const action of [
      'actions/checkout',
      'docker/setup-qemu-action',
      'docker/setup-buildx-action',
      'docker/login-action',
    ])
      t.ok(uses('images', action), `uses ${action}`);
    const build = uses('images', 'docker/build-push-action')?.with as Json;
    t.equal(build.file, 'Dockerfile.${{ matrix.component }}');
    t.equal(build.target, '${{ matrix.target }}', 'the -git variant is a target of the same Dockerfile');
    t.same((build.platforms as string).split(','), ['linux/amd64', 'linux/arm64']);
    t.equal(build.sbom, true, 'SBOM attestation');
    t.match(build.provenance, /^(true|mode=max)$/, 'provenance attestation');
    t.equal(build.push, true);
    t.match(build.labels, /steps\.meta\.outputs\.labels/, 'OCI labels from docker/metadata-action');
    t.match(build['build-args'], /VERSION=\$\{\{ steps\.meta\.outputs\.version \}\}/);
    t.match(build['build-args'], /REVISION=\$\{\{ github\.sha \}\}/);
    const meta = uses('images', 'docker/metadata-action')?.with as Json;
    t.match(
      meta.tags,
      /type=semver,pattern=\{\{version\}\}/,
      'images are tagged with the version, never latest',
    );
    t.match(meta.tags, /suffix=\$\{\{ matrix\.suffix \}\}/, 'the -git variant is tagged X.Y.Z-git');
    t.notMatch(JSON.stringify(jobs), /latest/, 'no latest tag anywhere');
    t.ok(
      steps('images').some(
        (s) => /package\.json/.test(String(s.run)) && /GITHUB_REF_NAME/.test(String(s.run)),
      ),
      'the tag must be the package version',
    );
    t.end();
  },
);

t.test('chart: linted, packaged and pushed after the images', (t) => {
  t.equal(jobs.chart?.needs, 'images');
  const run = steps('chart')
    .map((s) => String(s.run ?? ''))
    .join('\n');
  t.match(run, /helm lint --strict charts\/image-watcher/);
  t.match(run, /helm package charts\/image-watcher/);
  t.match(run, /helm push .*oci:\/\//);
  t.ok(existsSync(`${ROOT}charts/image-watcher/Chart.yaml`));
  t.end();
});
