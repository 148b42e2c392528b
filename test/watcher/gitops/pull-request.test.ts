// `git-push: pull-request`: the branch is pushed to a real Git remote (git http-backend) and the
// request opened, then updated for a newer version, on local servers shaped as GitHub's and
// GitLab's REST APIs (test/support/forge.ts).
import t from 'tap';
import pino from 'pino';
import { editFiles } from '../../../watcher/gitops/edit/index.ts';
import { GitCli } from '../../../watcher/gitops/git.ts';
import { RestPullRequests, providerOf } from '../../../watcher/gitops/pull-request.ts';
import type { WriteBackRequest } from '../../../watcher/gitops/writeback.ts';
import { GitWriteBack } from '../../../watcher/gitops/writeback.ts';
import { startForge } from '../../support/forge.ts';
import { git, startGitServer } from '../../support/git-server.ts';

const TOKEN = 'ghp_test_token_0123456789';
const manifest = (tag: string) =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: registry.local/shop/web:${tag}\n`;

function request(repo: string, from: string, to: string): WriteBackRequest {
  return {
    kind: 'update',
    workload: { kind: 'Deployment', namespace: 'shop', name: 'web' },
    target: { repo, branch: undefined, path: '.', push: 'pull-request', secret: 'git-token' },
    changes: [
      {
        container: 'app',
        image: `registry.local/shop/web:${from}`,
        currentVersion: from,
        newVersion: to,
        change: 'minor',
      },
    ],
  };
}

for (const kind of ['github', 'gitlab'] as const) {
  t.test(`${kind}: a request is opened once, then updated for a newer version`, async (t) => {
    const srv = await startGitServer();
    t.teardown(() => srv.close());
    const forge = await startForge(kind, 'org/deploy', TOKEN);
    t.teardown(() => forge.close());
    const repo = await srv.createRepo('deploy', { 'web.yaml': manifest('1.0.0') });
    const wb = new GitWriteBack({
      git: new GitCli({ insecureHosts: ['127.0.0.1'], timeoutMs: 30_000 }),
      edit: editFiles,
      credentials: () => Promise.resolve({ token: TOKEN }),
      identity: { name: 'Image Watcher', email: 'iw@example.com' },
      commitPerWorkload: false,
      pullRequests: new RestPullRequests({
        provider: () => ({ kind, apiUrl: forge.apiUrl, path: 'org/deploy', host: '127.0.0.1' }),
        trustedHosts: ['127.0.0.1'],
      }),
      logger: pino({ level: 'silent' }),
      windowMs: 0,
    });
    const first = await wb.submit(request(repo, '1.0.0', '1.1.0'));
    t.match(first, {
      result: 'pushed',
      branch: 'image-watcher/shop-web',
      url: /\/(pull|merge_requests)\/1$/,
    });
    t.same(await srv.log('deploy', 'main'), ['Initial manifests'], 'the base branch is untouched');
    t.equal(forge.open.length, 1);
    t.match(forge.open[0], {
      head: 'image-watcher/shop-web',
      base: 'main',
      title: 'Update shop/web app 1.0.0 -> 1.1.0',
    });
    t.match(forge.open[0]?.body, /\(minor\)/);

    // Not merged yet; a newer version comes: the same branch gets a commit, the request is updated.
    const second = await wb.submit(request(repo, '1.0.0', '1.2.0'));
    t.match(second, {
      result: 'pushed',
      branch: 'image-watcher/shop-web',
      url: first.result === 'pushed' ? first.url : '',
    });
    t.equal(forge.open.length, 1, 'no second request');
    t.equal(forge.open[0]?.title, 'Update shop/web app 1.0.0 -> 1.2.0');
    t.equal(await srv.show('deploy', 'image-watcher/shop-web', 'web.yaml'), manifest('1.2.0'));
    t.same(await srv.log('deploy', 'image-watcher/shop-web'), [
      'Update shop/web app 1.0.0 -> 1.2.0',
      'Update shop/web app 1.0.0 -> 1.1.0',
      'Initial manifests',
    ]);
    const methods = forge.requests.map((r) => r.method);
    t.same(methods, kind === 'github' ? ['GET', 'POST', 'GET', 'PATCH'] : ['GET', 'POST', 'GET', 'PUT']);
    if (kind === 'github') {
      t.equal(forge.requests[0]?.query.head, 'org:image-watcher/shop-web');
      t.equal(forge.requests[0]?.headers['x-github-api-version'], '2022-11-28');
    } else {
      t.equal(forge.requests[0]?.query.source_branch, 'image-watcher/shop-web');
    }
  });
}

t.test('a wrong token: the push lands, the request fails with the answer', async (t) => {
  const srv = await startGitServer();
  t.teardown(() => srv.close());
  const forge = await startForge('github', 'org/deploy', 'another-token-xyz');
  t.teardown(() => forge.close());
  const repo = await srv.createRepo('deploy', { 'web.yaml': manifest('1.0.0') });
  const wb = new GitWriteBack({
    git: new GitCli({ insecureHosts: ['127.0.0.1'] }),
    edit: editFiles,
    credentials: () => Promise.resolve({ token: TOKEN }),
    identity: { name: 'Image Watcher', email: 'iw@example.com' },
    commitPerWorkload: false,
    pullRequests: new RestPullRequests({
      provider: () => ({ kind: 'github', apiUrl: forge.apiUrl, path: 'org/deploy', host: '127.0.0.1' }),
      trustedHosts: ['127.0.0.1'],
    }),
    logger: pino({ level: 'silent' }),
    windowMs: 0,
  });
  const r = await wb.submit(request(repo, '1.0.0', '1.1.0'));
  t.match(r, { result: 'failed', code: 'E_GIT_AUTH', reason: /answered 401/ });
  t.notMatch(r.result === 'failed' ? r.reason : '', new RegExp(TOKEN));
  t.same(await srv.branches('deploy'), ['image-watcher/shop-web', 'main'], 'the branch was pushed');
  t.equal(forge.open.length, 0);
});

t.test('squash-merged and its branch deleted: the next request starts from the base', async (t) => {
  const srv = await startGitServer();
  t.teardown(() => srv.close());
  const forge = await startForge('github', 'org/deploy', TOKEN);
  t.teardown(() => forge.close());
  const repo = await srv.createRepo('deploy', { 'web.yaml': manifest('1.0.0') });
  const wb = new GitWriteBack({
    git: new GitCli({ insecureHosts: ['127.0.0.1'], timeoutMs: 30_000 }),
    edit: editFiles,
    credentials: () => Promise.resolve({ token: TOKEN }),
    identity: { name: 'Image Watcher', email: 'iw@example.com' },
    commitPerWorkload: false,
    pullRequests: new RestPullRequests({
      provider: () => ({ kind: 'github', apiUrl: forge.apiUrl, path: 'org/deploy', host: '127.0.0.1' }),
      trustedHosts: ['127.0.0.1'],
    }),
    logger: pino({ level: 'silent' }),
    windowMs: 0,
  });
  t.match(await wb.submit(request(repo, '1.0.0', '1.1.0')), { result: 'pushed' });
  // Squash merge: one new commit on main with the same change; the forge deletes the head branch.
  await srv.commitAs('deploy', 'main', { 'web.yaml': manifest('1.1.0') }, 'Update shop/web (#1)');
  await srv.deleteBranch('deploy', 'image-watcher/shop-web');
  forge.open.splice(0);
  t.match(await wb.submit(request(repo, '1.1.0', '1.2.0')), {
    result: 'pushed',
    url: /\/pull\/2$/,
  });
  t.same(await srv.log('deploy', 'image-watcher/shop-web'), [
    'Update shop/web app 1.1.0 -> 1.2.0',
    'Update shop/web (#1)',
    'Initial manifests',
  ]);
  await srv.merge('deploy', 'image-watcher/shop-web', 'main', 'Merge #2');
  t.equal(await srv.show('deploy', 'main', 'web.yaml'), manifest('1.2.0'), 'merged without a conflict');
});

function prWriteBack(forgeApi: string): GitWriteBack {
  return new GitWriteBack({
    git: new GitCli({ insecureHosts: ['127.0.0.1'], timeoutMs: 30_000 }),
    edit: editFiles,
    credentials: () => Promise.resolve({ token: TOKEN }),
    identity: { name: 'Image Watcher', email: 'iw@example.com' },
    commitPerWorkload: false,
    pullRequests: new RestPullRequests({
      provider: () => ({ kind: 'github', apiUrl: forgeApi, path: 'org/deploy', host: '127.0.0.1' }),
      trustedHosts: ['127.0.0.1'],
    }),
    logger: pino({ level: 'silent' }),
    windowMs: 0,
  });
}

/** What the request shows: the diff of the branch against its fork point from the base. */
async function requestDiff(bare: string, branch: string): Promise<string[]> {
  const out = await git(bare, 'diff', '--unified=0', `main...${branch}`);
  return out.split('\n').filter((l) => /^[-+] /.test(l));
}

t.test(
  'squash-merged, the branch kept: the base is merged in, the next diff is the new version only',
  async (t) => {
    const srv = await startGitServer();
    t.teardown(() => srv.close());
    const forge = await startForge('github', 'org/deploy', TOKEN);
    t.teardown(() => forge.close());
    const repo = await srv.createRepo('deploy', { 'web.yaml': manifest('1.0.0') });
    const wb = prWriteBack(forge.apiUrl);
    t.match(await wb.submit(request(repo, '1.0.0', '1.1.0')), { result: 'pushed' });
    // More commits on the base than the first deepening step fetches, then the squash merge.
    for (let i = 0; i < 20; i++) {
      await srv.commitAs('deploy', 'main', { [`other/${i}.yaml`]: `n: ${i}\n` }, `Other change ${i}`);
    }
    await srv.commitAs('deploy', 'main', { 'web.yaml': manifest('1.1.0') }, 'Update shop/web (#1)');
    forge.open.splice(0);
    t.match(await wb.submit(request(repo, '1.1.0', '1.2.0')), {
      result: 'pushed',
      branch: 'image-watcher/shop-web',
      url: /\/pull\/2$/,
    });
    t.same((await srv.log('deploy', 'image-watcher/shop-web')).slice(0, 3), [
      'Update shop/web app 1.1.0 -> 1.2.0',
      "Merge branch 'main' into image-watcher/shop-web",
      'Update shop/web app 1.0.0 -> 1.1.0',
    ]);
    const mergeParents = (await srv.log('deploy', 'image-watcher/shop-web', '%P'))[1]?.split(' ');
    t.equal(mergeParents?.[1], (await srv.log('deploy', 'main', '%H'))[0], 'the squash merge is merged in');
    t.same(await requestDiff(srv.path('deploy'), 'image-watcher/shop-web'), [
      '-          image: registry.local/shop/web:1.1.0',
      '+          image: registry.local/shop/web:1.2.0',
    ]);
    t.same(await srv.branches('deploy'), ['image-watcher/shop-web', 'main'], 'no other branch');
    // Only fast-forwards were pushed: the old tip is an ancestor of the new one.
    await srv.merge('deploy', 'image-watcher/shop-web', 'main', 'Merge #2');
    t.equal(await srv.show('deploy', 'main', 'web.yaml'), manifest('1.2.0'), 'merged without a conflict');
    t.equal(await srv.show('deploy', 'main', 'other/19.yaml'), 'n: 19\n');
  },
);

t.test('the base edited the same line: a fresh branch off the base and a new request', async (t) => {
  const srv = await startGitServer();
  t.teardown(() => srv.close());
  const forge = await startForge('github', 'org/deploy', TOKEN);
  t.teardown(() => forge.close());
  const repo = await srv.createRepo('deploy', { 'web.yaml': manifest('1.0.0') });
  const wb = prWriteBack(forge.apiUrl);
  t.match(await wb.submit(request(repo, '1.0.0', '1.1.0')), { result: 'pushed', url: /\/pull\/1$/ });
  const oldTip = await git(srv.path('deploy'), 'rev-parse', 'image-watcher/shop-web');
  // Someone pins a hotfix on the base by hand; the running image follows it.
  await srv.commitAs('deploy', 'main', { 'web.yaml': manifest('1.0.1') }, 'Hotfix web 1.0.1');
  const r = await wb.submit(request(repo, '1.0.1', '1.2.0'));
  t.match(r, { result: 'pushed', branch: 'image-watcher/shop-web-2', url: /\/pull\/2$/ });
  t.same(
    forge.open.map((p) => p.head),
    ['image-watcher/shop-web', 'image-watcher/shop-web-2'],
  );
  t.equal(
    await git(srv.path('deploy'), 'rev-parse', 'image-watcher/shop-web'),
    oldTip,
    'the conflicting branch is left as it was',
  );
  t.same(await srv.log('deploy', 'image-watcher/shop-web-2'), [
    'Update shop/web app 1.0.1 -> 1.2.0',
    'Hotfix web 1.0.1',
    'Initial manifests',
  ]);
  t.same(await requestDiff(srv.path('deploy'), 'image-watcher/shop-web-2'), [
    '-          image: registry.local/shop/web:1.0.1',
    '+          image: registry.local/shop/web:1.2.0',
  ]);
  // The next version goes to the branch that merges, not back to the conflicting one.
  t.match(await wb.submit(request(repo, '1.0.1', '1.3.0')), {
    result: 'pushed',
    branch: 'image-watcher/shop-web-2',
    url: /\/pull\/2$/,
  });
  await srv.merge('deploy', 'image-watcher/shop-web-2', 'main', 'Merge #2');
  t.equal(await srv.show('deploy', 'main', 'web.yaml'), manifest('1.3.0'));
});

t.test('providers from the remote URL', (t) => {
  t.match(providerOf('https://github.com/org/deploy.git'), {
    kind: 'github',
    apiUrl: 'https://api.github.com',
    path: 'org/deploy',
  });
  t.match(providerOf('git@github.com:org/deploy.git'), { kind: 'github', path: 'org/deploy' });
  t.match(providerOf('https://gitlab.com/group/sub/deploy.git'), {
    kind: 'gitlab',
    apiUrl: 'https://gitlab.com/api/v4',
    path: 'group/sub/deploy',
  });
  t.equal(providerOf('https://git.example.com/org/deploy.git'), undefined, 'other hosts: no pull requests');
  t.end();
});
