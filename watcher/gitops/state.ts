// Pure decisions and patches of the Git write-back. The state lives in the workload's annotations
// so any replica, after any restart, carries on where the last one stopped:
//   git-pending          versions being written to Git, or written and not yet seen live (JSON);
//   last-pushed-version  versions written to Git: never written again.
// Once the live object shows the new images, git-pending becomes the ordinary rollout record and
// the rollout is judged like a live update's.
import type { GitPush, WatchSettings } from '../../shared/annotations.ts';
import { ANNOTATIONS, formatTimestamp } from '../../shared/annotations.ts';
import type { ImageReference } from '../../shared/image-ref.ts';
import { parseImageReference } from '../../shared/image-ref.ts';
import type { PendingChange } from '../../shared/pending-rollout.ts';
import { encodePendingRollout, parsePendingRollout } from '../../shared/pending-rollout.ts';
import type { Candidate } from '../check/decide.ts';
import {
  annotationPath,
  mergeVersions,
  rollbackPatch,
  updatePatch,
  versionFor,
  withAnnotationsMap,
} from '../check/decide.ts';
import type { ContainerInfo, JsonPatchOp, WorkloadSnapshot } from '../kube/types.ts';
import type { GitTarget } from './writeback.ts';

/** Cluster-wide defaults (GIT_REPO, GIT_SECRET). */
export interface GitDefaults {
  repo: string | undefined;
  secret: string | undefined;
}

/**
 * Where a workload's updates go: a Git target, live patches, or nowhere with a reason (write-back
 * git without a repository; a workload synced by Argo CD or Flux without a Git target, whose live
 * patch the GitOps controller would undo).
 */
export type WritePlan =
  { kind: 'git'; target: GitTarget } | { kind: 'live' } | { kind: 'blocked'; reason: string };

export function writePlan(
  w: Pick<WorkloadSnapshot, 'gitopsOwner'>,
  settings: Pick<WatchSettings, 'writeBack' | 'gitRepo' | 'gitBranch' | 'gitPath' | 'gitSecret' | 'gitPush'>,
  defaults: GitDefaults,
): WritePlan {
  const how =
    'set image-watcher/write-back: git and image-watcher/git-repo (or GIT_REPO) to update through Git';
  if (settings.writeBack === 'git') {
    const repo = settings.gitRepo ?? defaults.repo;
    if (repo === undefined) {
      return {
        kind: 'blocked',
        reason:
          'image-watcher/write-back is git but no repository is set: set image-watcher/git-repo or GIT_REPO',
      };
    }
    return {
      kind: 'git',
      target: {
        repo,
        branch: settings.gitBranch,
        path: settings.gitPath ?? '.',
        push: settings.gitPush ?? 'direct',
        secret: settings.gitSecret ?? defaults.secret,
      },
    };
  }
  if (w.gitopsOwner !== undefined) {
    return {
      kind: 'blocked',
      reason: `synced from Git by ${w.gitopsOwner}: a live patch would be undone by it; ${how}`,
    };
  }
  return { kind: 'live' };
}

export interface GitPending {
  /** Direct pushes: when the sync counts as late. Branches and pull requests wait for a merge. */
  deadline: string;
  changes: PendingChange[];
  repo: string;
  branch: string | undefined;
  push: GitPush;
  commit?: string | undefined;
  url?: string | undefined;
  /** Where in the repository and with which Secret: a revert needs them when the annotations cannot be read. */
  path?: string | undefined;
  secret?: string | undefined;
  /** False while the push runs (the claim); true once Git holds the versions. */
  pushed: boolean;
}

export function encodeGitPending(p: GitPending): string {
  const base = JSON.parse(encodePendingRollout({ deadline: p.deadline, changes: p.changes })) as object;
  return JSON.stringify({
    ...base,
    git: {
      repo: p.repo,
      push: p.push,
      pushed: p.pushed,
      ...(p.branch !== undefined ? { branch: p.branch } : {}),
      ...(p.commit !== undefined ? { commit: p.commit } : {}),
      ...(p.url !== undefined ? { url: p.url } : {}),
      ...(p.path !== undefined ? { path: p.path } : {}),
      ...(p.secret !== undefined ? { secret: p.secret } : {}),
    },
  });
}

const PUSHES: readonly GitPush[] = ['direct', 'branch', 'pull-request'];

export function parseGitPending(
  value: string,
): { ok: true; pending: GitPending } | { ok: false; reason: string } {
  const base = parsePendingRollout(value);
  if (!base.ok) return base;
  const git = (JSON.parse(value) as { git?: Record<string, unknown> }).git;
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const repo = str(git?.repo);
  const push = str(git?.push) as GitPush | undefined;
  if (repo === undefined || push === undefined || !PUSHES.includes(push)) {
    return { ok: false, reason: 'has no "git" object with repo and push' };
  }
  return {
    ok: true,
    pending: {
      ...base.rollout,
      repo,
      push,
      branch: str(git?.branch),
      commit: str(git?.commit),
      url: str(git?.url),
      path: str(git?.path),
      secret: str(git?.secret),
      pushed: git?.pushed === true,
    },
  };
}

/** Candidates already written to Git (last-pushed-version) are not written again. */
export function notYetPushed(
  w: Pick<WorkloadSnapshot, 'annotations'>,
  candidates: readonly Candidate[],
  watchedCount: number,
): Candidate[] {
  return candidates.filter(
    (c) =>
      versionFor(w.annotations[ANNOTATIONS.lastPushedVersion], c.container, watchedCount) !== c.newVersion,
  );
}

/** Claims the write before the push, guarded so one replica (or one run) writes. */
export function gitClaimPatch(
  w: WorkloadSnapshot,
  pending: GitPending,
): { ops: JsonPatchOp[]; value: string } {
  const value = encodeGitPending(pending);
  const old = w.annotations[ANNOTATIONS.gitPending];
  const guard: JsonPatchOp =
    old === undefined
      ? { op: 'test', path: '/metadata/resourceVersion', value: w.resourceVersion }
      : { op: 'test', path: annotationPath(ANNOTATIONS.gitPending), value: old };
  return {
    value,
    ops: withAnnotationsMap(w, [guard, { op: 'add', path: annotationPath(ANNOTATIONS.gitPending), value }]),
  };
}

/**
 * After the push: the commit joins the record and the versions last-pushed-version. Guarded by
 * the claim; without one (the claim was dropped meanwhile) by the object's resourceVersion.
 */
export function gitPushedPatch(
  w: WorkloadSnapshot,
  claimed: string | undefined,
  pending: GitPending,
  watchedNames: readonly string[],
): { ops: JsonPatchOp[]; value: string } {
  const value = encodeGitPending(pending);
  const changes = new Map(pending.changes.map((c) => [c.container, c.newVersion]));
  const guard: JsonPatchOp =
    claimed === undefined
      ? { op: 'test', path: '/metadata/resourceVersion', value: w.resourceVersion }
      : { op: 'test', path: annotationPath(ANNOTATIONS.gitPending), value: claimed };
  return {
    value,
    ops: withAnnotationsMap(w, [
      guard,
      { op: 'add', path: annotationPath(ANNOTATIONS.gitPending), value },
      {
        op: 'add',
        path: annotationPath(ANNOTATIONS.lastPushedVersion),
        value: mergeVersions(w, ANNOTATIONS.lastPushedVersion, watchedNames, changes),
      },
    ]),
  };
}

/** Drops the record (the push failed, or waiting for the sync has timed out). */
export function gitDropPatch(claimed: string): JsonPatchOp[] {
  const path = annotationPath(ANNOTATIONS.gitPending);
  return [
    { op: 'test', path, value: claimed },
    { op: 'remove', path },
  ];
}

/** True when every written image is what the live object now runs. */
export function synced(w: Pick<WorkloadSnapshot, 'containers'>, changes: readonly PendingChange[]): boolean {
  const byName = new Map(w.containers.map((c) => [c.name, c.image]));
  return changes.every((c) => byName.get(c.container) === c.newImage);
}

/**
 * The sync arrived: the history annotations are written as for a live update (previous-version,
 * current-version, last-updated...) and git-pending becomes the rollout record, in one patch
 * guarded by the record's value. The images are not touched: the GitOps controller wrote them.
 * The rollout record keeps the Git target, so a failed rollout is reverted in Git even when the
 * annotations can no longer be read.
 */
export function gitSyncedPatch(
  w: WorkloadSnapshot,
  value: string,
  pending: GitPending,
  watched: readonly ContainerInfo[],
  now: Date,
  rolloutDeadline: Date,
): JsonPatchOp[] {
  const changes = pending.changes;
  const before = new Map(changes.map((c) => [c.container, c.image]));
  const refs: { info: ContainerInfo; ref: ImageReference }[] = [];
  for (const info of watched) {
    try {
      refs.push({ info, ref: parseImageReference(before.get(info.name) ?? info.image) });
    } catch {
      // An image we cannot read is not one of ours to record.
    }
  }
  const paths = new Set(changes.map((c) => c.imagePath));
  const recordPath = annotationPath(ANNOTATIONS.rollout);
  const ops = updatePatch(w, changes, refs, now, rolloutDeadline)
    .filter((op) => !paths.has(op.path))
    .map((op) =>
      op.path === recordPath && op.op === 'add' && typeof op.value === 'string'
        ? { ...op, value: withRolloutGit(op.value, pending) }
        : op,
    );
  const path = annotationPath(ANNOTATIONS.gitPending);
  return [{ op: 'test', path, value }, { op: 'remove', path }, ...ops];
}

/** The rollout record of a Git update: the record plus where the update was written. */
function withRolloutGit(record: string, p: GitPending): string {
  return JSON.stringify({
    ...(JSON.parse(record) as object),
    git: {
      repo: p.repo,
      ...(p.branch !== undefined ? { branch: p.branch } : {}),
      ...(p.path !== undefined ? { path: p.path } : {}),
      ...(p.secret !== undefined ? { secret: p.secret } : {}),
    },
  });
}

/** Where a rollout record says its update was written to Git; undefined: not recorded (live, or older). */
export function rolloutGitTarget(record: string): GitTarget | undefined {
  let git: Record<string, unknown> | undefined;
  try {
    const raw = JSON.parse(record) as { git?: unknown };
    git = typeof raw.git === 'object' && raw.git !== null ? (raw.git as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const repo = str(git?.repo);
  const path = str(git?.path);
  if (repo === undefined || path === undefined) return undefined;
  // Reverts go to the synced branch itself, whatever the update's push was.
  return { repo, branch: str(git?.branch), path, push: 'direct', secret: str(git?.secret) };
}

/**
 * How a failed rollout is undone. Never live when the update went through Git: the GitOps sync
 * would undo the rollback and the two would fight. Settings that say Git, or a record that
 * names its Git target, revert in Git; unreadable settings with signs of Git (a GitOps owner,
 * a Git write seen, the version in last-pushed-version) but no recorded target: nothing
 * (unknown, with the reason); else a live rollback, as the update was live.
 */
export type RollbackPlan =
  { kind: 'git'; target: GitTarget } | { kind: 'live' } | { kind: 'unknown'; reason: string };

export function rollbackPlan(input: {
  /** The image-watcher/rollout value. */
  record: string;
  /** From the settings; undefined when the annotations cannot be read. */
  plan: WritePlan | undefined;
  w: Pick<WorkloadSnapshot, 'annotations' | 'gitopsOwner'>;
  changes: readonly Pick<PendingChange, 'container' | 'newVersion'>[];
  /** This watcher saw a Git write of the workload. */
  gitSeen: boolean;
}): RollbackPlan {
  const { plan, w } = input;
  if (plan?.kind === 'git') return plan;
  const recorded = rolloutGitTarget(input.record);
  if (recorded) return { kind: 'git', target: recorded };
  if (plan) return { kind: 'live' };
  const pushed = w.annotations[ANNOTATIONS.lastPushedVersion];
  const sign =
    w.gitopsOwner !== undefined
      ? `it is synced from Git by ${w.gitopsOwner}`
      : input.gitSeen
        ? 'it was written to Git'
        : input.changes.some((c) => versionFor(pushed, c.container, 1) === c.newVersion)
          ? 'its version was written to Git (image-watcher/last-pushed-version)'
          : undefined;
  if (sign === undefined) return { kind: 'live' };
  return {
    kind: 'unknown',
    reason: `${sign}, but its annotations cannot be read and the rollout record names no Git target: a live rollback would be undone by the GitOps sync`,
  };
}

/**
 * After the revert commit: the failed versions join last-failed-version and the rollout record
 * goes, as after a live rollback, but the images are left to the GitOps controller.
 */
export function gitRevertedPatch(
  w: WorkloadSnapshot,
  candidates: readonly Candidate[],
  watchedNames: readonly string[],
): JsonPatchOp[] {
  const paths = new Set(candidates.map((c) => c.imagePath));
  return rollbackPatch(w, candidates, watchedNames).filter(
    (op) => !(op.op === 'replace' && paths.has(op.path)),
  );
}

/** The record written before the push. */
export function pendingFor(
  target: GitTarget,
  candidates: readonly Candidate[],
  now: Date,
  syncTimeoutMs: number,
): GitPending {
  // A branch or pull request waits for a reviewer: a month, not the sync time-out.
  const wait = target.push === 'direct' ? syncTimeoutMs : 30 * 24 * 3600_000;
  return {
    deadline: formatTimestamp(new Date(now.getTime() + wait)),
    changes: candidates.map((c) => ({ ...c })),
    repo: target.repo,
    branch: target.branch,
    push: target.push,
    path: target.path,
    secret: target.secret,
    pushed: false,
  };
}
