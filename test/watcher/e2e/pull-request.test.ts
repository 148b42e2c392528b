// End to end, `image-watcher/git-push: pull-request`: createWatcher (the production wiring, with the
// real editors, the git CLI client and the real pull-request client) against the fake API server,
// the real docker-registry, a bare repository over `git http-backend` with token auth, and a local
// forge speaking GitHub's or GitLab's REST shapes (test/support/forge.ts). Only where the client
// sends its API calls is replaced (the forge's address); GIT_INSECURE_HOSTS comes from the settings.
import t from 'tap';
import type { Test } from 'tap';
import type { FakeKube } from '../../support/fake-kube/index.ts';
import { startForge } from '../../support/forge.ts';
import { git as runGit, startGitServer } from '../../support/git-server.ts';
import type { GitServer } from '../../support/git-server.ts';
import { buildImage } from '../../support/images.ts';
import type { RunningRegistry } from '../../support/registry.ts';
import { pushImage, startRegistry } from '../../support/registry.ts';
import { parseAllDocuments } from 'yaml';
import {
  annotationsOf,
  deployment,
  fakeKube,
  gitWriteBack,
  imageOf,
  localForgeIo,
  startWatcher,
  until,
} from './support.ts';

const TOKEN = 'glpat-pr-token-0123456789';
const API_TOKEN = 'api-token-for-the-pr-test-0123';
let registry: RunningRegistry;
let git: GitServer;

t.before(async () => {
  registry = await startRegistry();
  // One repository per test: later tests must not see the versions earlier ones pushed.
  for (const kind of [
    'github',
    'gitlab',
    'refused',
    'squash',
    'retry-github',
    'retry-gitlab',
    'conflict-github',
    'conflict-gitlab',
    'deleted-github',
    'deleted-gitlab',
  ]) {
    await pushImage(registry.url, `${kind}/web`, ['1.0.0', '1.0.1'], buildImage());
  }
  // GitCli sends a token as the password of x-access-token (as GitHub and GitLab accept it).
  git = await startGitServer({ auth: { username: 'x-access-token', password: TOKEN } });
});
t.teardown(async () => {
  await git.close();
  await registry.stop();
});

function manifest(image: string): string {
  return [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: web',
    '  namespace: shop',
    'spec:',
    '  template:',
    '    spec:',
    '      containers:',
    '        - name: app',
    `          image: ${image} # reviewed by people`,
    '',
  ].join('\n');
}

/** Argo CD's sync after the merge: the live object gets the image main holds. */
async function argoSync(kube: FakeKube, repo: string): Promise<void> {
  type Spec = { spec: { template: { spec: { containers: { image: string }[] } } } };
  const doc = parseAllDocuments(await git.show(repo, 'main', 'apps/web.yaml'))[0]!.toJS() as Spec;
  const live = structuredClone(kube.get('Deployment', 'shop', 'web')!) as unknown as Spec;
  live.spec.template.spec.containers[0]!.image = doc.spec.template.spec.containers[0]!.image;
  kube.upsert(live);
}

const secret = {
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'git-token', namespace: 'shop' },
  data: { token: Buffer.from(TOKEN).toString('base64') },
};

for (const kind of ['github', 'gitlab'] as const) {
  t.test(
    `${kind}: one request per branch, updated for a newer version, a new one after the merge`,
    async (t) => {
      const img = (tag: string) => `${registry.host}/${kind}/web:${tag}`;
      // GitLab: a project in a subgroup, whose path the API takes URL-encoded as one segment.
      const project = kind === 'github' ? 'org/deploy' : 'group/sub/deploy';
      const forge = await startForge(kind, project, TOKEN);
      t.teardown(() => forge.close());
      const url = await git.createRepo(`pr-${kind}`, { 'apps/web.yaml': manifest(img('1.0.0')) });
      const kube = await fakeKube(t.teardown.bind(t));
      kube.seed(secret);
      const d = deployment('web', img('1.0.0'), gitWriteBack(url, 'git-token', 'pull-request')) as {
        metadata: Record<string, unknown>;
      };
      d.metadata.labels = { 'argocd.argoproj.io/instance': 'shop' };
      kube.seed(d);
      const w = await startWatcher(t.teardown.bind(t), kube, {
        env: { GIT_INSECURE_HOSTS: '127.0.0.1', API_TOKEN },
        io: {
          gitWindowMs: 10,
          pullRequestProvider: (repo) =>
            repo === url ? { kind, apiUrl: forge.apiUrl, path: project, host: '127.0.0.1' } : undefined,
        },
      });
      const gitView = async () => {
        const res = await w.app.inject({
          url: '/api/v1/workloads',
          headers: { authorization: `Bearer ${API_TOKEN}` },
        });
        t.equal(res.statusCode, 200);
        return res.json<{ workloads: { name: string; writeBack?: { git?: Record<string, unknown> } }[] }>()
          .workloads[0]?.writeBack?.git;
      };
      const webUrl =
        kind === 'github'
          ? 'https://github.example/org/deploy/pull/1'
          : 'https://gitlab.example/group/sub/deploy/-/merge_requests/1';
      const branch = 'image-watcher/shop/web';

      await w.controller.runCycle();
      await w.controller.idle();
      t.same(await git.log(`pr-${kind}`, 'main'), ['Initial manifests'], 'the base branch is untouched');
      t.same(await git.log(`pr-${kind}`, branch), [
        'Update shop/web app 1.0.0 -> 1.0.1',
        'Initial manifests',
      ]);
      t.equal(await git.show(`pr-${kind}`, branch, 'apps/web.yaml'), manifest(img('1.0.1')));
      t.match(forge.open, [
        { id: 1, head: branch, base: 'main', title: 'Update shop/web app 1.0.0 -> 1.0.1' },
      ]);
      t.equal(forge.open.length, 1);
      t.match(forge.open[0]?.body, /1\.0\.0 -> 1\.0\.1 \(patch\)/);
      t.equal(
        forge.requests[0]?.path,
        kind === 'github' ? '/repos/org/deploy/pulls' : '/projects/group%2Fsub%2Fdeploy/merge_requests',
      );
      t.match(await gitView(), { branch, url: webUrl, pending: true }, 'the request on /api/v1/workloads');
      t.match(w.notices, [
        { event: 'available', newVersion: '1.0.1', detail: `Proposed in Git for review: ${webUrl}` },
      ]);
      t.equal(
        imageOf(kube.get('Deployment', 'shop', 'web')),
        img('1.0.0'),
        'the live object waits for the merge',
      );
      t.equal(
        annotationsOf(kube.get('Deployment', 'shop', 'web'))['image-watcher/last-pushed-version'],
        '1.0.1',
      );
      t.match(await w.metricsText(), /image_watcher_git_pushes_total\{result="pushed"\} 1\n/);

      // Nothing new: the next pass neither pushes nor calls the forge.
      const calls = forge.requests.length;
      await w.controller.runCycle();
      await w.controller.idle();
      t.equal(forge.requests.length, calls, 'no forge call without a new version');
      t.equal((await git.log(`pr-${kind}`, branch)).length, 2);

      // Not merged yet, and a newer version is out: the same branch and request carry it.
      await pushImage(registry.url, `${kind}/web`, ['1.0.2'], buildImage());
      await w.controller.runCycle();
      await w.controller.idle();
      t.same(await git.log(`pr-${kind}`, branch), [
        'Update shop/web app 1.0.0 -> 1.0.2',
        'Update shop/web app 1.0.0 -> 1.0.1',
        'Initial manifests',
      ]);
      t.equal(await git.show(`pr-${kind}`, branch, 'apps/web.yaml'), manifest(img('1.0.2')));
      t.same(await git.branches(`pr-${kind}`), [branch, 'main'].sort(), 'no second branch');
      t.equal(forge.open.length, 1, 'no second request');
      t.equal(forge.open[0]?.title, 'Update shop/web app 1.0.0 -> 1.0.2');
      t.equal(forge.requests.filter((r) => r.method === 'POST').length, 1, 'opened once');
      t.equal(
        forge.requests.filter((r) => r.method === (kind === 'github' ? 'PATCH' : 'PUT')).length,
        1,
        'updated once',
      );
      t.match(await gitView(), { branch, url: webUrl, pending: true });
      t.match(w.notices.at(-1), {
        event: 'available',
        newVersion: '1.0.2',
        detail: `Proposed in Git for review: ${webUrl}`,
      });
      t.equal(
        annotationsOf(kube.get('Deployment', 'shop', 'web'))['image-watcher/last-pushed-version'],
        '1.0.2',
      );
      t.match(await w.metricsText(), /image_watcher_git_pushes_total\{result="pushed"\} 2\n/);

      // A reviewer merges it (a merge commit) and Argo CD syncs: the rollout is recorded as an update.
      await git.merge(`pr-${kind}`, branch, 'main', 'Merge the image-watcher request');
      forge.markMerged();
      await argoSync(kube, `pr-${kind}`);
      await until('the merged version recorded', () => {
        const a = annotationsOf(kube.get('Deployment', 'shop', 'web'));
        return a['image-watcher/git-pending'] === undefined && a['image-watcher/rollout'] === undefined;
      });
      await w.controller.idle();
      t.match(annotationsOf(kube.get('Deployment', 'shop', 'web')), {
        'image-watcher/previous-version': '1.0.0',
        'image-watcher/current-version': '1.0.2',
      });
      t.match(w.notices.at(-1), { event: 'updated', newVersion: '1.0.2' });
      t.match(await gitView(), { branch, pending: false });

      // The next version: the request was merged, so a new one is opened, from the same branch.
      await pushImage(registry.url, `${kind}/web`, ['1.0.3'], buildImage());
      await w.controller.runCycle();
      await w.controller.idle();
      t.equal((await git.log(`pr-${kind}`, branch))[0], 'Update shop/web app 1.0.2 -> 1.0.3');
      t.match(forge.open, [
        { id: 2, head: branch, base: 'main', title: 'Update shop/web app 1.0.2 -> 1.0.3' },
      ]);
      t.equal(forge.requests.filter((r) => r.method === 'POST').length, 2, 'a second request, once');
      t.match(await gitView(), { branch, url: webUrl.replace(/1$/, '2'), pending: true });
      t.match(await w.metricsText(), /image_watcher_git_pushes_total\{result="pushed"\} 3\n/);
      t.notMatch(JSON.stringify(w.notices), new RegExp(TOKEN), 'the token is in no notice');
    },
  );
}

/**
 * One pull-request workload of image `<name>/web` (1.0.0 running, 1.0.1 out) in repository
 * `pr-<name>`, a forge of `kind` over that repository, the watcher; after its first pass
 * request 1 proposes 1.0.1.
 */
async function firstRequest(t: Test, kind: 'github' | 'gitlab', name: string) {
  const img = (tag: string) => `${registry.host}/${name}/web:${tag}`;
  const url = await git.createRepo(`pr-${name}`, { 'apps/web.yaml': manifest(img('1.0.0')) });
  const forge = await startForge(kind, 'org/deploy', TOKEN, { gitDir: git.path(`pr-${name}`) });
  t.teardown(() => forge.close());
  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed(secret);
  kube.seed(deployment('web', img('1.0.0'), gitWriteBack(url, 'git-token', 'pull-request')));
  const w = await startWatcher(t.teardown.bind(t), kube, {
    env: { GIT_INSECURE_HOSTS: '127.0.0.1' },
    io: localForgeIo(kind, () => forge.apiUrl),
  });
  await w.controller.runCycle();
  await w.controller.idle();
  t.match(forge.open, [{ id: 1, head: BRANCH, title: 'Update shop/web app 1.0.0 -> 1.0.1' }]);
  return { img, url, forge, kube, w, repo: `pr-${name}` };
}

const BRANCH = 'image-watcher/shop/web';

/**
 * Someone edits web's line on the base by hand (the running version stays), then 1.0.2 of
 * `<name>/web` is out and the watcher runs a pass: the request branch no longer merges cleanly.
 */
async function pinByHandThenNewVersion(
  first: Awaited<ReturnType<typeof firstRequest>>,
  name: string,
): Promise<void> {
  await git.commitAs(
    first.repo,
    'main',
    { 'apps/web.yaml': manifest(first.img('1.0.0')).replace('# reviewed by people', '# pinned by ops') },
    'Pin web by hand',
  );
  await pushImage(registry.url, `${name}/web`, ['1.0.2'], buildImage());
  await first.w.controller.runCycle();
  await first.w.controller.idle();
}

t.test('the forge refuses the token: failed with the answer, then opened on the next pass', async (t) => {
  const img = (tag: string) => `${registry.host}/refused/web:${tag}`;
  // The forge knows another token first; the Git remote accepts the Secret's.
  let forge = await startForge('github', 'org/deploy', 'a-token-the-secret-does-not-hold');
  t.teardown(() => forge.close());
  const url = await git.createRepo('pr-refused', { 'apps/web.yaml': manifest(img('1.0.0')) });
  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed(secret);
  kube.seed(deployment('web', img('1.0.0'), gitWriteBack(url, 'git-token', 'pull-request')));
  const w = await startWatcher(t.teardown.bind(t), kube, {
    env: { GIT_INSECURE_HOSTS: '127.0.0.1' },
    // Read at each call: the forge is restarted below.
    io: localForgeIo('github', () => forge.apiUrl),
  });
  const branch = 'image-watcher/shop/web';
  await w.controller.runCycle();
  await w.controller.idle();
  t.same(await git.branches('pr-refused'), [branch, 'main'], 'the branch was pushed');
  t.equal(forge.open.length, 0);
  t.match(w.notices, [{ event: 'failed', newVersion: '1.0.1', detail: /answered 401/ }]);
  t.match(w.controller.workloads()[0]?.lastError, /^E_GIT_AUTH: /);
  t.match(await w.metricsText(), /image_watcher_git_pushes_total\{result="failed"\} 1\n/);
  t.equal(
    annotationsOf(kube.get('Deployment', 'shop', 'web'))['image-watcher/git-pending'],
    undefined,
    'the claim is dropped',
  );

  // The forge now takes the token: the next pass finds the branch done and only opens the request.
  await forge.close();
  forge = await startForge('github', 'org/deploy', TOKEN);
  await w.controller.runCycle();
  await w.controller.idle();
  t.same(await git.log('pr-refused', branch), ['Update shop/web app 1.0.0 -> 1.0.1', 'Initial manifests']);
  t.match(forge.open, [{ id: 1, head: branch, title: 'Update shop/web app 1.0.0 -> 1.0.1' }]);
  t.match(w.notices.at(-1), {
    event: 'available',
    detail: 'Proposed in Git for review: https://github.example/org/deploy/pull/1',
  });
  t.match(await w.metricsText(), /image_watcher_git_pushes_total\{result="unchanged"\} 1\n/);
  t.equal(w.controller.workloads()[0]?.lastError, undefined);
});

t.test('squash-merged: the next request holds only the new version and merges cleanly', async (t) => {
  const { img, forge, kube, w } = await firstRequest(t, 'github', 'squash');
  const branch = BRANCH;

  // Squash merge: the same change as one new commit on main; the head branch is kept.
  await git.commitAs('pr-squash', 'main', { 'apps/web.yaml': manifest(img('1.0.1')) }, 'Update web (#1)');
  forge.markMerged();
  await argoSync(kube, 'pr-squash');
  await until('the merged version recorded', () => {
    const a = annotationsOf(kube.get('Deployment', 'shop', 'web'));
    return a['image-watcher/git-pending'] === undefined && a['image-watcher/rollout'] === undefined;
  });
  await w.controller.idle();

  await pushImage(registry.url, 'squash/web', ['1.0.2'], buildImage());
  await w.controller.runCycle();
  await w.controller.idle();
  t.match(forge.open, [{ id: 2, head: branch, base: 'main', title: 'Update shop/web app 1.0.1 -> 1.0.2' }]);
  t.same((await git.log('pr-squash', branch)).slice(0, 3), [
    'Update shop/web app 1.0.1 -> 1.0.2',
    `Merge branch 'main' into ${branch}`,
    'Update shop/web app 1.0.0 -> 1.0.1',
  ]);
  const mergeParents = (await git.log('pr-squash', branch, '%P'))[1]?.split(' ');
  t.equal(mergeParents?.[1], (await git.log('pr-squash', 'main', '%H'))[0], 'the squash merge is merged in');
  const diff = await runGit(git.path('pr-squash'), 'diff', '--unified=0', `main...${branch}`);
  t.same(
    diff.split('\n').filter((l) => /^[-+] /.test(l)),
    [
      `-          image: ${img('1.0.1')} # reviewed by people`,
      `+          image: ${img('1.0.2')} # reviewed by people`,
    ],
    'the request shows only the new version',
  );
  await git.merge('pr-squash', branch, 'main', 'Merge #2');
  t.equal(await git.show('pr-squash', 'main', 'apps/web.yaml'), manifest(img('1.0.2')), 'merged cleanly');
  t.equal(w.controller.workloads()[0]?.lastError, undefined);
});

for (const kind of ['github', 'gitlab'] as const) {
  t.test(
    `${kind}: a crash retry after the request was squash-merged: recorded as merged, no empty request`,
    async (t) => {
      const name = `retry-${kind}`;
      const { img, url, forge, kube, w } = await firstRequest(t, kind, name);
      const branch = BRANCH;
      const pushed = annotationsOf(kube.get('Deployment', 'shop', 'web'))['image-watcher/git-pending']!;

      // Squash-merged and the branch deleted; the record is as a run that crashed right after
      // its push leaves it (the claim, not marked pushed; last-pushed-version never written).
      await git.commitAs(
        `pr-${name}`,
        'main',
        { 'apps/web.yaml': manifest(img('1.0.1')) },
        'Update web (#1)',
      );
      await git.deleteBranch(`pr-${name}`, branch);
      forge.markMerged(1);
      const claim = JSON.parse(pushed) as { git: Record<string, unknown> };
      claim.git = { repo: url, push: 'pull-request', pushed: false };
      const live = structuredClone(kube.get('Deployment', 'shop', 'web')!) as {
        metadata: { annotations: Record<string, string> };
      };
      delete live.metadata.annotations['image-watcher/last-pushed-version'];
      live.metadata.annotations['image-watcher/git-pending'] = JSON.stringify(claim);
      kube.upsert(live);
      const calls = forge.requests.length;
      const notices = w.notices.length;
      await until('the retry recorded', () => {
        const a = annotationsOf(kube.get('Deployment', 'shop', 'web'));
        return a['image-watcher/last-pushed-version'] === '1.0.1';
      });
      await w.controller.idle();
      const a = annotationsOf(kube.get('Deployment', 'shop', 'web'));
      t.match(JSON.parse(a['image-watcher/git-pending'] ?? '{}'), { git: { pushed: true, branch: 'main' } });
      t.equal(forge.requests.length, calls, 'no call to the forge: no empty request');
      t.equal(forge.pulls.length, 1);
      t.same(await git.branches(`pr-${name}`), ['main'], 'nothing pushed');
      t.same(w.notices.slice(notices), [], 'nothing proposed for review');
      t.equal(w.controller.workloads()[0]?.lastError, undefined);
      t.match(await w.metricsText(), /image_watcher_git_pushes_total\{result="unchanged"\} 1\n/);

      // Argo CD syncs the base: recorded as an update.
      await argoSync(kube, `pr-${name}`);
      await until('the merged version recorded', () => {
        const b = annotationsOf(kube.get('Deployment', 'shop', 'web'));
        return b['image-watcher/git-pending'] === undefined && b['image-watcher/rollout'] === undefined;
      });
      await w.controller.idle();
      t.match(annotationsOf(kube.get('Deployment', 'shop', 'web')), {
        'image-watcher/previous-version': '1.0.0',
        'image-watcher/current-version': '1.0.1',
      });
      t.match(w.notices.at(-1), { event: 'updated', newVersion: '1.0.1' });
    },
  );
}

for (const kind of ['github', 'gitlab'] as const) {
  t.test(
    `${kind}: the base edits the same line: a fresh branch and request, the old request closed with a note`,
    async (t) => {
      const first = await firstRequest(t, kind, `conflict-${kind}`);
      const { img, forge, kube, w, repo } = first;
      await pinByHandThenNewVersion(first, `conflict-${kind}`);
      t.same(await git.branches(repo), [BRANCH, `${BRANCH}_2`, 'main']);
      t.match(forge.open, [{ id: 2, head: `${BRANCH}_2`, title: 'Update shop/web app 1.0.0 -> 1.0.2' }]);
      t.equal(forge.open.length, 1, 'the superseded request is closed');
      const newUrl =
        kind === 'github'
          ? 'https://github.example/org/deploy/pull/2'
          : 'https://gitlab.example/org/deploy/-/merge_requests/2';
      t.match(forge.pulls[0], {
        id: 1,
        state: 'closed',
        comments: [new RegExp(`^Superseded by ${newUrl}: `)],
      });
      t.equal(forge.pulls[0]?.comments.length, 1);
      t.match(w.notices.at(-1), {
        event: 'available',
        newVersion: '1.0.2',
        detail: `Proposed in Git for review: ${newUrl}`,
      });
      t.match(await w.metricsText(), /image_watcher_git_superseded_requests_total\{result="closed"\} 1\n/);
      t.match(await w.metricsText(), /image_watcher_git_superseded_requests_total\{result="failed"\} 0\n/);
      t.equal(
        annotationsOf(kube.get('Deployment', 'shop', 'web'))['image-watcher/last-pushed-version'],
        '1.0.2',
      );
      await git.merge(repo, `${BRANCH}_2`, 'main', 'Merge !2');
      t.match(await git.show(repo, 'main', 'apps/web.yaml'), `${img('1.0.2')} # pinned by ops`);
    },
  );
}

for (const kind of ['github', 'gitlab'] as const) {
  t.test(
    `${kind}: the regular branch deleted while its _2 request is open: the next request closes _2, one stays open`,
    async (t) => {
      const first = await firstRequest(t, kind, `deleted-${kind}`);
      const { forge, w, repo } = first;
      await pinByHandThenNewVersion(first, `deleted-${kind}`);
      t.match(forge.open, [{ id: 2, head: `${BRANCH}_2` }]);

      // Someone tidies up the closed request's branch.
      await git.deleteBranch(repo, BRANCH);
      await pushImage(registry.url, `deleted-${kind}/web`, ['1.0.3'], buildImage());
      await w.controller.runCycle();
      await w.controller.idle();
      t.same(await git.branches(repo), [BRANCH, `${BRANCH}_2`, 'main']);
      t.match(forge.open, [{ id: 3, head: BRANCH, title: 'Update shop/web app 1.0.0 -> 1.0.3' }]);
      t.equal(forge.open.length, 1, 'one open request for the workload');
      const newUrl =
        kind === 'github'
          ? 'https://github.example/org/deploy/pull/3'
          : 'https://gitlab.example/org/deploy/-/merge_requests/3';
      t.match(forge.pulls[1], {
        id: 2,
        state: 'closed',
        comments: [
          new RegExp(
            `^Superseded by ${newUrl}: image-watcher now proposes this workload's updates from ${BRANCH},`,
          ),
        ],
      });
      t.match(await w.metricsText(), /image_watcher_git_superseded_requests_total\{result="closed"\} 2\n/);

      // The next version updates request 3 and closes nothing more.
      await pushImage(registry.url, `deleted-${kind}/web`, ['1.0.4'], buildImage());
      await w.controller.runCycle();
      await w.controller.idle();
      t.match(forge.open, [{ id: 3, head: BRANCH, title: 'Update shop/web app 1.0.0 -> 1.0.4' }]);
      t.equal(forge.pulls.length, 3);
      t.equal(forge.pulls[1]?.comments.length, 1, 'no second note');
    },
  );
}
