// `image-watcher check` and `scan` against the real registry in every auth mode.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { run } from '../../../watcher/cli/run.ts';
import { buildImage } from '../../support/images.ts';
import { freePort, pushImage, startRegistry } from '../../support/registry.ts';
import type { RunningRegistry } from '../../support/registry.ts';
import { startTokenServer } from '../../support/token-server.ts';
import type { TokenServer } from '../../support/token-server.ts';
import { cliProcess } from '../../support/process.ts';

const USER = 'deployer';
const PASSWORD = 'cli-Pa55word';
const TAGS = ['1.2.3', '1.2.4', '1.3.0', '1.10.1', '2.0.0', '1.11.0-rc.1', 'latest'];

let dir: string;
let tokens: TokenServer;
const registries: Record<'anonymous' | 'basic' | 'bearer', RunningRegistry> = {} as never;
const digests: Record<string, string> = {};

t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'iw-cli-'));
  tokens = await startTokenServer({ dir, users: { [USER]: PASSWORD } });
  [registries.anonymous, registries.basic, registries.bearer] = await Promise.all([
    startRegistry(),
    startRegistry({ kind: 'htpasswd', users: { [USER]: PASSWORD } }),
    startRegistry({
      kind: 'token',
      realm: tokens.realm,
      service: tokens.service,
      issuer: tokens.issuer,
      rootCertFile: tokens.rootCertFile,
    }),
  ]);
  const auth = {
    anonymous: undefined,
    basic: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`,
    bearer: `Bearer ${tokens.issue(USER, ['repository:app:pull,push'])}`,
  };
  await Promise.all(
    (['anonymous', 'basic', 'bearer'] as const).flatMap((mode) =>
      TAGS.map(async (tag) => {
        digests[`${mode}:${tag}`] = await pushImage(
          registries[mode].url,
          'app',
          [tag],
          buildImage(),
          auth[mode],
        );
      }),
    ),
  );
  // Docker config.json: `auth` (base64) for one registry, username/password for the other.
  await writeFile(
    join(dir, 'config.json'),
    JSON.stringify({
      auths: {
        [`http://${registries.basic.host}/v2/`]: {
          auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64'),
        },
        [registries.bearer.host]: { username: USER, password: PASSWORD },
      },
    }),
  );
});
t.teardown(async () => {
  await Promise.all(Object.values(registries).map((r) => r.stop()));
  await tokens?.close();
  await rm(dir, { recursive: true, force: true });
});

async function cli(
  argv: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run(argv, {
    env: { DOCKER_CONFIG: dir, ...env },
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    version: '0.1.0',
  });
  return { code, out, err };
}

for (const mode of ['anonymous', 'basic', 'bearer'] as const) {
  t.test(`check --strategy MINOR --json finds the newest minor (${mode} registry)`, async (t) => {
    const host = registries[mode].host;
    const r = await cli(['check', `${host}/app:1.2.3`, '--strategy', 'MINOR', '--json']);
    t.equal(r.code, 0, r.err);
    t.equal(r.err, '');
    t.strictSame(JSON.parse(r.out), {
      image: `${host}/app:1.2.3`,
      current: '1.2.3',
      latest: '1.10.1',
      fullImage: `${host}/app:1.10.1`,
      updateAvailable: true,
      digest: digests[`${mode}:1.10.1`],
    });
  });
}

t.test('check follows each strategy and prints the version first in text mode', async (t) => {
  const host = registries.anonymous.host;
  const cases = [
    { name: 'PATCH stays on 1.2', input: 'PATCH', want: '1.2.4' },
    { name: 'MAJOR goes to 2.0.0', input: 'MAJOR', want: '2.0.0' },
    { name: 'ALL is MAJOR for versions', input: 'ALL', want: '2.0.0' },
  ];
  for (const c of cases) {
    const r = await cli(['check', `${host}/app:1.2.3`, '--strategy', c.input]);
    t.equal(r.code, 0);
    t.equal(r.out.split('\t')[0], c.want, c.name);
  }
  const upToDate = await cli(['check', `${host}/app:2.0.0`]);
  t.match(upToDate.out, /^2\.0\.0\t.*up to date \(ALL\)/);
});

t.test('check honours include and exclude', async (t) => {
  const host = registries.anonymous.host;
  const r = await cli([
    'check',
    `${host}/app:1.2.3`,
    '--strategy',
    'MINOR',
    '--exclude',
    '^1\\.10\\.',
    '--json',
  ]);
  t.equal(JSON.parse(r.out).latest, '1.3.0');
});

t.test('check --labels reads the OCI labels of the version it answers with', async (t) => {
  const host = registries.basic.host;
  const labels = { 'org.opencontainers.image.version': '3.1.0', 'org.opencontainers.image.title': 'a\tb' };
  const auth = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
  await pushImage(registries.basic.url, 'labelled', ['3.0.0'], buildImage(), auth);
  await pushImage(registries.basic.url, 'labelled', ['3.1.0'], buildImage({ labels }), auth);
  const json = await cli(['check', `${host}/labelled:3.0.0`, '--labels', '--json']);
  t.equal(json.code, 0, json.err);
  t.match(JSON.parse(json.out), { latest: '3.1.0', labels });
  const text = await cli(['check', `${host}/labelled:3.0.0`, '--labels']);
  t.equal(
    text.out.split('\n').slice(1).join('\n'),
    '  org.opencontainers.image.title=a\\tb\n  org.opencontainers.image.version=3.1.0\n',
    'one escaped key=value line per label, sorted',
  );
  const without = await cli(['check', `${host}/labelled:3.0.0`, '--json']);
  t.notOk('labels' in JSON.parse(without.out), 'no labels unless asked for');
});

t.test('check compares the digest behind a non-version tag under ALL', async (t) => {
  const host = registries.anonymous.host;
  const old = `sha256:${'0'.repeat(64)}`;
  const moved = JSON.parse((await cli(['check', `${host}/app:latest@${old}`, '--json'])).out);
  t.match(moved, {
    current: 'latest',
    latest: 'latest',
    updateAvailable: true,
    digest: digests['anonymous:latest'],
  });
  t.equal(moved.fullImage, `${host}/app:latest@${digests['anonymous:latest']}`);
  const same = JSON.parse(
    (await cli(['check', `${host}/app:latest@${digests['anonymous:latest']}`, '--json'])).out,
  );
  t.equal(same.updateAvailable, false);
  const unknown = await cli(['check', `${host}/app:latest`, '--json']);
  t.equal(JSON.parse(unknown.out).updateAvailable, false);
  t.match(unknown.err, /write IMAGE as name:latest@sha256/);
});

t.test('registry failures exit 1 with one line; bad arguments exit 2 with a usage hint', async (t) => {
  const wrongPassword = join(dir, 'wrong');
  await rm(wrongPassword, { recursive: true, force: true });
  await mkdir(wrongPassword);
  await writeFile(
    join(wrongPassword, 'config.json'),
    JSON.stringify({ auths: { [registries.basic.host]: { username: USER, password: 'nope' } } }),
  );
  const cases: {
    name: string;
    input: string[];
    env: Record<string, string>;
    want: { code: number; err: string | RegExp };
  }[] = [
    {
      name: 'a wrong password',
      input: ['check', `${registries.basic.host}/app:1.2.3`],
      env: { DOCKER_CONFIG: wrongPassword },
      want: {
        code: 1,
        err: `image-watcher: registry ${registries.basic.host} refused the credentials for app (HTTP 401): check the username/password in DOCKER_CONFIG or imagePullSecrets\n`,
      },
    },
    {
      name: 'a missing repository',
      input: ['check', `${registries.anonymous.host}/nope:1.0.0`],
      env: {},
      want: { code: 1, err: `image-watcher: repository nope not found on ${registries.anonymous.host}\n` },
    },
    {
      name: 'an invalid image',
      input: ['check', 'UPPER/Case:1'],
      env: {},
      want: { code: 2, err: /^image-watcher: .*\nRun 'image-watcher --help' for usage\.\n$/ },
    },
    {
      name: 'a digest-only image',
      input: ['check', `app@sha256:${'a'.repeat(64)}`],
      env: {},
      want: { code: 2, err: /pins only a digest/ },
    },
  ];
  for (const c of cases) {
    const r = await cli(c.input, c.env);
    t.match(r, c.want, c.name);
    t.equal(r.out, '', `${c.name}: nothing on stdout`);
  }
  const badConfig = join(dir, 'bad');
  await mkdir(badConfig, { recursive: true });
  await writeFile(join(badConfig, 'config.json'), '{ not json');
  const r = await cli(['check', `${registries.anonymous.host}/app:1.2.3`], { DOCKER_CONFIG: badConfig });
  t.match(
    r,
    { code: 2, err: /config\.json is not valid JSON/ },
    'an invalid config.json is a configuration error',
  );
});

t.test('scan reports every watched container of a manifest file', async (t) => {
  const host = registries.anonymous.host;
  const file = join(dir, 'workloads.yaml');
  await writeFile(
    file,
    [
      `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  annotations:\n    image-watcher/strategy: PATCH\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: ${host}/app:1.2.3\n`,
      `apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\nspec:\n  template:\n    spec:\n      containers:\n        - name: db\n          image: ${host}/app:2.0.0\n`,
      `apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: off\n  annotations:\n    image-watcher/mode: DISABLED\nspec:\n  template:\n    spec:\n      containers:\n        - name: x\n          image: ${host}/app:1.0.0\n`,
    ].join('---\n'),
  );
  const ok = await cli(['scan', file, '--json']);
  t.equal(ok.code, 0, ok.err);
  t.match(JSON.parse(ok.out), [
    {
      workload: 'default/Deployment/web',
      container: 'app',
      strategy: 'PATCH',
      current: '1.2.3',
      latest: '1.2.4',
      updateAvailable: true,
    },
    {
      workload: 'default/StatefulSet/db',
      container: 'db',
      strategy: 'ALL',
      current: '2.0.0',
      latest: '2.0.0',
      updateAvailable: false,
    },
    {
      workload: 'default/DaemonSet/off',
      container: 'x',
      mode: 'DISABLED',
      current: '1.0.0',
      latest: null,
      updateAvailable: null,
      error: null,
    },
  ]);
  const text = await cli(['scan', file]);
  t.match(text.out, /^WORKLOAD\s+CONTAINER\s+MODE\s+STRATEGY\s+CURRENT\s+LATEST\s+UPDATE/);
  t.match(text.out, /default\/Deployment\/web\s+app\s+NOTIFICATION\s+PATCH\s+1\.2\.3\s+1\.2\.4\s+yes/);
  t.match(
    text.out,
    /default\/DaemonSet\/off\s+x\s+DISABLED\s+ALL\s+1\.0\.0\s+-\s+disabled\s/,
    'a DISABLED workload is listed as disabled',
  );

  const broken = join(dir, 'broken.yaml');
  await writeFile(
    broken,
    `apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: c\n      image: ${host}/missing:1.0.0\n` +
      `---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: typo\n  annotations:\n    image-watcher/strategie: PATCH\n` +
      `spec:\n  template:\n    spec:\n      containers:\n        - name: c\n          image: ${host}/app:1.2.3\n`,
  );
  const failed = await cli(['scan', file, broken]);
  t.equal(failed.code, 1);
  t.match(
    failed.out,
    /default\/Pod\/p\s+c\s+NOTIFICATION\s+ALL\s+1\.0\.0\s+-\s+error\s+.*repository missing not found/,
    'an error row shows the current tag it knows from the manifest',
  );
  t.match(
    failed.out,
    /default\/Deployment\/typo .* error .*broken\.yaml: .*image-watcher\/strategie \(value "[^"]*"\) is not a known image-watcher annotation/,
  );
  t.match(failed.err, /2 of 4 containers could not be checked/, 'the disabled one is not counted');
  const failedJson = JSON.parse((await cli(['scan', broken, '--json'])).out) as Record<string, unknown>[];
  t.match(failedJson[0], {
    workload: 'default/Pod/p',
    current: '1.0.0',
    latest: null,
    updateAvailable: null,
    error: /repository missing not found/,
  });
  const unreadable = await cli(['scan', join(dir, 'does-not-exist.yaml')]);
  t.match(unreadable, { code: 2, err: /cannot read .*does-not-exist\.yaml: ENOENT/ });
});

t.test('the real CLI process exits 0, 1 and 2', async (t) => {
  const node = (args: string[]) => cliProcess(args, { env: { ...process.env, DOCKER_CONFIG: dir } });
  const dead = await freePort();
  const [ok, failure, usage] = await Promise.all([
    node(['check', `${registries.bearer.host}/app:1.2.3`, '--strategy', 'MINOR', '--json']),
    node(['check', `127.0.0.1:${dead}/app:1.2.3`]),
    node(['check', 'app:1', '--strategy', 'sometimes']),
  ]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(JSON.parse(ok.stdout), {
    latest: '1.10.1',
    updateAvailable: true,
    digest: digests['bearer:1.10.1'],
  });
  t.equal(failure.code, 1);
  t.match(
    failure.stderr,
    new RegExp(
      `^image-watcher: cannot reach registry 127\\.0\\.0\\.1:${dead} for the tag list of app: ECONNREFUSED \\(3 attempts\\)\\n$`,
    ),
  );
  t.equal(usage.code, 2);
  t.match(
    usage.stderr,
    /^image-watcher: --strategy "sometimes" is not one of ALL, MAJOR, MINOR, PATCH\nRun 'image-watcher --help' for usage\.\n$/,
  );
});

t.test(
  'scan never proposes a version the manifest records as failed, nor anything older of that shape',
  async (t) => {
    const host = registries.anonymous.host;
    const file = join(dir, 'failed.yaml');
    const deployment = (name: string, failed: string) =>
      `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\n  annotations:\n    image-watcher/strategy: MINOR\n` +
      `    image-watcher/last-failed-version: ${failed}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: ${host}/app:1.2.3\n`;
    await writeFile(file, [deployment('a', '1.10.1'), deployment('b', '1.2.4')].join('---\n'));
    const r = await cli(['scan', file, '--json']);
    t.equal(r.code, 0, r.err);
    t.match(JSON.parse(r.out), [
      { workload: 'default/Deployment/a', latest: '1.2.3', updateAvailable: false },
      { workload: 'default/Deployment/b', latest: '1.10.1', updateAvailable: true },
    ]);
  },
);

t.test('scan reads folders as kubectl does: the files in them, subfolders with -R', async (t) => {
  const host = registries.anonymous.host;
  const top = join(dir, 'k8s');
  await mkdir(join(top, 'apps', 'deep'), { recursive: true });
  const deployment = (name: string, tag: string): string =>
    `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: ${host}/app:${tag}\n`;
  await writeFile(join(top, 'b.yaml'), deployment('b', '1.2.3'));
  await writeFile(join(top, 'a.yml'), deployment('a', '2.0.0'));
  await writeFile(join(top, 'notes.txt'), 'not a manifest');
  await writeFile(join(top, 'apps', 'c.json'), JSON.stringify(parse(deployment('c', '1.3.0'))));
  await writeFile(join(top, 'apps', 'deep', 'd.yaml'), deployment('d', '1.10.1'));

  const flat = await cli(['scan', top, '--json']);
  t.equal(flat.code, 0, flat.err);
  t.same(
    (JSON.parse(flat.out) as { workload: string }[]).map((r) => r.workload),
    ['default/Deployment/a', 'default/Deployment/b'],
    'without -R only the folder itself, in name order, .txt skipped',
  );
  for (const flag of ['-R', '--recursive']) {
    const deep = await cli(['scan', flag, top, '--json']);
    t.equal(deep.code, 0, deep.err);
    t.same(
      (JSON.parse(deep.out) as { workload: string; latest: string }[]).map((r) => [r.workload, r.latest]),
      [
        ['default/Deployment/a', '2.0.0'],
        ['default/Deployment/c', '2.0.0'],
        ['default/Deployment/d', '2.0.0'],
        ['default/Deployment/b', '2.0.0'],
      ],
      `${flag} reads the subfolders too, in walk order (a.yml, apps/, b.yaml) as kubectl`,
    );
  }
});

t.test('scan says so when the files hold no workload, with its own exit code', async (t) => {
  const file = join(dir, 'service.yaml');
  await writeFile(file, 'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n');
  const r = await cli(['scan', file]);
  t.equal(r.code, 4);
  t.equal(r.out, '');
  t.equal(r.err, `image-watcher: no Deployment, StatefulSet, DaemonSet, CronJob or Pod in ${file}\n`);
  const empty = join(dir, 'empty-folder');
  await mkdir(empty, { recursive: true });
  const none = await cli(['scan', empty, '--json']);
  t.equal(none.code, 4);
  t.same(JSON.parse(none.out), {
    error: {
      code: 'E_NO_WORKLOADS',
      message: `no Deployment, StatefulSet, DaemonSet, CronJob or Pod in no manifest file in ${empty}`,
    },
  });
});

t.test('with --json every error is JSON on stdout with the same exit code', async (t) => {
  const garbage = join(dir, 'garbage.yaml');
  await writeFile(garbage, 'apiVersion: v1\nkind: [Pod\n');
  const dead = await freePort();
  const cases = [
    {
      name: 'an unknown option',
      input: ['check', 'app:1', '--bogus', '--json'],
      want: { exit: 2, code: 'E_USAGE', message: 'unknown option --bogus' },
    },
    {
      name: 'a URL instead of an image',
      input: ['check', 'https://docker.io/nginx:1.25', '--json'],
      want: {
        exit: 2,
        code: 'E_IMAGE_REF',
        message:
          "invalid image reference 'https://docker.io/nginx:1.25': drop the scheme https://, an image is named without one (docker.io/nginx:1.25)",
      },
    },
    {
      name: 'a registry that does not answer',
      input: ['check', `127.0.0.1:${dead}/app:1.2.3`, '--json'],
      want: {
        exit: 1,
        code: 'E_REGISTRY_UNAVAILABLE',
        message: `cannot reach registry 127.0.0.1:${dead} for the tag list of app: ECONNREFUSED (3 attempts)`,
      },
    },
    {
      name: 'garbage YAML names file, line and column',
      input: ['scan', garbage, '--json'],
      want: {
        exit: 2,
        code: 'E_USAGE',
        message: `${garbage}:3:1: not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]`,
      },
    },
  ];
  for (const c of cases) {
    const r = await cli(c.input);
    t.equal(r.code, c.want.exit, `${c.name}: exit code`);
    t.same(JSON.parse(r.out), { error: { code: c.want.code, message: c.want.message } }, c.name);
    t.match(r.err, `image-watcher: ${c.want.message}\n`, `${c.name}: the same line on stderr`);
  }
  const text = await cli(['check', 'app:1', '--bogus']);
  t.same(text, {
    code: 2,
    out: '',
    err: "image-watcher: unknown option --bogus\nRun 'image-watcher --help' for usage.\n",
  });
});

t.test('check --help and scan --help print the help of that command', async (t) => {
  const check = await cli(['check', '--help']);
  t.equal(check.code, 0);
  t.match(check.out, /^Usage:\n {2}image-watcher check IMAGE/);
  t.notMatch(check.out, /image-watcher scan/);
  const scan = await cli(['scan', '--help']);
  t.match(scan.out, /^Usage:\n {2}image-watcher scan PATH\.\.\. \[-R\]/);
  t.notMatch(scan.out, /image-watcher check/);
  const all = await cli(['--help']);
  t.match(all.out, /image-watcher check IMAGE[\s\S]*image-watcher scan PATH/);
});

t.test('scan applies the manifest constraint through the one candidate rule', async (t) => {
  const host = registries.anonymous.host;
  const file = join(dir, 'constraint.yaml');
  await writeFile(
    file,
    `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: pinned\n  annotations:\n    image-watcher/constraint: '<1.10'\n` +
      `spec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: ${host}/app:1.2.3\n`,
  );
  const r = await cli(['scan', file, '--json']);
  t.equal(r.code, 0, r.err);
  t.match(JSON.parse(r.out), [
    { workload: 'default/Deployment/pinned', latest: '1.3.0', updateAvailable: true },
  ]);
});
