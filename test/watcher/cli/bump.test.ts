// `image-watcher bump` against the real registry (Debian docker-registry): the plan, --json,
// --write through the real CLI process (the one spawn), exit codes (in-process through `run`).
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { run } from '../../../watcher/cli/run.ts';
import { buildImage } from '../../support/images.ts';
import { freePort, pushImage, startCountingProxy, startRegistry } from '../../support/registry.ts';
import type { RunningRegistry } from '../../support/registry.ts';
import { cliProcess } from '../../support/process.ts';

const REPOS: Record<string, string[]> = {
  'acme/web': ['1.4.2', '1.4.3', '1.5.0', '2.0.0', '2.1.0-rc.1'],
  'acme/api': ['2.3.1', '2.4.0'],
  'acme/proxy': ['1.0.0', '1.1.0'],
  'acme/cache': ['7.2.4', 'latest'],
  'acme/worker': ['v0.9.0', 'v0.10.0'],
};

let registry: RunningRegistry;
let dir: string;
let host: string;
const digests: Record<string, string> = {};

t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'iw-bump-'));
  registry = await startRegistry();
  host = registry.host;
  // Distinct images per repository so that digests differ between versions.
  await Promise.all(
    Object.entries(REPOS).flatMap(([repo, tags]) =>
      tags.map(async (tag) => {
        digests[`${repo}:${tag}`] = await pushImage(
          registry.url,
          repo,
          [tag],
          buildImage({ labels: { version: `${repo}:${tag}` } }),
        );
      }),
    ),
  );
});
t.teardown(async () => {
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A repository of manifests, a kustomize overlay, a compose stack and Helm values. */
async function makeRepo(name: string): Promise<Record<string, string>> {
  const top = join(dir, name);
  const files: Record<string, string> = {
    'apps/web.yaml': `# The web app; minor updates only.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  annotations:
    image-watcher/strategy: MINOR
spec:
  template:
    spec:
      containers:
        - name: web
          image: ${host}/acme/web:1.4.2   # the storefront
        - name: proxy
          image: "${host}/acme/proxy:1.0.0@${digests['acme/proxy:1.0.0']}"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: frozen
  namespace: shop
  annotations:
    image-watcher/mode: DISABLED
spec:
  template:
    spec:
      containers:
        - name: web
          image: ${host}/acme/web:1.4.2
`,
    'overlays/prod/kustomization.yaml': `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../../apps]
images:
  - name: ${host}/acme/api # the API
    newTag: "2.3.1"
`,
    'stacks/shop/compose.yaml': `services:
  web:
    image: ${host}/acme/web:1.4.2
  cache:
    image: '${host}/acme/cache:7.2.4'
`,
    'charts/acme/values.yaml': `worker:
  image:
    repository: ${host}/acme/worker
    tag: v0.9.0 # image-watcher: shop/worker
exporter:
  tag: 1.0.0 # image-watcher: shop/exporter
`,
    'charts/acme/templates/deployment.yaml': `{{- if .Values.worker }}
kind: Deployment
  {{ .Values.worker | toYaml }}
`,
  };
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(top, path, '..'), { recursive: true });
    await writeFile(join(top, path), text);
  }
  return Object.fromEntries(Object.keys(files).map((p) => [p, join(top, p)]));
}

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run(argv, {
    env: { DOCKER_CONFIG: dir },
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    version: '0.1.0',
  });
  return { code, out, err };
}

/** The real `image-watcher` process, as a CI job runs it. */
const node = (args: string[]) => cliProcess(args, { env: { ...process.env, DOCKER_CONFIG: dir } });

async function snapshot(files: Record<string, string>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [k, p] of Object.entries(files)) out[k] = await readFile(p, 'utf8');
  return out;
}

function changedLines(before: string, after: string): string[] {
  const a = before.split('\n');
  const b = after.split('\n');
  if (a.length !== b.length) throw new Error('line count changed');
  return a.flatMap((l, i) => (l === b[i] ? [] : [`${l} => ${b[i]}`]));
}

t.test('bump without --write prints the plan, exits 3 and changes nothing', async (t) => {
  const files = await makeRepo('plan');
  const before = await snapshot(files);
  const r = await cli(['bump', '-R', join(dir, 'plan')]);
  t.equal(r.code, 3, r.err);
  t.same(await snapshot(files), before, 'no file touched');
  const lines = r.out.trimEnd().split('\n');
  t.same(
    lines.filter((l) => l.includes(' -> ')).sort(),
    [
      `${files['apps/web.yaml']}:14  ${host}/acme/web:1.4.2  1.4.2 -> 1.5.0  (minor)`,
      `${files['apps/web.yaml']}:16  ${host}/acme/proxy:1.0.0@${digests['acme/proxy:1.0.0']}  1.0.0 -> 1.1.0@${digests['acme/proxy:1.1.0']!.slice(0, 19)}…  (minor)`,
      `${files['charts/acme/values.yaml']}:4  ${host}/acme/worker:v0.9.0  v0.9.0 -> v0.10.0  (minor)`,
      `${files['overlays/prod/kustomization.yaml']}:6  ${host}/acme/api:2.3.1  2.3.1 -> 2.4.0  (minor)`,
      `${files['stacks/shop/compose.yaml']}:3  ${host}/acme/web:1.4.2  1.4.2 -> 2.0.0  (major)`,
    ].sort(),
  );
  t.match(r.out, /apps\/web\.yaml:30 {2}skipped: image-watcher\/mode is DISABLED/);
  t.match(r.out, /values\.yaml:6 {2}skipped: a bare tag: name its image on the marker with image=REPOSITORY/);
  t.match(r.out, /5 changes in 4 files; run with --write to apply; 1 up to date\n$/);
  t.match(r.err, /note: skipped .*templates\/deployment\.yaml:\d+:\d+: not valid YAML/);
  // Without -R a folder means its own files only: here none.
  const flat = await cli(['bump', join(dir, 'plan')]);
  t.equal(flat.code, 2);
  t.match(flat.err, /no YAML file in/);
});

t.test('bump --json: every site with its status, flags override annotations', async (t) => {
  const files = await makeRepo('json');
  const r = await cli([
    'bump',
    files['apps/web.yaml']!,
    files['stacks/shop/compose.yaml']!,
    '--strategy',
    'PATCH',
    '--json',
  ]);
  t.equal(r.code, 3, r.err);
  const out = JSON.parse(r.out) as {
    written: boolean;
    changes: number;
    errors: number;
    sites: Record<string, unknown>[];
  };
  t.match(out, { written: false, changes: 2, errors: 0 });
  t.match(out.sites, [
    {
      file: files['apps/web.yaml'],
      line: 14,
      kind: 'manifest',
      written: `${host}/acme/web:1.4.2`,
      workload: 'shop/Deployment/web',
      container: 'web',
      status: 'update',
      strategy: 'PATCH',
      current: '1.4.2',
      latest: '1.4.3',
      change: 'patch',
      digest: null,
    },
    { line: 16, container: 'proxy', status: 'current', latest: '1.0.0', digest: null },
    {
      line: 30,
      workload: 'shop/Deployment/frozen',
      status: 'skipped',
      message: 'image-watcher/mode is DISABLED',
    },
    { kind: 'compose', line: 3, workload: 'web', status: 'update', latest: '1.4.3' },
    { kind: 'compose', line: 5, container: 'cache', status: 'current', change: null },
  ]);
  t.equal(out.sites.length, 5);
});

t.test(
  'bump --write through the real process: one line per site, mode kept, then nothing to do',
  async (t) => {
    const files = await makeRepo('write');
    await chmod(files['stacks/shop/compose.yaml']!, 0o640);
    const before = await snapshot(files);
    const first = await node(['bump', '-R', '--write', join(dir, 'write')]);
    t.equal(first.code, 3, first.stderr);
    t.match(first.stdout, /5 changes in 4 files, written; 1 up to date\n$/);
    const after = await snapshot(files);
    t.same(changedLines(before['apps/web.yaml']!, after['apps/web.yaml']!), [
      `          image: ${host}/acme/web:1.4.2   # the storefront` +
        ' => ' +
        `          image: ${host}/acme/web:1.5.0   # the storefront`,
      `          image: "${host}/acme/proxy:1.0.0@${digests['acme/proxy:1.0.0']}"` +
        ' => ' +
        `          image: "${host}/acme/proxy:1.1.0@${digests['acme/proxy:1.1.0']}"`,
    ]);
    t.same(
      changedLines(before['overlays/prod/kustomization.yaml']!, after['overlays/prod/kustomization.yaml']!),
      ['    newTag: "2.3.1" =>     newTag: "2.4.0"'],
    );
    t.same(changedLines(before['stacks/shop/compose.yaml']!, after['stacks/shop/compose.yaml']!), [
      `    image: ${host}/acme/web:1.4.2 =>     image: ${host}/acme/web:2.0.0`,
    ]);
    t.same(changedLines(before['charts/acme/values.yaml']!, after['charts/acme/values.yaml']!), [
      '    tag: v0.9.0 # image-watcher: shop/worker =>     tag: v0.10.0 # image-watcher: shop/worker',
    ]);
    t.equal(after['charts/acme/templates/deployment.yaml'], before['charts/acme/templates/deployment.yaml']);
    t.equal((await stat(files['stacks/shop/compose.yaml']!)).mode & 0o777, 0o640, 'mode kept');
    const leftovers = (await readdir(join(dir, 'write', 'stacks', 'shop'))).filter(
      (n) => n !== 'compose.yaml',
    );
    t.same(leftovers, [], 'no temp file left behind');

    const again = await cli(['bump', '-R', '--write', '--json', join(dir, 'write')]);
    t.equal(again.code, 0, again.err);
    t.match(JSON.parse(again.out), { written: false, changes: 0, errors: 0 });
    t.same(await snapshot(files), after, 'a second run writes nothing');
  },
);

t.test('exit codes: 1 when a registry cannot be asked, 2 for bad input', async (t) => {
  const dead = await freePort();
  const mixed = join(dir, 'mixed.yaml');
  const text = `services:\n  gone:\n    image: 127.0.0.1:${dead}/acme/app:1.0.0\n  web:\n    image: ${host}/acme/web:1.4.2\n`;
  await writeFile(mixed, text);
  const [failed, missing, invalid, badStrategy, writeOnScan] = await Promise.all([
    cli(['bump', '--json', mixed]),
    cli(['bump', join(dir, 'does-not-exist.yaml')]),
    (async () => {
      const bad = join(dir, 'bad.yaml');
      await writeFile(bad, 'services: [a\n');
      return cli(['bump', '--json', bad]);
    })(),
    cli(['bump', mixed, '--strategy', 'sometimes']),
    cli(['scan', mixed, '--write']),
  ]);
  t.equal(failed.code, 1, failed.err);
  const out = JSON.parse(failed.out) as {
    errors: number;
    changes: number;
    sites: Record<string, unknown>[];
  };
  t.match(out, { errors: 1, changes: 1 });
  t.match(out.sites[0], {
    status: 'error',
    current: '1.0.0',
    message: /cannot reach registry 127\.0\.0\.1:\d+/,
  });
  t.match(failed.err, /1 of 2 images could not be checked/);
  t.equal(await readFile(mixed, 'utf8'), text, 'no --write, no change');
  t.equal(missing.code, 2);
  t.match(missing.err, /cannot read .*does-not-exist\.yaml: ENOENT/);
  t.equal(invalid.code, 2);
  t.match(JSON.parse(invalid.out), {
    error: { code: 'E_EDIT_YAML', message: /bad\.yaml:\d+:\d+: not valid YAML/ },
  });
  t.equal(badStrategy.code, 2);
  t.equal(writeOnScan.code, 2);
  t.match(writeOnScan.err, /--write is an option of bump/);
});

t.test('--write keeps a symlink a symlink; a file named twice is read once', async (t) => {
  const top = join(dir, 'linked');
  await mkdir(top);
  const real = join(top, 'real.yaml');
  const link = join(top, 'link.yaml');
  await writeFile(real, `services:\n  web:\n    image: ${host}/acme/web:1.4.2 # pinned by hand\n`);
  await symlink('real.yaml', link);
  const r = await cli(['bump', '--write', '--json', link, link]);
  t.equal(r.code, 3, r.err);
  t.match(JSON.parse(r.out), { written: true, changes: 1 });
  t.ok((await lstat(link)).isSymbolicLink(), 'still a symlink');
  t.equal(
    await readFile(real, 'utf8'),
    `services:\n  web:\n    image: ${host}/acme/web:2.0.0 # pinned by hand\n`,
  );
  t.same((await readdir(top)).sort(), ['link.yaml', 'real.yaml']);
});

t.test('a tag that is not a version, pinned to a digest, moves to the new digest of its tag', async (t) => {
  const file = join(dir, 'latest.yaml');
  const old = digests['acme/cache:7.2.4']!;
  await writeFile(file, `services:\n  cache:\n    image: "${host}/acme/cache:latest@${old}"\n`);
  const r = await cli(['bump', '--write', '--json', file]);
  t.equal(r.code, 3, r.err);
  t.match(JSON.parse(r.out), {
    changes: 1,
    sites: [
      {
        status: 'update',
        change: 'digest',
        current: 'latest',
        latest: 'latest',
        digest: digests['acme/cache:latest'],
      },
    ],
  });
  t.equal(
    await readFile(file, 'utf8'),
    `services:\n  cache:\n    image: "${host}/acme/cache:latest@${digests['acme/cache:latest']}"\n`,
  );
  // Unpinned, `latest` has no version to compare: nothing to change, with a note.
  await writeFile(file, `services:\n  cache:\n    image: ${host}/acme/cache:latest\n`);
  const plain = await cli(['bump', '--json', file]);
  t.equal(plain.code, 0, plain.err);
  t.match(JSON.parse(plain.out), { changes: 0, sites: [{ status: 'current', message: /not a version/ }] });
});

t.test('bump never writes a version the manifest records as failed', async (t) => {
  const file = join(dir, 'failed.yaml');
  const deployment = (name: string, failed: string): string =>
    `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\n  annotations:\n` +
    `    image-watcher/last-failed-version: ${failed}\nspec:\n  template:\n    spec:\n      containers:\n` +
    `        - name: web\n          image: ${host}/acme/web:1.4.2\n`;
  await writeFile(file, [deployment('a', '2.0.0'), deployment('b', '1.4.3')].join('---\n'));
  const r = await cli(['bump', file, '--json']);
  t.equal(r.code, 3, r.err);
  t.match(JSON.parse(r.out), {
    sites: [
      // 2.0.0 failed: nothing up to it is proposed again (the one candidate rule).
      { workload: 'default/Deployment/a', status: 'current', latest: '1.4.2' },
      { workload: 'default/Deployment/b', status: 'update', latest: '2.0.0' },
    ],
  });
});

t.test('one tag list per repository, however many files and selections name it', async (t) => {
  const proxy = await startCountingProxy(registry.url);
  t.teardown(() => proxy.close());
  const top = join(dir, 'counted');
  await mkdir(top);
  const web = `${proxy.host}/acme/web:1.4.2`;
  await writeFile(
    join(top, 'a.yaml'),
    `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\n  annotations: {image-watcher/strategy: PATCH}\n` +
      `spec:\n  template:\n    spec:\n      containers:\n        - {name: a, image: ${web}}\n`,
  );
  await writeFile(join(top, 'b.yaml'), `services:\n  b: {image: ${web}}\n  c: {image: '${web}'}\n`);
  await writeFile(join(top, 'c.yaml'), `web: ${proxy.host}/acme/web:1.4.3 # image-watcher: ns/web\n`);
  const r = await cli(['bump', top, '--json']);
  t.equal(r.code, 3, r.err);
  const sites = (JSON.parse(r.out) as { sites: { latest: string }[] }).sites;
  t.same(
    sites.map((s) => s.latest),
    ['1.4.3', '2.0.0', '2.0.0', '2.0.0'],
  );
  t.equal(proxy.count('GET', /^\/v2\/acme\/web\/tags\/list$/), 1);
});

t.test('bump --help names its options and exit codes', async (t) => {
  const r = await cli(['bump', '--help']);
  t.equal(r.code, 0);
  t.match(r.out, /image-watcher bump PATH\.\.\./);
  t.match(r.out, /--write/);
  t.match(r.out, /3 changes pending/);
  t.notMatch(r.out, /--labels/);
});

t.test('bump over a Helm chart: values and a marked template edited, other templates skipped', async (t) => {
  const top = join(dir, 'chart');
  const files: Record<string, string> = {
    'Chart.yaml': 'apiVersion: v2\nname: acme\nversion: 1.0.0\n',
    'values.yaml': `image:\n  repository: ${host}/acme/web\n  tag: "1.4.2" # image-watcher: shop/web/web\n`,
    'templates/deployment.yaml': `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "acme.fullname" . }}
  labels:
    {{- include "acme.labels" . | nindent 4 }}
spec:
  template:
    spec:
      containers:
        - name: web
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
`,
    'templates/cronjob.yaml': `{{- if .Values.report }}
kind: CronJob
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - name: api
              image: ${host}/acme/api:2.3.1 # image-watcher: shop/report/api
{{- end }}
`,
  };
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(top, path, '..'), { recursive: true });
    await writeFile(join(top, path), text);
  }
  const r = await cli(['bump', '-R', '--write', '--json', '--strategy', 'MINOR', top]);
  t.equal(r.code, 3, r.err);
  t.match(JSON.parse(r.out), {
    written: true,
    changes: 2,
    errors: 0,
    sites: [
      { file: join(top, 'templates/cronjob.yaml'), line: 10, kind: 'marker', latest: '2.4.0' },
      { file: join(top, 'values.yaml'), line: 3, kind: 'marker', latest: '1.5.0' },
    ],
  });
  t.match(r.err, /note: skipped .*templates\/deployment\.yaml:\d+:\d+: not valid YAML/);
  t.notMatch(r.err, /cronjob\.yaml/, 'the marked template is read');
  const read = (p: string) => readFile(join(top, p), 'utf8');
  t.same(changedLines(files['templates/cronjob.yaml']!, await read('templates/cronjob.yaml')), [
    `              image: ${host}/acme/api:2.3.1 # image-watcher: shop/report/api =>               image: ${host}/acme/api:2.4.0 # image-watcher: shop/report/api`,
  ]);
  t.same(changedLines(files['values.yaml']!, await read('values.yaml')), [
    '  tag: "1.4.2" # image-watcher: shop/web/web =>   tag: "1.5.0" # image-watcher: shop/web/web',
  ]);
  t.equal(await read('templates/deployment.yaml'), files['templates/deployment.yaml']);
});
