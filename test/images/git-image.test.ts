// The watcher's -git image (Git write-back) run as the cluster runs it (podman with runc, read-only
// root, no capabilities, uid 10001, 256 MiB): against the fake API server, the real
// docker-registry, a bare repository served by `git http-backend` with basic auth and another over
// Debian's sshd with the host key pinned, two AUTO_UPDATE Deployments get their new versions as Git
// commits and their live objects are not patched. The default image, same setup, reports that it
// has no git. Then the -git image's size and contents.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import type { Test } from 'tap';
import type { FakeKube } from '../support/fake-kube/index.ts';
import { startGitServer } from '../support/git-server.ts';
import { buildImage } from '../support/images.ts';
import { pushImage, startRegistry } from '../support/registry.ts';
import type { RunningRegistry } from '../support/registry.ts';
import { startSshd } from '../support/sshd.ts';
import { startServer } from '../watcher/release-notes/helpers.ts';
import { annotationsOf, deployment, fakeKube, imageOf, until } from '../watcher/e2e/support.ts';
import {
  images,
  podman,
  podmanResult,
  pushWithSkopeo,
  runOnce,
  skipReason,
  startWatcherContainer,
  unpackedSize,
} from './podman.ts';

const skip = skipReason();
// scripts/images.sh (cached), three containers and two Git servers on a shared machine.
t.setTimeout(480_000);
const suffix = randomBytes(4).toString('hex');
const AUTH = { username: 'bot', password: `git-http-password-${suffix}` };
const API_TOKEN = `api-token-${suffix}-0123456789`;

/** A manifest as kept in Git, with a comment the editor must keep. */
function manifest(registry: string, name: string, tag: string): string {
  return [
    `# ${name}: kept by hand`,
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    `  name: ${name}`,
    '  namespace: shop',
    'spec:',
    '  template:',
    '    spec:',
    '      containers:',
    '        - name: app',
    `          image: ${registry}/shop/${name}:${tag} # pinned`,
    '',
  ].join('\n');
}

function gitDeployment(registry: string, name: string, tag: string, repo: string, secret: string): object {
  return deployment(name, `${registry}/shop/${name}:${tag}`, {
    'image-watcher/mode': 'AUTO_UPDATE',
    'image-watcher/strategy': 'PATCH',
    'image-watcher/write-back': 'git',
    'image-watcher/git-repo': repo,
    'image-watcher/git-path': 'apps',
    'image-watcher/git-secret': secret,
  });
}

function secret(name: string, data: Record<string, string>): object {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: 'shop' },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  };
}

function imagePatches(kube: FakeKube, name: string): number {
  return kube
    .requestsMatching({ method: 'PATCH', pathPattern: new RegExp(`/deployments/${name}$`) })
    .filter(
      (r) =>
        Array.isArray(r.body) &&
        (r.body as { op: string; path: string }[]).some((o) => o.path.endsWith('/image')),
    ).length;
}

let registry: RunningRegistry;
t.before(async () => {
  if (skip) return;
  registry = await startRegistry();
  await pushImage(registry.url, 'shop/web', ['1.0.0', '1.0.1'], buildImage());
  await pushImage(registry.url, 'shop/api', ['2.0.0', '2.0.1'], buildImage());
});
t.teardown(() => registry?.stop());

/** The watcher image in its container, with a kubeconfig for `kube` and the Git settings. */
function runWatcher(
  t: Test,
  image: string,
  name: string,
  kube: FakeKube,
  env: Record<string, string> = {},
): ReturnType<typeof startWatcherContainer> {
  return startWatcherContainer(t, image, {
    name: `iw-test-${name}-${suffix}`,
    kube,
    env: {
      API_TOKEN,
      GIT_INSECURE_HOSTS: '127.0.0.1',
      GIT_AUTHOR_NAME: 'Image Watcher',
      GIT_AUTHOR_EMAIL: 'image-watcher@example.com',
      ...env,
    },
  });
}

async function workloads(httpPort: number): Promise<{ name: string; lastError?: string }[]> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/api/v1/workloads`, {
    headers: { authorization: `Bearer ${API_TOKEN}` },
  });
  if (!res.ok) return [];
  return ((await res.json()) as { workloads: { name: string; lastError?: string }[] }).workloads;
}

t.test(
  'the -git image writes two updates to Git, over HTTP with basic auth and over SSH, without a shell',
  { skip },
  async (t) => {
    const { watcherGit } = await images();
    const git = await startGitServer({ auth: AUTH });
    t.teardown(() => git.close());
    const sshd = await startSshd();
    t.teardown(() => sshd.stop());
    const host = registry.host;
    const httpRepo = await git.createRepo('over-http', { 'apps/web.yaml': manifest(host, 'web', '1.0.0') });
    await git.createRepo('over-ssh', { 'apps/api.yaml': manifest(host, 'api', '2.0.0') });
    const sshRepo = sshd.url(git.path('over-ssh'));

    const kube = await fakeKube(t.teardown.bind(t));
    kube.seed(
      secret('git-http', AUTH),
      secret('git-ssh', { identity: sshd.identity, known_hosts: sshd.knownHosts }),
      gitDeployment(host, 'web', '1.0.0', httpRepo, 'git-http'),
      gitDeployment(host, 'api', '2.0.0', sshRepo, 'git-ssh'),
    );
    const { c, httpPort, fail } = await runWatcher(t, watcherGit, 'watcher-git', kube);

    const subjects = async (repo: string): Promise<string[]> => git.log(repo, 'main');
    await until(
      'the commit over HTTP',
      async () => (await subjects('over-http')).length === 2,
      150_000,
    ).catch(fail);
    await until('the commit over SSH', async () => (await subjects('over-ssh')).length === 2, 150_000).catch(
      fail,
    );
    t.same(await subjects('over-http'), ['Update shop/web app 1.0.0 -> 1.0.1', 'Initial manifests']);
    t.same(await subjects('over-ssh'), ['Update shop/api app 2.0.0 -> 2.0.1', 'Initial manifests']);
    t.equal(
      await git.show('over-http', 'main', 'apps/web.yaml'),
      manifest(host, 'web', '1.0.1'),
      'only the tag changed (comments kept)',
    );
    t.equal(await git.show('over-ssh', 'main', 'apps/api.yaml'), manifest(host, 'api', '2.0.1'));
    const [body] = await git.log('over-ssh', 'main', '%an <%ae>%n%b');
    t.match(body, /^Image Watcher <image-watcher@example\.com>\n/, 'the configured author');
    t.match(body, /shop\/api: 2\.0\.0 -> 2\.0\.1 \(patch\)/);
    t.ok(
      git.requests.some((r) => r.user === AUTH.username && r.path.endsWith('git-receive-pack')),
      'pushed with the Secret user',
    );

    await until('both pushes recorded on the workloads', () =>
      ['web', 'api'].every(
        (n) => annotationsOf(kube.get('Deployment', 'shop', n))['image-watcher/last-pushed-version'],
      ),
    ).catch(fail);
    t.equal(
      imageOf(kube.get('Deployment', 'shop', 'web')),
      `${host}/shop/web:1.0.0`,
      'web: live image unchanged',
    );
    t.equal(
      imageOf(kube.get('Deployment', 'shop', 'api')),
      `${host}/shop/api:2.0.0`,
      'api: live image unchanged',
    );
    t.equal(imagePatches(kube, 'web') + imagePatches(kube, 'api'), 0, 'no image patch of a live object');
    const listed = await workloads(httpPort);
    t.same(
      listed.map((w) => [w.name, w.lastError]).sort(),
      [
        ['api', undefined],
        ['web', undefined],
      ],
      'no error on the API',
    );
    const logs = await c.logs();
    t.notMatch(logs, new RegExp(AUTH.password), 'the password is in no log line');
    t.notMatch(logs, /PRIVATE KEY/, 'the key is in no log line');
    t.match(logs, /pushed to Git/);
    t.match(logs, /git found for the Git write-back/, 'the probe found git');
    t.notMatch(logs, /git is missing/);
    t.ok(await c.running(), 'still running');
    const { code } = await c.terminate();
    t.equal(code, 0, 'exit 0 on SIGTERM', { logs: await c.logs() });
  },
);

t.test('the default image has no git: E_GIT_UNAVAILABLE naming the -git image', { skip }, async (t) => {
  const { watcher } = await images();
  const git = await startGitServer({ auth: AUTH });
  t.teardown(() => git.close());
  const hook = await startServer((_req, res) => res.writeHead(204).end());
  t.teardown(() => hook.close());
  const host = registry.host;
  const repo = await git.createRepo('no-git', { 'apps/web.yaml': manifest(host, 'web', '1.0.0') });
  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed(secret('git-http', AUTH), gitDeployment(host, 'web', '1.0.0', repo, 'git-http'));
  const { c, httpPort, fail } = await runWatcher(t, watcher, 'watcher-nogit', kube, {
    NOTIFY_WEBHOOK_URL: `${hook.origin}/hook`,
    NOTIFY_WEBHOOK_SECRET: 'webhook-secret-0123456789',
    NOTIFY_RETRIES: '0',
  });
  await until(
    'the failed notice',
    () => hook.requests.some((r) => r.body.includes('"event":"failed"')),
    120_000,
  ).catch(fail);
  const notice = hook.requests.find((r) => r.body.includes('"event":"failed"'))!.body;
  t.match(notice, /git is not installed in this watcher image/, 'the notice says why');
  t.match(notice, /tagged <version>-git/, 'and names the -git image');
  t.notMatch(notice, /ENOENT/, 'not a spawn error');
  await until('the error on the API', async () =>
    (await workloads(httpPort)).some((w) => w.lastError?.startsWith('E_GIT_UNAVAILABLE: ')),
  ).catch(fail);
  const logs = await c.logs();
  t.match(logs, /E_GIT_UNAVAILABLE/, 'and in the log');
  const warned = logs.split('\n').filter((l) => l.includes('git is missing'));
  t.equal(warned.length, 1, 'one WARN that git is missing, as soon as the Git workload is seen');
  t.match(warned[0], /"level":40.*<version>-git/);
  t.same(await git.log('no-git', 'main'), ['Initial manifests'], 'nothing was written');
  t.equal(imagePatches(kube, 'web'), 0, 'and the live object is not patched instead');
  t.equal(imageOf(kube.get('Deployment', 'shop', 'web')), `${host}/shop/web:1.0.0`);
});

t.test(
  'the -git image: its size, git and ssh, still no shell, perl or package manager',
  { skip },
  async (t) => {
    const { watcher, watcherGit } = await images();
    const target = `${registry.host}/image-watcher/watcher:git-${suffix}`;
    const compressed: Record<string, number> = {};
    for (const [label, image] of [
      ['watcher', watcher],
      ['watcher-git', watcherGit],
    ] as const) {
      compressed[label] = (await pushWithSkopeo(image, `${target}-${label}`)).compressed;
    }
    const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;
    const extra = compressed['watcher-git']! - compressed.watcher!;
    t.comment(
      `watcher ${mb(compressed.watcher!)}, watcher-git ${mb(compressed['watcher-git']!)} compressed (+${mb(extra)}); ` +
        `unpacked ${mb(await unpackedSize(watcher))} and ${mb(await unpackedSize(watcherGit))}`,
    );
    t.ok(extra > 5e6 && extra < 15e6, `git and ssh add 5 to 15 MB compressed (${mb(extra)})`);
    t.ok(compressed['watcher-git']! < 60e6, `the -git image is under 60 MB compressed`);

    const inspect = `
    const fs = await import('node:fs');
    const os = await import('node:os');
    const has = (p) => fs.existsSync(p);
    console.log(JSON.stringify({
      user: os.userInfo().username,
      home: os.userInfo().homedir,
      git: has('/usr/bin/git') && has('/usr/lib/git-core/git-remote-https'),
      ssh: has('/usr/bin/ssh'),
      shell: ['/bin/sh', '/usr/bin/sh', '/bin/bash', '/usr/bin/bash', '/bin/dash'].some(has),
      perl: has('/usr/bin/perl'),
      apt: has('/usr/bin/apt-get') || has('/usr/bin/dpkg'),
      gitCore: fs.readdirSync('/usr/lib/git-core').sort(),
      copyright: ['git', 'openssh-client', 'libcurl3-gnutls', 'libgnutls30'].every((p) =>
        has('/usr/share/doc/' + p + '/copyright')),
    }));`;
    const found = JSON.parse(
      await podman(
        runOnce(
          watcherGit,
          'node',
          ['--input-type=module', '-e', inspect],
          ['--read-only', '--user', '10001:10001', '--passwd=false'],
        ),
      ),
    ) as Record<string, unknown>;
    t.same(
      found,
      {
        user: 'image-watcher',
        home: '/tmp',
        git: true,
        ssh: true,
        shell: false,
        perl: false,
        apt: false,
        gitCore: ['git-remote-http', 'git-remote-https'],
        copyright: true,
      },
      'uid 10001 has a passwd entry (ssh needs one); git, its HTTPS helper, ssh and their copyright files; no shell, perl or apt',
    );
    const version = await podman(runOnce(watcherGit, '/usr/bin/git', ['--version']));
    t.match(version, /^git version 2\./, 'git runs: its libraries are all there');
    const ssh = await podmanResult(runOnce(watcherGit, '/usr/bin/ssh', ['-V']));
    t.match(ssh, { code: 0, stderr: /^OpenSSH_/ }, 'ssh runs');
  },
);
