// The pure side of the Git write-back: where updates go, the git-pending record and its patches.
import t from 'tap';
import fjp from 'fast-json-patch';
import { ANNOTATIONS, parseWatchSettings } from '../../../shared/annotations.ts';
import type { Candidate } from '../../../watcher/check/decide.ts';
import type { JsonPatchOp } from '../../../watcher/kube/types.ts';
import { toSnapshot } from '../../../watcher/kube/workloads.ts';
import {
  encodeGitPending,
  gitClaimPatch,
  gitPushedPatch,
  gitRevertedPatch,
  gitSyncedPatch,
  notYetPushed,
  parseGitPending,
  pendingFor,
  rollbackPlan,
  rolloutGitTarget,
  synced,
  writePlan,
} from '../../../watcher/gitops/state.ts';
import { snapshotOf, workloadObject } from '../../support/snapshot.ts';

function settings(a: Record<string, string>) {
  const r = parseWatchSettings(a);
  if (!r.ok) throw new Error('bad annotations');
  return r.settings;
}

const NONE: { repo: string | undefined; secret: string | undefined } = { repo: undefined, secret: undefined };
const ARGO = 'Argo CD (argocd.argoproj.io/instance=shop)';

t.test('where updates go', (t) => {
  const cases: {
    name: string;
    owner?: string;
    a: Record<string, string>;
    defaults?: typeof NONE;
    want: unknown;
  }[] = [
    { name: 'no GitOps owner, no git: live', a: {}, want: { kind: 'live' } },
    {
      name: 'an Argo CD owner without a Git target is held with the reason',
      owner: ARGO,
      a: {},
      want: { kind: 'blocked', reason: /synced from Git by Argo CD.*write-back: git/ },
    },
    {
      name: 'write-back git without any repository is held',
      a: { [ANNOTATIONS.writeBack]: 'git' },
      want: { kind: 'blocked', reason: /no repository is set: set image-watcher\/git-repo or GIT_REPO/ },
    },
    {
      name: 'the annotations, with defaults for the rest',
      owner: ARGO,
      a: { [ANNOTATIONS.writeBack]: 'git', [ANNOTATIONS.gitRepo]: 'https://github.com/o/d.git' },
      want: {
        kind: 'git',
        target: {
          repo: 'https://github.com/o/d.git',
          branch: undefined,
          path: '.',
          push: 'direct',
          secret: undefined,
        },
      },
    },
    {
      name: 'GIT_REPO and GIT_SECRET fill in; annotations win',
      a: { [ANNOTATIONS.writeBack]: 'git', [ANNOTATIONS.gitSecret]: 'mine', [ANNOTATIONS.gitPush]: 'branch' },
      defaults: { repo: 'git@github.com:o/d.git', secret: 'cluster' },
      want: { kind: 'git', target: { repo: 'git@github.com:o/d.git', secret: 'mine', push: 'branch' } },
    },
  ];
  for (const c of cases) {
    t.match(writePlan({ gitopsOwner: c.owner }, settings(c.a), c.defaults ?? NONE), c.want, c.name);
  }
  t.end();
});

t.test('Argo CD and Flux owners are read from their labels and annotations', (t) => {
  const owner = (labels: Record<string, string>, annotations: Record<string, string> = {}) =>
    toSnapshot('Deployment', { ...workloadObject({ labels, annotations }) })?.gitopsOwner;
  t.equal(owner({ 'argocd.argoproj.io/instance': 'shop' }), ARGO);
  t.equal(
    owner({}, { 'argocd.argoproj.io/tracking-id': 'shop:apps/Deployment:shop/web' }),
    'Argo CD (argocd.argoproj.io/tracking-id=shop:apps/Deployment:shop/web)',
  );
  t.equal(
    owner({ 'kustomize.toolkit.fluxcd.io/name': 'apps' }),
    'Flux (kustomize.toolkit.fluxcd.io/name=apps)',
  );
  t.equal(owner({ 'helm.toolkit.fluxcd.io/name': 'web' }), 'Flux (helm.toolkit.fluxcd.io/name=web)');
  t.equal(owner({ app: 'web' }), undefined);
  t.end();
});

const cand: Candidate = {
  container: 'app',
  imagePath: '/spec/template/spec/containers/0/image',
  image: 'nginx:1.25.0',
  currentVersion: '1.25.0',
  newVersion: '1.25.1',
  newImage: 'nginx:1.25.1',
  change: 'patch',
};
const target = {
  repo: 'https://github.com/o/d.git',
  branch: undefined,
  path: '.',
  push: 'direct' as const,
  secret: undefined,
};
const now = new Date('2026-01-01T00:00:00Z');

function apply(obj: Record<string, unknown>, ops: JsonPatchOp[]) {
  return fjp.applyPatch(structuredClone(obj), ops as fjp.Operation[], true, false).newDocument;
}

t.test('claim, push, sync: the record walks to a rollout record', (t) => {
  const obj = workloadObject({ annotations: { [ANNOTATIONS.currentVersion]: '1.25.0' } });
  let w = toSnapshot('Deployment', obj)!;
  const pending = pendingFor(target, [cand], now, 60_000);
  t.equal(pending.deadline, '2026-01-01T00:01:00Z', 'direct: the sync time-out');
  t.equal(
    pendingFor({ ...target, push: 'pull-request' }, [cand], now, 60_000).deadline,
    '2026-01-31T00:00:00Z',
  );
  const claim = gitClaimPatch(w, pending);
  let o = apply(obj, claim.ops);
  w = toSnapshot('Deployment', o)!;
  t.match(parseGitPending(w.annotations[ANNOTATIONS.gitPending]!), {
    ok: true,
    pending: { pushed: false, repo: target.repo },
  });
  t.throws(
    () => apply(obj, gitClaimPatch({ ...w, resourceVersion: 'other' }, pending).ops),
    'a stale claim fails its test',
  );

  const pushed = gitPushedPatch(
    w,
    claim.value,
    { ...pending, pushed: true, commit: 'abc123', branch: 'main' },
    ['app'],
  );
  o = apply(o, pushed.ops);
  w = toSnapshot('Deployment', o)!;
  t.equal(w.annotations[ANNOTATIONS.lastPushedVersion], '1.25.1');
  // The claim dropped meanwhile: the push is recorded guarded by the object's version.
  const unclaimed = gitPushedPatch(w, undefined, { ...pending, pushed: true }, ['app']).ops;
  t.same(unclaimed[0], { op: 'test', path: '/metadata/resourceVersion', value: w.resourceVersion });
  t.throws(() =>
    apply(o, gitPushedPatch({ ...w, resourceVersion: 'other' }, undefined, pending, ['app']).ops),
  );
  t.same(notYetPushed(w, [cand], 1), [], 'written once');
  t.same(notYetPushed(w, [{ ...cand, newVersion: '1.25.2' }], 1).length, 1, 'a newer one is written');
  t.equal(synced(w, pending.changes), false);

  // The GitOps controller syncs the new image.
  const live = structuredClone(o) as { spec: { template: { spec: { containers: { image: string }[] } } } };
  live.spec.template.spec.containers[0]!.image = 'nginx:1.25.1';
  w = toSnapshot('Deployment', live)!;
  t.equal(synced(w, pending.changes), true);
  const ops = gitSyncedPatch(w, pushed.value, pending, w.containers, now, new Date(now.getTime() + 5000));
  t.notOk(
    ops.some((op) => op.path.endsWith('/image')),
    'the image is not touched',
  );
  const syncedObj = apply(live, ops);
  const after = toSnapshot('Deployment', syncedObj)!;
  t.equal(after.annotations[ANNOTATIONS.gitPending], undefined);
  t.match(after.annotations, {
    [ANNOTATIONS.previousVersion]: '1.25.0',
    [ANNOTATIONS.currentVersion]: '1.25.1',
    [ANNOTATIONS.rollout]: /"deadline":"2026-01-01T00:00:05Z"/,
  });

  const reverted = toSnapshot('Deployment', apply(syncedObj, gitRevertedPatch(after, [cand], ['app'])))!;
  t.match(reverted.annotations, {
    [ANNOTATIONS.lastFailedVersion]: '1.25.1',
    [ANNOTATIONS.currentVersion]: '1.25.0',
  });
  t.equal(reverted.annotations[ANNOTATIONS.rollout], undefined);
  t.equal(reverted.containers[0]?.image, 'nginx:1.25.1', 'no live rollback: Git reverts it');
  t.end();
});

t.test('the rollout record of a Git update names its target; the rollback follows it', (t) => {
  const secretTarget = {
    ...target,
    branch: 'prod',
    path: 'apps',
    push: 'pull-request' as const,
    secret: 'creds',
  };
  const pending = { ...pendingFor(secretTarget, [cand], now, 1), pushed: true };
  t.match(parseGitPending(encodeGitPending(pending)), {
    ok: true,
    pending: { path: 'apps', secret: 'creds' },
  });
  const w = toSnapshot('Deployment', workloadObject({}))!;
  const ops = gitSyncedPatch(w, encodeGitPending(pending), pending, w.containers, now, now);
  const record = ops.find((op) => op.path.endsWith('image-watcher~1rollout'))?.value as string;
  const recorded = { ...secretTarget, push: 'direct' as const };
  t.same(rolloutGitTarget(record), recorded, 'reverts go to the branch itself');
  const live = JSON.stringify({ deadline: pending.deadline, changes: pending.changes });
  t.equal(rolloutGitTarget(live), undefined);
  t.equal(rolloutGitTarget('nope'), undefined);
  t.equal(rolloutGitTarget(JSON.stringify({ git: { repo: target.repo } })), undefined, 'no path: unknown');

  const bare = snapshotOf({});
  const argo = snapshotOf({ labels: { 'argocd.argoproj.io/instance': 'shop' } });
  const pushed = snapshotOf({ annotations: { [ANNOTATIONS.lastPushedVersion]: '1.25.1' } });
  const base = { changes: [cand], gitSeen: false };
  const settingsGit = { kind: 'git' as const, target };
  const rows: [string, Parameters<typeof rollbackPlan>[0], string][] = [
    ['settings say git', { ...base, record: live, plan: settingsGit, w: bare }, 'git'],
    ['settings say live, the record names Git', { ...base, record, plan: { kind: 'live' }, w: bare }, 'git'],
    ['unreadable settings, the record names Git', { ...base, record, plan: undefined, w: argo }, 'git'],
    ['settings say live, a live record', { ...base, record: live, plan: { kind: 'live' }, w: bare }, 'live'],
    ['unreadable, no sign of Git', { ...base, record: live, plan: undefined, w: bare }, 'live'],
    ['unreadable, a GitOps owner', { ...base, record: live, plan: undefined, w: argo }, 'unknown'],
    [
      'unreadable, a Git write seen',
      { ...base, record: live, plan: undefined, w: bare, gitSeen: true },
      'unknown',
    ],
    ['unreadable, the version pushed', { ...base, record: live, plan: undefined, w: pushed }, 'unknown'],
  ];
  for (const [name, input, kind] of rows) t.equal(rollbackPlan(input).kind, kind, name);
  t.same(rollbackPlan({ ...base, record, plan: undefined, w: argo }), { kind: 'git', target: recorded });
  t.match(rollbackPlan({ ...base, record: live, plan: undefined, w: argo }), {
    reason: /synced from Git by Argo CD.*no Git target/,
  });
  t.end();
});

t.test('unreadable records', (t) => {
  t.match(parseGitPending('nope'), { ok: false, reason: /JSON/ });
  const noGit = encodeGitPending({ ...pendingFor(target, [cand], now, 1), pushed: false }).replace(
    /,"git":\{.*\}\}$/,
    '}',
  );
  t.match(parseGitPending(noGit), { ok: false, reason: /no "git" object/ });
  t.end();
});

t.test('snapshot helper round trip keeps owner labels', (t) => {
  t.equal(
    snapshotOf({ labels: { 'argocd.argoproj.io/instance': 'x' } }).gitopsOwner,
    'Argo CD (argocd.argoproj.io/instance=x)',
  );
  t.end();
});
