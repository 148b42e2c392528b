// End to end, GitOps: createWatcher (the production wiring, with the real file editors and the git
// CLI client) against the fake API server, the real docker-registry and a real Git remote served
// by `git http-backend` with basic auth. "Argo CD" is played by the test: it applies what Git says.
import t from 'tap';
import type { Test } from 'tap';
import { parseAllDocuments } from 'yaml';
import type { FakeKube, FakeKubeOptions } from '../../support/fake-kube/index.ts';
import type { ControllerConfig } from '../../../watcher/controller/index.ts';
import type { WatcherIo } from '../../../watcher/create.ts';
import { GitCli } from '../../../watcher/gitops/git.ts';
import type { GitClient, GitWorkspace } from '../../../watcher/gitops/git.ts';
import { rolloutStatus } from '../../support/fake-kube/rollout.ts';
import { startGitServer } from '../../support/git-server.ts';
import type { GitServer } from '../../support/git-server.ts';
import { buildImage } from '../../support/images.ts';
import type { RunningRegistry } from '../../support/registry.ts';
import { pushImage, startRegistry } from '../../support/registry.ts';
import {
  annotationsOf,
  deployment,
  fakeKube,
  gitWriteBack,
  imageOf,
  startWatcher,
  until,
} from './support.ts';

let registry: RunningRegistry;
let git: GitServer;
const AUTH = { username: 'bot', password: 'git-secret-password-1' };

t.before(async () => {
  registry = await startRegistry();
  await pushImage(registry.url, 'shop/web', ['1.0.0', '1.0.1'], buildImage());
  await pushImage(registry.url, 'shop/api', ['2.0.0', '2.0.1'], buildImage());
  git = await startGitServer({ auth: AUTH });
});
t.teardown(async () => {
  await git.close();
  await registry.stop();
});

const img = (name: string, tag: string) => `${registry.host}/shop/${name}:${tag}`;

/** The manifest as a person keeps it in Git: comments and all. */
function manifest(name: string, tag: string): string {
  return [
    `# ${name}: the shop front`,
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    `  name: ${name}`,
    '  namespace: shop',
    'spec:',
    '  replicas: 1',
    '  template:',
    '    spec:',
    '      containers:',
    '        - name: app',
    `          image: ${img(name, tag)} # pinned by image-watcher`,
    '',
  ].join('\n');
}

function synced(name: string, tag: string, annotations: Record<string, string>): object {
  const d = deployment(name, img(name, tag), annotations) as { metadata: Record<string, unknown> };
  d.metadata.labels = { 'argocd.argoproj.io/instance': 'shop' };
  return d;
}

const secret = (password: string) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'git-creds', namespace: 'shop' },
  data: {
    username: Buffer.from(AUTH.username).toString('base64'),
    password: Buffer.from(password).toString('base64'),
  },
});

/** Argo CD's sync: the live object gets the image Git holds (the annotations stay). */
async function argoSync(kube: FakeKube, repo: string, name: string): Promise<void> {
  const text = await git.show(repo, 'main', `apps/${name}.yaml`);
  const doc = parseAllDocuments(text)[0]!.toJS() as {
    spec: { template: { spec: { containers: { image: string }[] } } };
  };
  const live = structuredClone(kube.get('Deployment', 'shop', name)!) as unknown as {
    spec: { template: { spec: { containers: { image: string }[] } } };
  };
  live.spec.template.spec.containers[0]!.image = doc.spec.template.spec.containers[0]!.image;
  kube.upsert(live);
}

function imagePatches(kube: FakeKube, name: string): number {
  return kube
    .requestsMatching({ method: 'PATCH', pathPattern: new RegExp(`/deployments/${name}$`) })
    .filter(
      (r) =>
        Array.isArray(r.body) &&
        (r.body as { op: string; path: string }[]).some(
          (o) => o.op === 'replace' && o.path.endsWith('/image'),
        ),
    ).length;
}

const ENV = {
  GIT_INSECURE_HOSTS: '127.0.0.1',
  GIT_AUTHOR_NAME: 'Image Watcher',
  GIT_AUTHOR_EMAIL: 'image-watcher@example.com',
};

/** web on 1.0.0 as Argo CD runs it, its manifest in a fresh repository, and the watcher (Git window 10 ms). */
async function webInGit(
  t: Test,
  repo: string,
  opts: {
    password?: string;
    annotations?: Record<string, string>;
    kube?: FakeKubeOptions;
    config?: Partial<ControllerConfig>;
    io?: Partial<WatcherIo>;
  } = {},
) {
  const url = await git.createRepo(repo, { 'apps/web.yaml': manifest('web', '1.0.0') });
  const kube = await fakeKube(t.teardown.bind(t), opts.kube);
  kube.seed(secret(opts.password ?? AUTH.password));
  kube.seed(synced('web', '1.0.0', { ...gitWriteBack(url, 'git-creds'), ...opts.annotations }));
  const w = await startWatcher(t.teardown.bind(t), kube, {
    env: ENV,
    io: { gitWindowMs: 10, ...opts.io },
    ...(opts.config ? { config: opts.config } : {}),
  });
  return { url, kube, w };
}

t.test('two Argo CD workloads: one commit, then the sync is recorded and its rollout judged', async (t) => {
  const url = await git.createRepo('shop', {
    'apps/web.yaml': manifest('web', '1.0.0'),
    'apps/api.yaml': manifest('api', '2.0.0'),
  });
  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed(secret(AUTH.password));
  kube.seed(
    synced('web', '1.0.0', gitWriteBack(url, 'git-creds')),
    synced('api', '2.0.0', gitWriteBack(url, 'git-creds')),
  );
  const w = await startWatcher(t.teardown.bind(t), kube, { env: ENV, io: { gitWindowMs: 50 } });
  await w.controller.runCycle();
  await w.controller.idle();

  t.same(await git.log('shop', 'main'), ['Update images of 2 workloads', 'Initial manifests'], 'one commit');
  t.equal(await git.show('shop', 'main', 'apps/web.yaml'), manifest('web', '1.0.1'), 'only the tag changed');
  t.equal(await git.show('shop', 'main', 'apps/api.yaml'), manifest('api', '2.0.1'));
  const [author] = await git.log('shop', 'main', '%an <%ae>');
  t.equal(author, 'Image Watcher <image-watcher@example.com>');
  t.match(
    (await git.log('shop', 'main', '%b'))[0],
    /Deployment shop\/web, container app:\n.*: 1\.0\.0 -> 1\.0\.1 \(patch\)/,
  );
  t.equal(imagePatches(kube, 'web') + imagePatches(kube, 'api'), 0, 'never live-patched');
  const a = annotationsOf(kube.get('Deployment', 'shop', 'web'));
  t.equal(a['image-watcher/last-pushed-version'], '1.0.1');
  t.match(JSON.parse(a['image-watcher/git-pending'] ?? '{}'), {
    git: { pushed: true, commit: /^[0-9a-f]{40}$/ },
  });
  t.match(await w.metricsText(), /image_watcher_git_pushes_total\{result="pushed"\} 1/);
  const view = w.controller.workloads().find((x) => x.name === 'web');
  t.match(view?.writeBack, { mode: 'git', git: { pending: true, commit: /^[0-9a-f]{40}$/, branch: 'main' } });

  // A new pass before the sync writes nothing again.
  await w.controller.runCycle();
  await w.controller.idle();
  t.equal((await git.log('shop', 'main')).length, 2, 'no second push while waiting for the sync');

  await argoSync(kube, 'shop', 'web');
  await argoSync(kube, 'shop', 'api');
  await until('both rollouts recorded', () =>
    ['web', 'api'].every((n) => {
      const x = annotationsOf(kube.get('Deployment', 'shop', n));
      return x['image-watcher/git-pending'] === undefined && x['image-watcher/rollout'] === undefined;
    }),
  );
  await w.controller.idle();
  t.match(annotationsOf(kube.get('Deployment', 'shop', 'web')), {
    'image-watcher/previous-version': '1.0.0',
    'image-watcher/current-version': '1.0.1',
    'image-watcher/last-updated-version': '1.0.1',
  });
  const updated = w.notices.filter((n) => n.event === 'updated');
  t.same(updated.map((n) => `${n.workload.name} ${n.newVersion}`).sort(), ['api 2.0.1', 'web 1.0.1']);
  for (const n of updated) {
    t.match(
      n.detail,
      /^written to Git: http:\/\/127\.0\.0\.1:\d+\/shop\.git main [0-9a-f]{12}$/,
      'with the commit',
    );
  }
  t.match(await w.metricsText(), /image_watcher_updates_total\{[^}]*workload="web",result="success"\} 1/);
  t.equal(imageOf(kube.get('Deployment', 'shop', 'web')), img('web', '1.0.1'));
  t.equal(imagePatches(kube, 'web'), 0, 'still never live-patched');
});

t.test('a failed rollout is reverted in Git, never by live patch, and not written again', async (t) => {
  const { kube, w } = await webInGit(t, 'failing', {
    kube: { autoRollout: (obj) => (JSON.stringify(obj.spec).includes(':1.0.1') ? 'fail' : 'succeed') },
  });
  await w.controller.runCycle();
  await w.controller.idle();
  t.equal(await git.show('failing', 'main', 'apps/web.yaml'), manifest('web', '1.0.1'));
  await argoSync(kube, 'failing', 'web');
  await until('the revert commit', async () => (await git.log('failing', 'main')).length === 3, 10_000);
  await w.controller.idle();
  t.same(await git.log('failing', 'main'), [
    'Revert shop/web app 1.0.1 -> 1.0.0',
    'Update shop/web app 1.0.0 -> 1.0.1',
    'Initial manifests',
  ]);
  t.equal(await git.show('failing', 'main', 'apps/web.yaml'), manifest('web', '1.0.0'), 'byte for byte back');
  t.equal(imagePatches(kube, 'web'), 0, 'no live rollback');
  t.match(annotationsOf(kube.get('Deployment', 'shop', 'web')), {
    'image-watcher/last-failed-version': '1.0.1',
  });
  t.match(w.notices, [{ event: 'rolled_back', newVersion: '1.0.1', detail: /reverted in Git/ }]);

  await argoSync(kube, 'failing', 'web');
  await until(
    'the old image is live',
    () => imageOf(kube.get('Deployment', 'shop', 'web')) === img('web', '1.0.0'),
  );
  await w.controller.runCycle();
  await w.controller.idle();
  t.equal((await git.log('failing', 'main')).length, 3, 'the failed version is not written again');
});

/** A person's edit that makes the annotations unreadable (the watcher's own keys are kept). */
function breakAnnotations(kube: FakeKube, name: string): void {
  const live = structuredClone(kube.get('Deployment', 'shop', name)!);
  live.metadata.annotations = { ...live.metadata.annotations, 'image-watcher/strategy': 'SIDEWAYS' };
  kube.upsert(live);
}

/** The Deployment controller gives up on the new pods (ProgressDeadlineExceeded). */
function failRollout(kube: FakeKube, name: string): void {
  kube.setStatus('Deployment', 'shop', name, rolloutStatus(kube.get('Deployment', 'shop', name)!, 'fail'));
}

t.test(
  'a failed rollout of a Git update whose annotations became unreadable is reverted in Git from the record',
  async (t) => {
    const { kube, w } = await webInGit(t, 'unreadable', { kube: { autoRollout: 'off' } });
    await w.controller.runCycle();
    await w.controller.idle();
    await argoSync(kube, 'unreadable', 'web');
    await until(
      'the rollout recorded',
      () => annotationsOf(kube.get('Deployment', 'shop', 'web'))['image-watcher/rollout'] !== undefined,
    );
    t.match(JSON.parse(annotationsOf(kube.get('Deployment', 'shop', 'web'))['image-watcher/rollout']!), {
      git: { path: 'apps', secret: 'git-creds', repo: /unreadable\.git$/ },
    });
    breakAnnotations(kube, 'web');
    await until('the broken annotations seen', () =>
      (w.controller.workloads()[0]?.lastError ?? '').includes('SIDEWAYS'),
    );
    failRollout(kube, 'web');
    await until('the revert commit', async () => (await git.log('unreadable', 'main')).length === 3, 10_000);
    await w.controller.idle();
    t.equal(await git.show('unreadable', 'main', 'apps/web.yaml'), manifest('web', '1.0.0'));
    t.equal(imagePatches(kube, 'web'), 0, 'no live rollback to fight the sync');
    const a = annotationsOf(kube.get('Deployment', 'shop', 'web'));
    t.equal(a['image-watcher/rollout'], undefined);
    t.equal(a['image-watcher/last-failed-version'], '1.0.1');
    t.match(w.notices, [{ event: 'rolled_back', newVersion: '1.0.1', detail: /reverted in Git/ }]);
  },
);

t.test(
  'a failed rollout synced from Git with unreadable annotations and no Git target: not patched live, said once, reverted once fixed',
  async (t) => {
    const url = await git.createRepo('unknown-target', { 'apps/web.yaml': manifest('web', '1.0.1') });
    const kube = await fakeKube(t.teardown.bind(t), { autoRollout: 'off' });
    kube.seed(secret(AUTH.password));
    // A record as an older watcher wrote it after the sync: no Git target in it.
    const record = JSON.stringify(webPatchRecord());
    const good = { ...gitWriteBack(url, 'git-creds'), 'image-watcher/rollout': record };
    kube.seed(synced('web', '1.0.1', { ...good, 'image-watcher/strategy': 'SIDEWAYS' }));
    failRollout(kube, 'web');
    const w = await startWatcher(t.teardown.bind(t), kube, { env: ENV, io: { gitWindowMs: 10 } });
    await until('said', () => w.notices.some((n) => n.event === 'failed'));
    await w.controller.runCycle();
    await w.controller.idle();
    t.equal(imagePatches(kube, 'web'), 0, 'no live rollback');
    t.equal(annotationsOf(kube.get('Deployment', 'shop', 'web'))['image-watcher/rollout'], record, 'kept');
    t.match(w.notices, [
      {
        event: 'failed',
        newVersion: '1.0.1',
        detail: /not rolled back: it is synced from Git by Argo CD.*no Git target.*SIDEWAYS/,
      },
    ]);
    t.equal(w.notices.length, 1, 'said once, not every pass');
    const events = kube
      .list('Event', 'shop')
      .filter((e) => (e as { reason?: string }).reason === 'RollbackBlocked');
    t.equal(events.length, 1);
    t.match(w.controller.workloads()[0]?.lastError, /^E_ROLLBACK_BLOCKED: /);

    // The annotations are fixed: the settings name the target, the revert is a commit.
    const live = structuredClone(kube.get('Deployment', 'shop', 'web')!);
    live.metadata.annotations = { ...live.metadata.annotations, 'image-watcher/strategy': 'PATCH' };
    kube.upsert(live);
    await until(
      'the revert commit',
      async () => (await git.log('unknown-target', 'main')).length === 2,
      10_000,
    );
    await w.controller.idle();
    t.equal(await git.show('unknown-target', 'main', 'apps/web.yaml'), manifest('web', '1.0.0'));
    t.equal(imagePatches(kube, 'web'), 0);
    t.match(w.notices[1], { event: 'rolled_back', detail: /reverted in Git/ });
  },
);

t.test('Argo CD without a Git target: announced with the reason, never live-patched', async (t) => {
  const kube = await fakeKube(t.teardown.bind(t));
  kube.seed(
    synced('web', '1.0.0', { 'image-watcher/mode': 'AUTO_UPDATE', 'image-watcher/strategy': 'PATCH' }),
  );
  const w = await startWatcher(t.teardown.bind(t), kube, { env: ENV });
  await w.controller.runCycle();
  await w.controller.idle();
  t.equal(imageOf(kube.get('Deployment', 'shop', 'web')), img('web', '1.0.0'));
  t.equal(imagePatches(kube, 'web'), 0);
  t.match(w.notices, [
    {
      event: 'available',
      newVersion: '1.0.1',
      detail: /synced from Git by Argo CD \(argocd\.argoproj\.io\/instance=shop\)/,
    },
  ]);
  t.match(w.controller.workloads()[0]?.writeBack, {
    mode: 'live',
    blocked: /image-watcher\/write-back: git/,
  });
  await w.controller.runCycle();
  await w.controller.idle();
  t.equal(w.notices.length, 1, 'announced once per version');
});

t.test('a wrong Git credential: the update fails with the reason, the password is nowhere', async (t) => {
  const { kube, w } = await webInGit(t, 'denied', { password: 'not-the-password-9' });
  await w.controller.runCycle();
  await w.controller.idle();
  t.same(await git.log('denied', 'main'), ['Initial manifests']);
  t.match(w.notices, [
    { event: 'failed', newVersion: '1.0.1', detail: /Git write-back failed: git clone .* failed/ },
  ]);
  t.notMatch(JSON.stringify(w.notices), /not-the-password/);
  const a = annotationsOf(kube.get('Deployment', 'shop', 'web'));
  t.equal(a['image-watcher/git-pending'], undefined, 'the claim is dropped');
  t.match(w.controller.workloads()[0]?.lastError, /^E_GIT_AUTH: /);
  t.match(await w.metricsText(), /image_watcher_git_pushes_total\{result="failed"\} 1/);
});

t.test('a manual update whose Git write fails answers with the Git reason', async (t) => {
  const { w } = await webInGit(t, 'denied-manual', {
    password: 'not-the-password-9',
    annotations: { 'image-watcher/mode': 'NOTIFICATION' },
  });
  const res = await w.app.inject({
    method: 'POST',
    url: '/api/v1/workloads/shop/deployment/web/update',
    headers: { authorization: 'Bearer tok_0123456789abcdef' },
  });
  t.equal(res.statusCode, 502);
  t.match(res.json(), { code: 'E_UPDATE_FAILED', error: /^E_GIT_AUTH: .*git clone .* failed/ });
  t.notMatch(res.body, /not-the-password/);
  t.same(await git.log('denied-manual', 'main'), ['Initial manifests']);
});

/** The real git client; `afterPush` runs once a push has reached the remote. */
function gitWith(afterPush: () => void): GitClient {
  const real = new GitCli({ insecureHosts: ['127.0.0.1'], timeoutMs: 30_000 });
  return {
    probe: () => real.probe(),
    open: async (o) => {
      const ws = await real.open(o);
      return Object.assign(Object.create(ws) as GitWorkspace, {
        push: async (branch: string) => {
          const r = await ws.push(branch);
          if (r === 'pushed') afterPush();
          return r;
        },
      });
    },
  };
}

t.test(
  'a manual update pushed while its claim is dropped: answered updating, the push recorded on the fresh object',
  async (t) => {
    const other: { kube?: FakeKube } = {};
    const { w, kube } = await webInGit(t, 'dropped-claim', {
      annotations: { 'image-watcher/mode': 'NOTIFICATION' },
      // Another replica takes the claim for abandoned and drops it while this one pushes.
      io: {
        git: gitWith(() => {
          const live = structuredClone(other.kube!.get('Deployment', 'shop', 'web')!);
          delete live.metadata.annotations!['image-watcher/git-pending'];
          other.kube!.upsert(live);
        }),
      },
    });
    other.kube = kube;
    const res = await w.app.inject({
      method: 'POST',
      url: '/api/v1/workloads/shop/deployment/web/update',
      headers: { authorization: 'Bearer tok_0123456789abcdef' },
    });
    t.match(res.json(), { status: 'updating', changes: [{ container: 'app', from: '1.0.0', to: '1.0.1' }] });
    t.equal(res.statusCode, 202);
    t.same(await git.log('dropped-claim', 'main'), [
      'Update shop/web app 1.0.0 -> 1.0.1',
      'Initial manifests',
    ]);
    const a = annotationsOf(kube.get('Deployment', 'shop', 'web'));
    t.match(JSON.parse(a['image-watcher/git-pending'] ?? '{}'), {
      git: { pushed: true, commit: /^[0-9a-f]{40}$/ },
    });
    t.equal(a['image-watcher/last-pushed-version'], '1.0.1', 'never written again');
    t.match(w.controller.workloads()[0]?.writeBack, { git: { pending: true } });
    await w.controller.runCycle();
    await w.controller.idle();
    t.equal((await git.log('dropped-claim', 'main')).length, 2, 'one commit');
    t.equal(imagePatches(kube, 'web'), 0);
  },
);

t.test(
  'a claim left by a crash is written again, idempotently; a manual update goes through Git',
  async (t) => {
    const url = await git.createRepo('crashed', { 'apps/web.yaml': manifest('web', '1.0.0') });
    const kube = await fakeKube(t.teardown.bind(t));
    kube.seed(secret(AUTH.password));
    // The last run claimed 1.0.1 and stopped before it could say whether it pushed.
    const claim = JSON.stringify({ ...webPatchRecord(), git: { repo: url, push: 'direct', pushed: false } });
    kube.seed(
      synced('web', '1.0.0', { ...gitWriteBack(url, 'git-creds'), 'image-watcher/git-pending': claim }),
    );
    const w = await startWatcher(t.teardown.bind(t), kube, { env: ENV, io: { gitWindowMs: 10 } });
    await w.controller.runCycle();
    await w.controller.idle();
    t.same(await git.log('crashed', 'main'), ['Update shop/web app 1.0.0 -> 1.0.1', 'Initial manifests']);
    const a = annotationsOf(kube.get('Deployment', 'shop', 'web'));
    t.match(JSON.parse(a['image-watcher/git-pending'] ?? '{}'), { git: { pushed: true } });
    t.equal(a['image-watcher/last-pushed-version'], '1.0.1');

    // Already in Git, waiting for the sync: a manual update of the same version still answers
    // and writes nothing (not even an unchanged push).
    const r = await w.controller.manualUpdate({ kind: 'Deployment', namespace: 'shop', name: 'web' });
    t.match(r, { status: 'updating', changes: [{ container: 'app', from: '1.0.0', to: '1.0.1' }] });
    t.equal((await git.log('crashed', 'main')).length, 2, 'no second commit');
    t.notMatch(await w.metricsText(), /image_watcher_git_pushes_total\{result="unchanged"\} [1-9]/);
    t.equal(imagePatches(kube, 'web'), 0);
  },
);

t.test(
  'a manual update while its version waits in Git for the sync: answered, not written again, not patched live',
  async (t) => {
    const { kube, w } = await webInGit(t, 'pending-manual', { config: { rolloutTimeoutMs: 600_000 } });
    await w.controller.runCycle();
    await w.controller.idle();
    const pending = annotationsOf(kube.get('Deployment', 'shop', 'web'))['image-watcher/git-pending'];
    t.match(JSON.parse(pending ?? '{}'), { git: { pushed: true } }, '1.0.1 is in Git, waiting for the sync');
    const gitRequests = git.requests.length;
    const events = kube.requestsMatching({ method: 'POST', pathPattern: /\/events$/ }).length;

    const r = await w.controller.manualUpdate({ kind: 'Deployment', namespace: 'shop', name: 'web' });
    t.match(r, { status: 'updating', changes: [{ container: 'app', from: '1.0.0', to: '1.0.1' }] });
    await w.controller.idle();
    t.equal(git.requests.length, gitRequests, 'Git is not asked again');
    t.equal(
      annotationsOf(kube.get('Deployment', 'shop', 'web'))['image-watcher/git-pending'],
      pending,
      'the record (and its sync deadline) is unchanged',
    );
    t.equal(
      kube.requestsMatching({ method: 'POST', pathPattern: /\/events$/ }).length,
      events,
      'no second GitPushed event',
    );
    t.equal(imagePatches(kube, 'web'), 0, 'never live-patched');
    t.same(await git.log('pending-manual', 'main'), [
      'Update shop/web app 1.0.0 -> 1.0.1',
      'Initial manifests',
    ]);

    // The sync still completes the update.
    await argoSync(kube, 'pending-manual', 'web');
    await until('the rollout recorded', () => {
      const a = annotationsOf(kube.get('Deployment', 'shop', 'web'));
      return a['image-watcher/git-pending'] === undefined && a['image-watcher/current-version'] === '1.0.1';
    });
  },
);

t.test('written to Git but never synced: reported once as failed, not written again', async (t) => {
  const { kube, w } = await webInGit(t, 'unsynced', { config: { rolloutTimeoutMs: 300 } });
  await w.controller.runCycle();
  await w.controller.idle();
  await until('the sync time-out', () => w.notices.some((n) => n.event === 'failed'), 10_000);
  await w.controller.idle();
  t.match(w.notices, [{ event: 'failed', newVersion: '1.0.1', detail: /not live within ROLLOUT_TIMEOUT/ }]);
  const a = annotationsOf(kube.get('Deployment', 'shop', 'web'));
  t.equal(a['image-watcher/git-pending'], undefined);
  t.equal(a['image-watcher/last-pushed-version'], '1.0.1');
  t.match(w.controller.workloads()[0]?.lastError, /^E_GIT_NOT_SYNCED/);
  await w.controller.runCycle();
  await w.controller.idle();
  t.equal((await git.log('unsynced', 'main')).length, 2, 'one commit only');
  t.equal(w.notices.filter((n) => n.event === 'failed').length, 1);
});

/** A watcher record (rollout or Git claim) of web's app container going 1.0.0 -> 1.0.1. */
function webPatchRecord() {
  return {
    deadline: '2099-01-01T00:00:00Z',
    changes: [
      {
        container: 'app',
        imagePath: '/spec/template/spec/containers/0/image',
        image: img('web', '1.0.0'),
        newImage: img('web', '1.0.1'),
        currentVersion: '1.0.0',
        newVersion: '1.0.1',
        change: 'patch',
      },
    ],
  };
}
