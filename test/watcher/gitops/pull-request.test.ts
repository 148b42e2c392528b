// `git-push: pull-request`: the branch is pushed to a real Git remote (git http-backend) and the
// request opened, then updated for a newer version, on local servers shaped as GitHub's and
// GitLab's REST APIs (test/support/forge.ts).
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import pino from 'pino';
import type { SupersededResult } from '../../../watcher/metrics.ts';
import { editFiles } from '../../../watcher/gitops/edit/index.ts';
import { GitCli } from '../../../watcher/gitops/git.ts';
import { RestPullRequests, providerOf } from '../../../watcher/gitops/pull-request.ts';
import type { WriteBackRequest } from '../../../watcher/gitops/writeback.ts';
import { GitWriteBack, supersededBy } from '../../../watcher/gitops/writeback.ts';
import { startForge } from '../../support/forge.ts';
import type { FakeForge, ForgeOptions } from '../../support/forge.ts';
import { git, startGitServer } from '../../support/git-server.ts';
import type { GitServer } from '../../support/git-server.ts';

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

const KINDS = ['github', 'gitlab'] as const;
type Kind = (typeof KINDS)[number];
/** Per shape: the project path, how a request's link ends, the update method. */
const SHAPE = {
  github: { project: 'org/deploy', link: (n: number) => new RegExp(`/pull/${n}$`), update: 'PATCH' },
  gitlab: {
    project: 'group/sub/deploy',
    link: (n: number) => new RegExp(`/-/merge_requests/${n}$`),
    update: 'PUT',
  },
} as const;

interface Setup {
  srv: GitServer;
  forge: FakeForge;
  repo: string;
  wb: GitWriteBack;
  superseded: SupersededResult[];
}

/** A real remote with web.yaml at 1.0.0, a forge of that shape over it, and the write-back. */
async function setup(
  t: Test,
  kind: Kind,
  opts: {
    forgeToken?: string;
    refuse?: (r: { method: string; path: string }) => boolean;
    proxy?: ForgeOptions['proxy'];
  } = {},
): Promise<Setup> {
  const srv = await startGitServer();
  t.teardown(() => srv.close());
  const repo = await srv.createRepo('deploy', { 'web.yaml': manifest('1.0.0') });
  const { project } = SHAPE[kind];
  const forge = await startForge(kind, project, opts.forgeToken ?? TOKEN, {
    gitDir: srv.path('deploy'),
    ...(opts.refuse ? { refuse: opts.refuse } : {}),
    ...(opts.proxy ? { proxy: opts.proxy } : {}),
  });
  t.teardown(() => forge.close());
  const superseded: SupersededResult[] = [];
  const wb = new GitWriteBack({
    git: new GitCli({ insecureHosts: ['127.0.0.1'], timeoutMs: 30_000 }),
    edit: editFiles,
    credentials: () => Promise.resolve({ token: TOKEN }),
    identity: { name: 'Image Watcher', email: 'iw@example.com' },
    commitPerWorkload: false,
    pullRequests: new RestPullRequests({
      provider: () => ({ kind, apiUrl: forge.apiUrl, path: project, host: '127.0.0.1' }),
      trustedHosts: ['127.0.0.1'],
    }),
    metrics: { observeGitPush: () => undefined, observeSupersededRequest: (r) => superseded.push(r) },
    logger: pino({ level: 'silent' }),
    windowMs: 0,
  });
  return { srv, forge, repo, wb, superseded };
}

/** What the request shows: the diff of the branch against its fork point from the base. */
async function requestDiff(bare: string, branch: string): Promise<string[]> {
  const out = await git(bare, 'diff', '--unified=0', `main...${branch}`);
  return out.split('\n').filter((l) => /^[-+] /.test(l));
}

const BRANCH = 'image-watcher/shop/web';

for (const kind of KINDS) {
  const { link, update } = SHAPE[kind];

  t.test(`${kind}: a request is opened once, then updated for a newer version`, async (t) => {
    const { srv, forge, repo, wb } = await setup(t, kind);
    const first = await wb.submit(request(repo, '1.0.0', '1.1.0'));
    t.match(first, { result: 'pushed', branch: BRANCH, url: link(1) });
    t.same(await srv.log('deploy', 'main'), ['Initial manifests'], 'the base branch is untouched');
    t.equal(forge.open.length, 1);
    t.match(forge.open[0], { head: BRANCH, base: 'main', title: 'Update shop/web app 1.0.0 -> 1.1.0' });
    t.match(forge.open[0]?.body, /\(minor\)/);

    // Not merged yet; a newer version comes: the same branch gets a commit, the request is updated.
    const second = await wb.submit(request(repo, '1.0.0', '1.2.0'));
    t.match(second, { result: 'pushed', branch: BRANCH, url: first.result === 'pushed' ? first.url : '' });
    t.equal(forge.open.length, 1, 'no second request');
    t.equal(forge.open[0]?.title, 'Update shop/web app 1.0.0 -> 1.2.0');
    t.equal(await srv.show('deploy', BRANCH, 'web.yaml'), manifest('1.2.0'));
    t.same(await srv.log('deploy', BRANCH), [
      'Update shop/web app 1.0.0 -> 1.2.0',
      'Update shop/web app 1.0.0 -> 1.1.0',
      'Initial manifests',
    ]);
    t.same(
      forge.requests.map((r) => r.method),
      // After the POST, once: the old-style branches' requests (none here).
      ['GET', 'POST', ...Array<string>(10).fill('GET'), 'GET', update],
    );
    if (kind === 'github') {
      t.equal(forge.requests[0]?.query.head, 'org:image-watcher/shop/web');
      t.equal(forge.requests[0]?.headers['x-github-api-version'], '2022-11-28');
    } else {
      t.equal(forge.requests[0]?.query.source_branch, BRANCH);
      t.equal(forge.requests[0]?.path, '/projects/group%2Fsub%2Fdeploy/merge_requests');
    }
  });

  t.test(
    `${kind}: squash-merged and its branch deleted: the next request starts from the base`,
    async (t) => {
      const { srv, forge, repo, wb } = await setup(t, kind);
      t.match(await wb.submit(request(repo, '1.0.0', '1.1.0')), { result: 'pushed' });
      // Squash merge: one new commit on main with the same change; the forge deletes the head branch.
      await srv.commitAs('deploy', 'main', { 'web.yaml': manifest('1.1.0') }, 'Update shop/web (#1)');
      await srv.deleteBranch('deploy', BRANCH);
      forge.markMerged(1);
      t.match(await wb.submit(request(repo, '1.1.0', '1.2.0')), { result: 'pushed', url: link(2) });
      t.same(await srv.log('deploy', BRANCH), [
        'Update shop/web app 1.1.0 -> 1.2.0',
        'Update shop/web (#1)',
        'Initial manifests',
      ]);
      await srv.merge('deploy', BRANCH, 'main', 'Merge #2');
      t.equal(await srv.show('deploy', 'main', 'web.yaml'), manifest('1.2.0'), 'merged without a conflict');
    },
  );

  t.test(
    `${kind}: squash-merged, the branch kept: the base is merged in, the next diff is the new version only`,
    async (t) => {
      const { srv, forge, repo, wb } = await setup(t, kind);
      t.match(await wb.submit(request(repo, '1.0.0', '1.1.0')), { result: 'pushed' });
      // More commits on the base than the first deepening step fetches, then the squash merge.
      for (let i = 0; i < 20; i++) {
        await srv.commitAs('deploy', 'main', { [`other/${i}.yaml`]: `n: ${i}\n` }, `Other change ${i}`);
      }
      await srv.commitAs('deploy', 'main', { 'web.yaml': manifest('1.1.0') }, 'Update shop/web (#1)');
      forge.markMerged(1);
      t.match(await wb.submit(request(repo, '1.1.0', '1.2.0')), {
        result: 'pushed',
        branch: BRANCH,
        url: link(2),
      });
      t.same((await srv.log('deploy', BRANCH)).slice(0, 3), [
        'Update shop/web app 1.1.0 -> 1.2.0',
        "Merge branch 'main' into image-watcher/shop/web",
        'Update shop/web app 1.0.0 -> 1.1.0',
      ]);
      const mergeParents = (await srv.log('deploy', BRANCH, '%P'))[1]?.split(' ');
      t.equal(mergeParents?.[1], (await srv.log('deploy', 'main', '%H'))[0], 'the squash merge is merged in');
      t.same(await requestDiff(srv.path('deploy'), BRANCH), [
        '-          image: registry.local/shop/web:1.1.0',
        '+          image: registry.local/shop/web:1.2.0',
      ]);
      t.same(await srv.branches('deploy'), [BRANCH, 'main'], 'no other branch');
      // Only fast-forwards were pushed: the old tip is an ancestor of the new one.
      await srv.merge('deploy', BRANCH, 'main', 'Merge #2');
      t.equal(await srv.show('deploy', 'main', 'web.yaml'), manifest('1.2.0'), 'merged without a conflict');
      t.equal(await srv.show('deploy', 'main', 'other/19.yaml'), 'n: 19\n');
    },
  );

  for (const kept of [true, false]) {
    t.test(
      `${kind}: a crash retry of a version already squash-merged (branch ${kept ? 'kept' : 'deleted'}): up to date, no request`,
      async (t) => {
        const { srv, forge, repo, wb } = await setup(t, kind);
        t.match(await wb.submit(request(repo, '1.0.0', '1.1.0')), { result: 'pushed', url: link(1) });
        const tip = await git(srv.path('deploy'), 'rev-parse', BRANCH);
        await srv.commitAs('deploy', 'main', { 'web.yaml': manifest('1.1.0') }, 'Update shop/web (#1)');
        if (!kept) await srv.deleteBranch('deploy', BRANCH);
        forge.markMerged(1);
        const calls = forge.requests.length;
        // The same write again, as after a crash between the push and recording it.
        const r = await wb.submit(request(repo, '1.0.0', '1.1.0'));
        t.same(r, { result: 'unchanged', branch: 'main', commit: undefined, url: undefined, inBase: true });
        t.equal(forge.requests.length, calls, 'the forge is not called: no empty request');
        t.equal(forge.pulls.length, 1);
        t.same(await srv.branches('deploy'), kept ? [BRANCH, 'main'] : ['main'], 'nothing pushed');
        if (kept) t.equal(await git(srv.path('deploy'), 'rev-parse', BRANCH), tip);
        t.same(await srv.log('deploy', 'main'), ['Update shop/web (#1)', 'Initial manifests']);
      },
    );
  }

  t.test(
    `${kind}: the base edited the same line: a fresh branch, a new request, the old one closed with a note`,
    async (t) => {
      const { srv, forge, repo, wb, superseded } = await setup(t, kind);
      t.match(await wb.submit(request(repo, '1.0.0', '1.1.0')), { result: 'pushed', url: link(1) });
      const oldTip = await git(srv.path('deploy'), 'rev-parse', BRANCH);
      // A person's own request on another branch: never the watcher's to close.
      await git(srv.path('deploy'), 'branch', 'feature/by-hand', 'main');
      await srv.commitAs('deploy', 'feature/by-hand', { 'README.md': 'mine\n' }, 'By hand');
      const mine = await openByHand(forge, 'feature/by-hand');
      // Someone pins a hotfix on the base by hand; the running image follows it.
      await srv.commitAs('deploy', 'main', { 'web.yaml': manifest('1.0.1') }, 'Hotfix web 1.0.1');
      const r = await wb.submit(request(repo, '1.0.1', '1.2.0'));
      t.match(r, { result: 'pushed', branch: `${BRANCH}_2`, url: link(3) });
      const newUrl = r.result === 'pushed' ? r.url! : '';
      t.same(
        forge.open.map((p) => p.head),
        ['feature/by-hand', `${BRANCH}_2`],
        'the superseded request is closed, the person’s is not',
      );
      t.match(forge.pulls[0], { head: BRANCH, state: 'closed' });
      t.equal(forge.pulls[0]?.comments.length, 1, 'one comment');
      t.match(forge.pulls[0]?.comments[0], `Superseded by ${newUrl}`);
      t.same(forge.pulls.find((p) => p.id === mine)?.comments, []);
      t.same(superseded, ['closed']);
      t.equal(
        await git(srv.path('deploy'), 'rev-parse', BRANCH),
        oldTip,
        'the conflicting branch is left as it was',
      );
      t.same(await srv.log('deploy', `${BRANCH}_2`), [
        'Update shop/web app 1.0.1 -> 1.2.0',
        'Hotfix web 1.0.1',
        'Initial manifests',
      ]);
      t.same(await requestDiff(srv.path('deploy'), `${BRANCH}_2`), [
        '-          image: registry.local/shop/web:1.0.1',
        '+          image: registry.local/shop/web:1.2.0',
      ]);
      // The next version goes to the branch that merges; nothing is closed or noted twice.
      t.match(await wb.submit(request(repo, '1.0.1', '1.3.0')), {
        result: 'pushed',
        branch: `${BRANCH}_2`,
        url: link(3),
      });
      t.equal(forge.pulls[0]?.comments.length, 1, 'still one comment');
      t.same(superseded, ['closed']);
      await srv.merge('deploy', `${BRANCH}_2`, 'main', 'Merge #3');
      t.equal(await srv.show('deploy', 'main', 'web.yaml'), manifest('1.3.0'));
    },
  );

  t.test(`${kind}: closing the superseded request is refused: logged, counted, tried again`, async (t) => {
    let refuse = true;
    const closing = (r: { method: string; path: string }) =>
      refuse && r.method === update && /\/(pulls|merge_requests)\/1$/.test(r.path);
    const { srv, forge, repo, wb, superseded } = await setup(t, kind, { refuse: closing });
    t.match(await wb.submit(request(repo, '1.0.0', '1.1.0')), { result: 'pushed', url: link(1) });
    await srv.commitAs('deploy', 'main', { 'web.yaml': manifest('1.0.1') }, 'Hotfix web 1.0.1');
    t.match(
      await wb.submit(request(repo, '1.0.1', '1.2.0')),
      { result: 'pushed', branch: `${BRANCH}_2`, url: link(2) },
      'the new request is opened all the same',
    );
    t.same(superseded, ['failed']);
    t.same(
      forge.open.map((p) => p.head),
      [BRANCH, `${BRANCH}_2`],
    );
    t.same(forge.pulls[0]?.comments, [], 'no comment on a request left open');
    refuse = false;
    t.match(await wb.submit(request(repo, '1.0.1', '1.3.0')), { result: 'pushed', url: link(2) });
    t.same(superseded, ['failed', 'closed']);
    t.match(forge.pulls[0], { state: 'closed', comments: [/^Superseded by \S+\/2: /] });
  });
}

for (const kind of KINDS) {
  const { link } = SHAPE[kind];
  t.test(`${kind}: closed, but the comment refused: counted closed, never noted twice`, async (t) => {
    const notes = (r: { method: string; path: string }) =>
      r.method === 'POST' && /\/(comments|notes)$/.test(r.path);
    const { srv, forge, repo, wb, superseded } = await setup(t, kind, { refuse: notes });
    t.match(await wb.submit(request(repo, '1.0.0', '1.1.0')), { result: 'pushed', url: link(1) });
    await srv.commitAs('deploy', 'main', { 'web.yaml': manifest('1.0.1') }, 'Hotfix web 1.0.1');
    t.match(await wb.submit(request(repo, '1.0.1', '1.2.0')), { result: 'pushed', url: link(2) });
    t.match(forge.pulls[0], { state: 'closed', comments: [] });
    t.same(superseded, ['closed']);
    t.match(await wb.submit(request(repo, '1.0.1', '1.3.0')), { result: 'pushed', url: link(2) });
    t.equal(forge.requests.filter(notes).length, 1, 'the comment was tried once');
    t.same(superseded, ['closed']);
  });
}

/** A request a person opens on the forge (through its API, as the web page would). */
async function openByHand(forge: FakeForge, head: string, title = 'By hand', body = ''): Promise<number> {
  const github = forge.kind === 'github';
  const url = github
    ? `${forge.apiUrl}/repos/${SHAPE.github.project}/pulls`
    : `${forge.apiUrl}/projects/${encodeURIComponent(SHAPE.gitlab.project)}/merge_requests`;
  const res = await fetch(url, {
    method: 'POST',
    headers: github
      ? { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }
      : { 'private-token': TOKEN, 'content-type': 'application/json' },
    body: JSON.stringify(
      github
        ? { head, base: 'main', title, body }
        : { source_branch: head, target_branch: 'main', title, description: body },
    ),
  });
  const v = (await res.json()) as { number?: number; iid?: number };
  return v.number ?? v.iid ?? 0;
}

for (const kind of KINDS) {
  t.test(
    `${kind}: a 2xx answer that is not JSON, or JSON of another shape: E_GIT_PR_FAILED naming the call`,
    async (t) => {
      const page = `<html>\n<body>Sign in to the proxy\u0007${'x'.repeat(5000)}</body></html>`;
      let answer: { status: number; contentType: string; body: string } | undefined = {
        status: 200,
        contentType: 'text/html; charset=utf-8',
        body: page,
      };
      const { srv, forge, repo, wb } = await setup(t, kind, { proxy: () => answer });
      const list = kind === 'github' ? `GET /repos/${SHAPE.github.project}/pulls` : 'GET /projects/';
      const r = await wb.submit(request(repo, '1.0.0', '1.1.0'));
      t.match(r, {
        result: 'failed',
        code: 'E_GIT_PR_FAILED',
        reason: new RegExp(
          `^${list}.* answered 200 with content type "text/html; charset=utf-8", not JSON \\(a proxy or login page in between\\?\\): "<html>\\\\n<body>Sign in to the proxy\\\\u0007x+\\.\\.\\."$`,
        ),
      });
      t.ok(r.result === 'failed' && r.reason.length < 400, 'bounded');
      t.same(await srv.branches('deploy'), [BRANCH, 'main'], 'the branch was pushed');

      // JSON, but not a list of requests: never read as "none open" (that would open a second one).
      answer = { status: 200, contentType: 'application/json', body: '{"message":"ok"}' };
      const fields = kind === 'github' ? 'number and html_url' : 'iid and web_url';
      t.match(await wb.submit(request(repo, '1.0.0', '1.1.0')), {
        result: 'failed',
        code: 'E_GIT_PR_FAILED',
        reason: new RegExp(
          `answered 200 with JSON that is not a list of objects with ${fields}: "\\{\\\\"message`,
        ),
      });
      // The list is the forge's; the answer to opening is not a request.
      answer = undefined;
      const creating = (req: { method: string }) => req.method === 'POST';
      const shaped = await setup(t, kind, {
        proxy: (req) =>
          creating(req) ? { status: 201, contentType: 'application/json', body: '{}' } : undefined,
      });
      t.match(await shaped.wb.submit(request(shaped.repo, '1.0.0', '1.1.0')), {
        result: 'failed',
        code: 'E_GIT_PR_FAILED',
        reason: new RegExp(`^POST .* answered 201 with JSON that is not an object with ${fields}: "\\{\\}"$`),
      });
      t.equal(forge.open.length + shaped.forge.open.length, 0);
    },
  );
}

t.test('a wrong token: the push lands, the request fails with the answer', async (t) => {
  const { srv, forge, repo, wb } = await setup(t, 'github', { forgeToken: 'another-token-xyz' });
  const r = await wb.submit(request(repo, '1.0.0', '1.1.0'));
  t.match(r, { result: 'failed', code: 'E_GIT_AUTH', reason: /answered 401/ });
  t.notMatch(r.result === 'failed' ? r.reason : '', new RegExp(TOKEN));
  t.same(await srv.branches('deploy'), [BRANCH, 'main'], 'the branch was pushed');
  t.equal(forge.open.length, 0);
});

for (const kind of KINDS) {
  t.test(
    `${kind}: closeSuperseded closes only the watcher's branches, and answers 404 for unknown numbers`,
    async (t) => {
      const { forge } = await setup(t, kind);
      const client = new RestPullRequests({
        provider: () => ({ kind, apiUrl: forge.apiUrl, path: SHAPE[kind].project, host: '127.0.0.1' }),
        trustedHosts: ['127.0.0.1'],
      });
      const closed = await client.closeSuperseded({
        repo: 'x',
        heads: ['feature/by-hand', 'main'],
        base: 'main',
        by: { head: `${BRANCH}_2`, url: 'https://example/2' },
        credentials: { token: TOKEN },
      });
      t.same(closed, []);
      t.equal(forge.requests.length, 0, 'not even looked up');
      const path =
        kind === 'github'
          ? `/repos/${SHAPE.github.project}/pulls/99`
          : `/projects/${encodeURIComponent(SHAPE.gitlab.project)}/merge_requests/99`;
      const res = await fetch(`${forge.apiUrl}${path}`, {
        method: SHAPE[kind].update,
        headers:
          kind === 'github'
            ? { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }
            : { 'private-token': TOKEN, 'content-type': 'application/json' },
        body: JSON.stringify(kind === 'github' ? { state: 'closed' } : { state_event: 'close' }),
      });
      t.equal(res.status, 404);
      const anon = await fetch(`${forge.apiUrl}${path}`, { method: 'GET' });
      t.equal(anon.status, 401, 'no token, no answer');
    },
  );
}

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

t.test('the branches a fresh branch replaces', (t) => {
  const w = 'image-watcher/shop/web';
  const cases: [string, string[], string?][] = [
    [w, []],
    [`${w}_2`, [w]],
    [`${w}_4`, [w, `${w}_2`, `${w}_3`]],
    [`${w}_x`, []],
    [`${w}_1`, []],
    [`${w}-2`, [], 'the regular branch of shop/web-2, not a fallback'],
    [`${w}_2_3`, []],
    ['image-watcher/shop/api_2', []],
  ];
  for (const [branch, want, why] of cases) t.same(supersededBy(w, branch), want, why ?? branch);
  t.end();
});

for (const kind of KINDS) {
  const { link } = SHAPE[kind];
  t.test(
    `${kind}: upgraded with old-style requests open: this workload's closed once with a note, another's left`,
    async (t) => {
      const { srv, forge, repo, wb, superseded } = await setup(t, kind);
      // What the previous watcher left, as it wrote them (commit message as title and body):
      // shop/web's request on image-watcher/shop-web; on image-watcher/shop-web-2 (its old
      // fallback name, also shop/web-2's old regular name) the request of workload shop/web-2;
      // on image-watcher/shop-web-3 one of StatefulSet shop/web (same title, another workload).
      const bare = srv.path('deploy');
      const tips: Record<string, string> = {};
      const old = [
        ['image-watcher/shop-web', 'Deployment', 'web'],
        ['image-watcher/shop-web-2', 'Deployment', 'web-2'],
        ['image-watcher/shop-web-3', 'StatefulSet', 'web'],
      ] as const;
      const ids: number[] = [];
      for (const [head, workloadKind, name] of old) {
        await git(bare, 'branch', head, 'main');
        await srv.commitAs('deploy', head, { [`${name}.yaml`]: 'old\n' }, 'old style');
        tips[head] = (await git(bare, 'rev-parse', head)).trim();
        const subject = `Update shop/${name} app 0.9.0 -> 1.0.0`;
        const body = `${subject}\n\n${workloadKind} shop/${name}, container app:\n  registry.local/shop/web: 0.9.0 -> 1.0.0 (minor)\n\nWritten by image-watcher.\n`;
        ids.push(await openByHand(forge, head, subject, body));
      }
      const [mine, ...others] = ids;

      const r = await wb.submit(request(repo, '1.0.0', '1.1.0'));
      t.match(r, { result: 'pushed', branch: BRANCH, url: link(4) });
      const newUrl = r.result === 'pushed' ? r.url! : '';
      t.same(
        forge.open.map((p) => p.head),
        ['image-watcher/shop-web-2', 'image-watcher/shop-web-3', BRANCH],
        "shop/web's old request closed, shop/web-2's and the StatefulSet's left open",
      );
      t.match(
        forge.pulls.find((p) => p.id === mine),
        {
          state: 'closed',
          comments: [
            new RegExp(
              `^Superseded by ${newUrl}: image-watcher now names its branches by namespace and name`,
            ),
          ],
        },
      );
      for (const id of others) t.same(forge.pulls.find((p) => p.id === id)?.comments, []);
      t.same(superseded, ['closed']);
      for (const [head, tip] of Object.entries(tips)) {
        t.equal((await git(bare, 'rev-parse', head)).trim(), tip, `${head} is not touched`);
      }

      // The next version updates the new request; the old-style ones are not looked at again.
      const calls = forge.requests.length;
      t.match(await wb.submit(request(repo, '1.0.0', '1.2.0')), { result: 'pushed', url: link(4) });
      t.equal(forge.requests.length - calls, 2, 'one look-up and one update');
      t.same(superseded, ['closed']);
    },
  );
}

t.test('a forge answer larger than the limit is refused, not read into memory', async (t) => {
  // 16 MiB of one JSON string: read whole, it would only fail at JSON.parse, after holding it all.
  const { createServer } = await import('node:http');
  let sent = 0;
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const more = () => {
      while (sent < 16 * 1024 * 1024) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', more);
      }
      res.end();
    };
    res.write('"');
    more();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as { port: number };
  const client = new RestPullRequests({
    provider: () => ({ kind: 'github', apiUrl: `http://127.0.0.1:${port}`, path: 'o/r', host: '127.0.0.1' }),
    trustedHosts: ['127.0.0.1'],
  });
  await t.rejects(
    client.openOrUpdate({
      repo: 'x',
      head: 'image-watcher/shop/web',
      base: 'main',
      title: 't',
      body: 'b',
      credentials: { token: TOKEN },
    }),
    { code: 'E_GIT_PR_FAILED', message: /GET \/repos\/o\/r\/pulls answered more than 4194304 bytes/ },
  );
  t.ok(sent < 16 * 1024 * 1024, 'the client stopped reading');
});

/** A resolver answering from a table, recording every name it was asked. */
function resolver(table: Record<string, string>) {
  const calls: string[] = [];
  const resolve = (host: string) => {
    calls.push(host);
    const address = table[host];
    if (address === undefined) return Promise.reject(new Error(`ENOTFOUND ${host}`));
    return Promise.resolve([{ address, family: address.includes(':') ? 6 : 4 }]);
  };
  return { resolve, calls };
}

const input = (credentials = { token: TOKEN }) => ({
  repo: 'x',
  head: BRANCH,
  base: 'main',
  title: 'Update shop/web app 1.0.0 -> 1.1.0 (pinned)',
  body: 'b',
  credentials,
});

t.test('the API host is resolved once and the connection pinned to that address', async (t) => {
  const { forge, repo, wb } = await setup(t, 'github');
  t.match(await wb.submit(request(repo, '1.0.0', '1.1.0')), { result: 'pushed' });
  const before = forge.requests.length;
  const port = new URL(forge.apiUrl).port;
  // forge.test is in no DNS: only a connection pinned to the checked address reaches the forge.
  const r = resolver({ 'forge.test': '127.0.0.1' });
  const client = new RestPullRequests({
    provider: () => ({
      kind: 'github',
      apiUrl: `http://forge.test:${port}`,
      path: 'org/deploy',
      host: 'forge.test',
    }),
    resolve: r.resolve,
    trustedHosts: ['forge.test'],
  });
  t.same(await client.openOrUpdate(input()), {
    url: 'https://github.example/org/deploy/pull/1',
    created: false,
  });
  t.match(forge.open, [{ id: 1, head: BRANCH, title: 'Update shop/web app 1.0.0 -> 1.1.0 (pinned)' }]);
  t.same(r.calls, ['forge.test'], 'one lookup for the whole operation (a list and an update)');
  t.same(
    forge.requests.slice(before).map((x) => `${x.method} ${String(x.headers.host)}`),
    [`GET forge.test:${port}`, `PATCH forge.test:${port}`],
    'Host names the host, not the address',
  );
});

t.test(
  'DNS rebinding: checked public, then 127.0.0.1 at connect time: the connection goes to the checked address',
  async (t) => {
    const { forge } = await setup(t, 'github');
    const port = new URL(forge.apiUrl).port;
    const PUBLIC = '140.82.112.5';
    // The check sees a public address; the system's resolver (what a connection by name asks)
    // answers localhost with 127.0.0.1, where the forge listens.
    const r = resolver({ localhost: PUBLIC });
    const seen: string[] = [];
    // Where a socket is about to connect, stopped before it leaves this machine.
    const onSocket = (message: unknown) => {
      const { socket } = message as { socket: Socket };
      socket.once('lookup', (_err: unknown, address: unknown) => {
        const list = Array.isArray(address)
          ? (address as { address: string }[]).map((a) => a.address)
          : [String(address)];
        seen.push(...list);
        if (list.includes(PUBLIC)) socket.destroy(new Error('stopped by the test before connecting'));
      });
    };
    subscribe('net.client.socket', onSocket);
    t.teardown(() => unsubscribe('net.client.socket', onSocket));
    const client = new RestPullRequests({
      provider: () => ({
        kind: 'github',
        apiUrl: `http://localhost:${port}`,
        path: 'org/deploy',
        host: 'localhost',
      }),
      resolve: r.resolve,
    });
    await t.rejects(client.openOrUpdate(input()), {
      code: 'E_GIT_PR_FAILED',
      message: /^GET \/repos\/org\/deploy\/pulls failed: stopped by the test/,
    });
    t.same(seen, [PUBLIC], 'the checked address, not a second lookup');
    t.equal(forge.requests.length, 0, 'the private service behind the name was never reached');
    t.same(r.calls, ['localhost']);
  },
);
