// End to end, request branch names: createWatcher (the production wiring: real editors, the git
// CLI client, the real pull-request client) against the fake API server, the real
// docker-registry, a bare repository over `git http-backend` and the local forge. Workloads
// `shop/web-x` and `shop-web/x` once shared `image-watcher/shop-web-x`; now each gets its own
// branch and request, and the old-style request is closed by the workload its title names only.
import t from 'tap';
import { startForge } from '../../support/forge.ts';
import { git as runGit, startGitServer } from '../../support/git-server.ts';
import type { GitServer } from '../../support/git-server.ts';
import { buildImage } from '../../support/images.ts';
import type { RunningRegistry } from '../../support/registry.ts';
import { pushImage, startRegistry } from '../../support/registry.ts';
import { annotationsOf, deployment, fakeKube, gitWriteBack, localForgeIo, startWatcher } from './support.ts';

const TOKEN = 'glpat-branch-names-0123456789';
let registry: RunningRegistry;
let git: GitServer;

t.before(async () => {
  registry = await startRegistry();
  await pushImage(registry.url, 'names/app', ['1.0.0', '1.0.1'], buildImage());
  git = await startGitServer({ auth: { username: 'x-access-token', password: TOKEN } });
});
t.teardown(async () => {
  await git.close();
  await registry.stop();
});

function manifest(namespace: string, name: string, image: string): string {
  return [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    `  name: ${name}`,
    `  namespace: ${namespace}`,
    'spec:',
    '  template:',
    '    spec:',
    '      containers:',
    '        - name: app',
    `          image: ${image}`,
    '',
  ].join('\n');
}

const secret = (namespace: string) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'git-token', namespace },
  data: { token: Buffer.from(TOKEN).toString('base64') },
});

for (const kind of ['github', 'gitlab'] as const) {
  t.test(`${kind}: shop/web-x and shop-web/x each get their own branch and request`, async (t) => {
    const img = (tag: string) => `${registry.host}/names/app:${tag}`;
    const repo = `names-${kind}`;
    const url = await git.createRepo(repo, {
      'apps/web-x.yaml': manifest('shop', 'web-x', img('1.0.0')),
      'apps/x.yaml': manifest('shop-web', 'x', img('1.0.0')),
    });
    const forge = await startForge(kind, 'org/deploy', TOKEN, { gitDir: git.path(repo) });
    t.teardown(() => forge.close());

    // What the previous watcher left: shop/web-x's request on the shared old-style branch.
    const legacy = 'image-watcher/shop-web-x';
    await runGit(git.path(repo), 'branch', legacy, 'main');
    await git.commitAs(repo, legacy, { 'apps/web-x.yaml': manifest('shop', 'web-x', img('0.9.0')) }, 'old');
    const legacyTip = (await runGit(git.path(repo), 'rev-parse', legacy)).trim();
    const subject = 'Update shop/web-x app 0.8.0 -> 0.9.0';
    const body = `${subject}\n\nDeployment shop/web-x, container app:\n  names/app: 0.8.0 -> 0.9.0 (patch)\n`;
    const res = await fetch(
      kind === 'github'
        ? `${forge.apiUrl}/repos/org/deploy/pulls`
        : `${forge.apiUrl}/projects/${encodeURIComponent('org/deploy')}/merge_requests`,
      {
        method: 'POST',
        headers:
          kind === 'github'
            ? { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }
            : { 'private-token': TOKEN, 'content-type': 'application/json' },
        body: JSON.stringify(
          kind === 'github'
            ? { head: legacy, base: 'main', title: subject, body }
            : { source_branch: legacy, target_branch: 'main', title: subject, description: body },
        ),
      },
    );
    t.equal(res.status, 201);

    const kube = await fakeKube(t.teardown.bind(t));
    const annotations = gitWriteBack(url, 'git-token', 'pull-request');
    kube.seed(secret('shop'));
    kube.seed(secret('shop-web'));
    kube.seed(deployment('web-x', img('1.0.0'), annotations));
    const other = deployment('x', img('1.0.0'), annotations) as { metadata: { namespace: string } };
    other.metadata.namespace = 'shop-web';
    kube.seed(other);
    const w = await startWatcher(t.teardown.bind(t), kube, {
      env: { GIT_INSECURE_HOSTS: '127.0.0.1' },
      io: localForgeIo(kind, () => forge.apiUrl),
    });
    await w.controller.runCycle();
    await w.controller.idle();

    const mine = 'image-watcher/shop/web-x';
    const theirs = 'image-watcher/shop-web/x';
    t.same(await git.branches(repo), [legacy, theirs, mine, 'main'].sort());
    t.same(await git.log(repo, mine), ['Update shop/web-x app 1.0.0 -> 1.0.1', 'Initial manifests']);
    t.same(await git.log(repo, theirs), ['Update shop-web/x app 1.0.0 -> 1.0.1', 'Initial manifests']);
    t.match(await git.show(repo, mine, 'apps/web-x.yaml'), img('1.0.1'));
    t.match(
      await git.show(repo, mine, 'apps/x.yaml'),
      img('1.0.0'),
      "only its own file on shop/web-x's branch",
    );
    t.match(await git.show(repo, theirs, 'apps/x.yaml'), img('1.0.1'));
    t.match(
      await git.show(repo, theirs, 'apps/web-x.yaml'),
      img('1.0.0'),
      "only its own file on shop-web/x's",
    );
    t.same(
      forge.open.map((p) => [p.head, p.title]).sort(),
      [
        [mine, 'Update shop/web-x app 1.0.0 -> 1.0.1'],
        [theirs, 'Update shop-web/x app 1.0.0 -> 1.0.1'],
      ].sort(),
      'two requests, one per workload',
    );
    t.match(forge.pulls[0], {
      head: legacy,
      state: 'closed',
      comments: [/^Superseded by \S+: image-watcher now names/],
    });
    t.equal(forge.pulls[0]?.comments.length, 1, 'closed once, by shop/web-x only');
    t.equal(
      (await runGit(git.path(repo), 'rev-parse', legacy)).trim(),
      legacyTip,
      'the old branch is untouched',
    );
    for (const [namespace, name] of [
      ['shop', 'web-x'],
      ['shop-web', 'x'],
    ] as const) {
      t.equal(
        annotationsOf(kube.get('Deployment', namespace, name))['image-watcher/last-pushed-version'],
        '1.0.1',
      );
    }
    t.match(await w.metricsText(), /image_watcher_git_superseded_requests_total\{result="closed"\} 1\n/);
    t.same(
      w.controller.workloads().map((x) => x.lastError),
      [undefined, undefined],
    );
  });
}
