// The Git write-back against a real remote: bare repositories behind `git http-backend`
// (test/support/git-server.ts), anonymous and with basic auth, pushed to by the git CLI client.
import t from 'tap';
import pino from 'pino';
import { ImageWatcherError } from '../../../shared/errors.ts';
import { imageWithTag } from '../../../shared/image-ref.ts';
import type { GitClient, GitWorkspace } from '../../../watcher/gitops/git.ts';
import { GitCli } from '../../../watcher/gitops/git.ts';
import type { EditFiles, GitPushResult, WriteBackRequest } from '../../../watcher/gitops/writeback.ts';
import { GitWriteBack, commitMessage } from '../../../watcher/gitops/writeback.ts';
import { git, startGitServer } from '../../support/git-server.ts';

/**
 * A stand-in for the file editors (watcher/gitops/edit), for the Git side only: the line
 * `image: <as running>` must be there exactly once, and becomes the new image.
 */
const lineEdit: EditFiles = (files, req) => {
  const needle = `image: ${req.image.original}\n`;
  const hits = [...files].filter(([, text]) => text.includes(needle));
  const count = hits.reduce((n, [, text]) => n + text.split(needle).length - 1, 0);
  if (count === 0)
    throw new ImageWatcherError('E_EDIT_NOT_FOUND', `${req.image.original} is not in the files`);
  if (count > 1)
    throw new ImageWatcherError('E_EDIT_AMBIGUOUS', `${req.image.original} is there ${count} times`);
  const [file, text] = hits[0]!;
  return {
    file,
    text: text.replace(needle, `image: ${imageWithTag(req.image, req.to.tag, req.to.digest)}\n`),
  };
};

const manifest = (name: string, image: string) =>
  `# ${name}: synced by Argo CD\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: ${image}\n`;

function request(
  name: string,
  from: string,
  to: string,
  over: Partial<WriteBackRequest['target']> = {},
): WriteBackRequest {
  return {
    kind: 'update',
    workload: { kind: 'Deployment', namespace: 'shop', name },
    target: { repo: '', branch: undefined, path: 'apps', push: 'direct', secret: undefined, ...over },
    changes: [
      {
        container: 'app',
        image: `registry.local/shop/${name}:${from}`,
        currentVersion: from,
        newVersion: to,
        change: 'minor',
        releaseNotesUrl: `https://example.com/${name}/releases/${to}`,
      },
    ],
  };
}

function writer(
  client: GitClient,
  over: { commitPerWorkload?: boolean; creds?: Record<string, string> } = {},
) {
  const pushes: GitPushResult[] = [];
  const wb = new GitWriteBack({
    git: client,
    edit: lineEdit,
    credentials: (_ns, name) => Promise.resolve(name === 'git-creds' ? over.creds : undefined),
    identity: { name: 'Image Watcher Bot', email: 'bot@example.com' },
    commitPerWorkload: over.commitPerWorkload ?? false,
    metrics: { observeGitPush: (r) => pushes.push(r), observeSupersededRequest: () => undefined },
    logger: pino({ level: 'silent' }),
    windowMs: 20,
  });
  return { wb, pushes };
}

const cli = new GitCli({ insecureHosts: ['127.0.0.1'], timeoutMs: 30_000 });

t.test('an update becomes one commit on the branch, written as by hand', async (t) => {
  const srv = await startGitServer();
  t.teardown(() => srv.close());
  const repo = await srv.createRepo('deploy', {
    'apps/web.yaml': manifest('web', 'registry.local/shop/web:1.2.0'),
    'apps/api.yaml': manifest('api', 'registry.local/shop/api:2.0.0'),
  });
  const { wb, pushes } = writer(cli);
  const r = await wb.submit(request('web', '1.2.0', '1.3.0', { repo }));
  t.equal(r.result, 'pushed');
  t.equal(r.result === 'pushed' && r.branch, 'main');
  const text = await srv.show('deploy', 'main', 'apps/web.yaml');
  t.equal(text, manifest('web', 'registry.local/shop/web:1.3.0'), 'only the version changed, comment kept');
  t.equal(
    await srv.show('deploy', 'main', 'apps/api.yaml'),
    manifest('api', 'registry.local/shop/api:2.0.0'),
  );
  const [subject] = await srv.log('deploy', 'main');
  t.equal(subject, 'Update shop/web app 1.2.0 -> 1.3.0');
  const [body] = await srv.log('deploy', 'main', '%b');
  t.match(body, /Deployment shop\/web, container app:/);
  t.match(body, /registry\.local\/shop\/web: 1\.2\.0 -> 1\.3\.0 \(minor\)/);
  t.match(body, /Release notes: https:\/\/example\.com\/web\/releases\/1\.3\.0/);
  const [author] = await srv.log('deploy', 'main', '%an <%ae> / %cn <%ce>');
  t.equal(author, 'Image Watcher Bot <bot@example.com> / Image Watcher Bot <bot@example.com>');
  t.same(pushes, ['pushed']);
  t.equal(r.result === 'pushed' && r.commit, (await srv.log('deploy', 'main', '%H'))[0]);

  // The same request again (a retry after a crash): Git already holds it, nothing is pushed.
  const again = await wb.submit(request('web', '1.2.0', '1.3.0', { repo }));
  t.equal(again.result, 'failed', 'the running image is no longer in the file');
  const same = await wb.submit(request('web', '1.3.0', '1.3.0', { repo }));
  t.equal(same.result, 'unchanged');
  t.equal((await srv.log('deploy', 'main')).length, 2, 'no second commit');
});

t.test('updates of two workloads due together share one commit; per workload on request', async (t) => {
  const srv = await startGitServer();
  t.teardown(() => srv.close());
  const files = {
    'apps/web.yaml': manifest('web', 'registry.local/shop/web:1.2.0'),
    'apps/api.yaml': manifest('api', 'registry.local/shop/api:2.0.0'),
  };
  const repo = await srv.createRepo('deploy', files);
  const { wb } = writer(cli);
  const [a, b] = await Promise.all([
    wb.submit(request('web', '1.2.0', '1.3.0', { repo })),
    wb.submit(request('api', '2.0.0', '2.1.0', { repo })),
  ]);
  t.equal(a.result, 'pushed');
  t.equal(b.result, 'pushed');
  t.equal(a.result === 'pushed' && b.result === 'pushed' && a.commit === b.commit, true, 'the same commit');
  t.same(await srv.log('deploy', 'main'), ['Update images of 2 workloads', 'Initial manifests']);

  const repo2 = await srv.createRepo('deploy2', files);
  const per = writer(cli, { commitPerWorkload: true }).wb;
  await Promise.all([
    per.submit(request('web', '1.2.0', '1.3.0', { repo: repo2 })),
    per.submit(request('api', '2.0.0', '2.1.0', { repo: repo2 })),
  ]);
  const subjects = await srv.log('deploy2', 'main');
  t.equal(subjects.length, 3, 'one commit each');
  t.ok(
    subjects.includes('Update shop/web app 1.2.0 -> 1.3.0') &&
      subjects.includes('Update shop/api app 2.0.0 -> 2.1.0'),
  );
});

t.test('a push between our fetch and our push: fetched again, reapplied, never forced', async (t) => {
  const srv = await startGitServer();
  t.teardown(() => srv.close());
  const repo = await srv.createRepo('deploy', {
    'apps/web.yaml': manifest('web', 'registry.local/shop/web:1.2.0'),
  });
  let raced = 0;
  // The real client; before its first push a person pushes another commit to main.
  const racing: GitClient = {
    probe: () => cli.probe(),
    async open(o) {
      const ws = await cli.open(o);
      const push = ws.push.bind(ws);
      const wrapped: GitWorkspace = Object.assign(Object.create(ws) as GitWorkspace, {
        async push(branch: string) {
          if (raced++ === 0)
            await srv.commitAs('deploy', 'main', { 'README.md': 'by hand\n' }, 'Docs by a person');
          return push(branch);
        },
      });
      return wrapped;
    },
  };
  const { wb, pushes } = writer(racing);
  const r = await wb.submit(request('web', '1.2.0', '1.3.0', { repo }));
  t.equal(r.result, 'pushed');
  t.same(pushes, ['rejected', 'pushed'], 'refused once as non-fast-forward, then pushed');
  t.same(await srv.log('deploy', 'main'), [
    'Update shop/web app 1.2.0 -> 1.3.0',
    'Docs by a person',
    'Initial manifests',
  ]);
  t.equal(await srv.show('deploy', 'main', 'README.md'), 'by hand\n', "the person's commit is kept");
});

t.test('a remote that keeps moving fails after the bounded attempts', async (t) => {
  const srv = await startGitServer();
  t.teardown(() => srv.close());
  const repo = await srv.createRepo('deploy', {
    'apps/web.yaml': manifest('web', 'registry.local/shop/web:1.2.0'),
  });
  let n = 0;
  const racing: GitClient = {
    probe: () => cli.probe(),
    async open(o) {
      const ws = await cli.open(o);
      const push = ws.push.bind(ws);
      return Object.assign(Object.create(ws) as GitWorkspace, {
        async push(branch: string) {
          await srv.commitAs('deploy', 'main', { 'README.md': `edit ${++n}\n` }, `Edit ${n}`);
          return push(branch);
        },
      });
    },
  };
  const wb = new GitWriteBack({
    git: racing,
    edit: lineEdit,
    credentials: () => Promise.resolve(undefined),
    identity: { name: 'b', email: 'b@example.com' },
    commitPerWorkload: false,
    logger: pino({ level: 'silent' }),
    windowMs: 0,
    maxAttempts: 2,
  });
  const r = await wb.submit(request('web', '1.2.0', '1.3.0', { repo }));
  t.equal(r.result, 'failed');
  t.equal(r.result === 'failed' && r.code, 'E_GIT_REJECTED');
  t.notOk(
    (await srv.log('deploy', 'main')).some((s) => s.startsWith('Update')),
    'nothing of ours landed',
  );
});

t.test('basic auth: the Secret is used, a wrong one is refused without showing it', async (t) => {
  const srv = await startGitServer({ auth: { username: 'bot', password: 's3cret-pass-word' } });
  t.teardown(() => srv.close());
  const repo = await srv.createRepo('deploy', {
    'apps/web.yaml': manifest('web', 'registry.local/shop/web:1.2.0'),
  });
  const good = writer(cli, { creds: { username: 'bot', password: 's3cret-pass-word' } }).wb;
  const ok = await good.submit(request('web', '1.2.0', '1.3.0', { repo, secret: 'git-creds' }));
  t.equal(ok.result, 'pushed');
  t.ok(
    srv.requests.some((r) => r.user === 'bot' && r.path.endsWith('git-receive-pack')),
    'pushed as bot',
  );

  const bad = writer(cli, { creds: { username: 'bot', password: 'wrong-password-123' } }).wb;
  const no = await bad.submit(request('web', '1.3.0', '1.4.0', { repo, secret: 'git-creds' }));
  t.equal(no.result, 'failed');
  t.equal(no.result === 'failed' && no.code, 'E_GIT_AUTH');
  t.notMatch(no.result === 'failed' ? no.reason : '', /wrong-password|s3cret/);

  const none = await good.submit(request('web', '1.3.0', '1.4.0', { repo, secret: 'missing' }));
  t.equal(none.result === 'failed' && none.code, 'E_GIT_CREDENTIALS');
  t.match(none.result === 'failed' ? none.reason : '', /shop\/missing/);
  const anon = await good.submit(request('web', '1.3.0', '1.4.0', { repo }));
  t.equal(anon.result === 'failed' && anon.code, 'E_GIT_AUTH', 'no credentials: refused by the server');
});

t.test(
  'a file where the image is absent or twice is refused with the reason; others still land',
  async (t) => {
    const srv = await startGitServer();
    t.teardown(() => srv.close());
    const repo = await srv.createRepo('deploy', {
      'apps/web.yaml': manifest('web', 'registry.local/shop/web:1.2.0'),
      'apps/twice.yaml':
        manifest('a', 'registry.local/shop/twice:1.0.0') +
        '---\n' +
        manifest('b', 'registry.local/shop/twice:1.0.0'),
    });
    const { wb, pushes } = writer(cli);
    const [absent, twice, fine] = await Promise.all([
      wb.submit(request('gone', '1.0.0', '1.1.0', { repo })),
      wb.submit(request('twice', '1.0.0', '1.1.0', { repo })),
      wb.submit(request('web', '1.2.0', '1.3.0', { repo })),
    ]);
    t.equal(absent.result === 'failed' && absent.code, 'E_EDIT_NOT_FOUND');
    t.equal(twice.result === 'failed' && twice.code, 'E_EDIT_AMBIGUOUS');
    t.match(twice.result === 'failed' ? twice.reason : '', /2 times/);
    t.equal(fine.result, 'pushed');
    t.same(await srv.log('deploy', 'main'), ['Update shop/web app 1.2.0 -> 1.3.0', 'Initial manifests']);
    t.same(pushes.filter((p) => p === 'refused').length, 2);

    const noPath = await wb.submit(request('web', '1.3.0', '1.4.0', { repo, path: 'nowhere' }));
    t.equal(noPath.result === 'failed' && noPath.code, 'E_GIT_NOT_FOUND');
  },
);

t.test('git-push branch: a branch per update, the base branch untouched', async (t) => {
  const srv = await startGitServer();
  t.teardown(() => srv.close());
  const repo = await srv.createRepo('deploy', {
    'apps/web.yaml': manifest('web', 'registry.local/shop/web:1.2.0'),
  });
  const { wb } = writer(cli);
  const r = await wb.submit(request('web', '1.2.0', '1.3.0', { repo, push: 'branch' }));
  const branch = r.result === 'pushed' ? r.branch : '';
  t.match(branch, /^image-watcher\/shop\/web-1\.3\.0_[0-9a-f]{16}$/, 'readable, with a hash of the update');
  t.same((await srv.branches('deploy')).sort(), [branch, 'main']);
  t.same(await srv.log('deploy', 'main'), ['Initial manifests']);
  t.match(await srv.show('deploy', branch, 'apps/web.yaml'), /web:1\.3\.0/);
});

t.test('a revert commit puts the old version back', async (t) => {
  const srv = await startGitServer();
  t.teardown(() => srv.close());
  const repo = await srv.createRepo('deploy', {
    'apps/web.yaml': manifest('web', 'registry.local/shop/web:1.3.0'),
  });
  const { wb } = writer(cli);
  const r = await wb.submit({
    ...request('web', '1.3.0', '1.2.0', { repo }),
    kind: 'revert',
    reason: 'progress deadline exceeded',
  });
  t.equal(r.result, 'pushed');
  t.equal(
    await srv.show('deploy', 'main', 'apps/web.yaml'),
    manifest('web', 'registry.local/shop/web:1.2.0'),
  );
  const [subject] = await srv.log('deploy', 'main');
  t.equal(subject, 'Revert shop/web app 1.3.0 -> 1.2.0');
  t.match((await srv.log('deploy', 'main', '%b'))[0], /rollout failed \(progress deadline exceeded\)/);
});

t.test('plain http and private addresses need GIT_INSECURE_HOSTS', async (t) => {
  const srv = await startGitServer();
  t.teardown(() => srv.close());
  const repo = await srv.createRepo('deploy', {
    'apps/web.yaml': manifest('web', 'registry.local/shop/web:1.2.0'),
  });
  const strict = writer(new GitCli()).wb;
  const r = await strict.submit(request('web', '1.2.0', '1.3.0', { repo }));
  t.equal(r.result === 'failed' && r.code, 'E_GIT_BLOCKED');
  t.match(r.result === 'failed' ? r.reason : '', /GIT_INSECURE_HOSTS/);
  const https = await strict.submit(
    request('web', '1.2.0', '1.3.0', { repo: repo.replace('http:', 'https:') }),
  );
  t.equal(https.result === 'failed' && https.code, 'E_GIT_BLOCKED', 'loopback is refused');
  t.match(https.result === 'failed' ? https.reason : '', /loopback/);
});

t.test('the commit message names every change', (t) => {
  const msg = commitMessage([request('web', '1.2.0', '1.3.0'), request('api', '2.0.0', '2.1.0')]);
  t.match(msg, /^Update images of 2 workloads\n\n/);
  t.match(msg, /shop\/web, container app:\n {2}registry\.local\/shop\/web: 1\.2\.0 -> 1\.3\.0 \(minor\)/);
  t.match(msg, /shop\/api, container app:/);
  t.end();
});

t.test('a request branch moved on during the push: the base is merged in again and it lands', async (t) => {
  const srv = await startGitServer();
  t.teardown(() => srv.close());
  const repo = await srv.createRepo('deploy', {
    'apps/web.yaml': manifest('web', 'registry.local/shop/web:1.2.0'),
  });
  const branch = 'image-watcher/shop/web';
  const { wb } = writer(cli);
  const pr = { repo, push: 'pull-request' as const };
  t.match(await wb.submit(request('web', '1.2.0', '1.3.0', pr)), { result: 'pushed', branch });
  let raced = false;
  const racing: GitClient = {
    probe: () => cli.probe(),
    async open(o) {
      const ws = await cli.open(o);
      const push = ws.push.bind(ws);
      return Object.assign(Object.create(ws) as GitWorkspace, {
        async push(b: string) {
          if (!raced) {
            raced = true;
            // A reviewer's commit on the request branch, and the base moving on.
            await srv.commitAs('deploy', branch, { 'NOTES.md': 'reviewed\n' }, 'Review note');
            await srv.commitAs('deploy', 'main', { 'README.md': 'base\n' }, 'Base edit');
          }
          return push(b);
        },
      });
    },
  };
  const { wb: again, pushes } = writer(racing);
  t.match(await again.submit(request('web', '1.3.0', '1.4.0', pr)), { result: 'pushed', branch });
  t.same(pushes, ['rejected', 'pushed']);
  t.same((await srv.log('deploy', branch)).slice(0, 3), [
    'Update shop/web app 1.3.0 -> 1.4.0',
    `Merge branch 'main' into ${branch}`,
    'Review note',
  ]);
  t.equal(await srv.show('deploy', branch, 'NOTES.md'), 'reviewed\n', "the reviewer's commit is kept");
  t.equal(await srv.show('deploy', branch, 'README.md'), 'base\n', 'the base is merged in');
});

t.test('every request branch conflicts with the base: E_GIT_CONFLICT, bounded', async (t) => {
  const srv = await startGitServer();
  t.teardown(() => srv.close());
  const repo = await srv.createRepo('deploy', {
    'apps/web.yaml': manifest('web', 'registry.local/shop/web:1.2.0'),
  });
  // The git side of a conflict is tested for real in pull-request.test.ts; here, the bound.
  const tried: string[] = [];
  const conflicting: GitClient = {
    probe: () => cli.probe(),
    async open(o) {
      const ws = await cli.open(o);
      return Object.assign(Object.create(ws) as GitWorkspace, {
        switchTo(b: string) {
          tried.push(b);
          return Promise.resolve('conflict' as const);
        },
      });
    },
  };
  const { wb, pushes } = writer(conflicting);
  const r = await wb.submit(request('web', '1.2.0', '1.3.0', { repo, push: 'pull-request' }));
  t.match(r, { result: 'failed', code: 'E_GIT_CONFLICT', reason: /image-watcher\/shop\/web/ });
  t.equal(tried.length, 10);
  t.same(tried.slice(0, 3), [
    'image-watcher/shop/web',
    'image-watcher/shop/web_2',
    'image-watcher/shop/web_3',
  ]);
  t.same(pushes, ['failed']);
  t.same(await srv.branches('deploy'), ['main'], 'nothing pushed');
});

t.test(
  'an old-style branch named like the namespace blocks the request branch: said plainly, no retries',
  async (t) => {
    const srv = await startGitServer();
    t.teardown(() => srv.close());
    const repo = await srv.createRepo('deploy', {
      'apps/web.yaml': manifest('web', 'registry.local/shop/web:1.2.0'),
    });
    // image-watcher/shop: what the previous watcher could name a branch (it exists on the remote).
    await git(srv.path('deploy'), 'branch', 'image-watcher/shop', 'main');
    const { wb, pushes } = writer(cli);
    const r = await wb.submit(request('web', '1.2.0', '1.3.0', { repo, push: 'pull-request' }));
    t.match(r, {
      result: 'failed',
      code: 'E_GIT_REJECTED',
      reason: /has a branch image-watcher\/shop, so git cannot create image-watcher\/shop\/web beside it/,
    });
    t.same(pushes, ['rejected', 'failed'], 'one push, not a loop of retries');
    t.same(await srv.branches('deploy'), ['image-watcher/shop', 'main']);
  },
);
