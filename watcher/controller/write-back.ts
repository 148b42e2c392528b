// The Git write-back: where updates go, the claimed push, and revert commits.
import { ANNOTATIONS } from '../../shared/annotations.ts';
import type { WatchSettings } from '../../shared/annotations.ts';
import { ImageWatcherError } from '../../shared/errors.ts';
import type { WorkloadCheck } from '../check/checker.ts';
import type { Candidate } from '../check/decide.ts';
import { safeUrl } from '../gitops/git.ts';
import {
  gitClaimPatch,
  gitDropPatch,
  gitPushedPatch,
  gitRevertedPatch,
  notYetPushed,
  pendingFor,
  writePlan,
} from '../gitops/state.ts';
import type { GitPending, WritePlan } from '../gitops/state.ts';
import type { GitTarget, WriteBackResult } from '../gitops/writeback.ts';
import type { WorkloadSnapshot } from '../kube/types.ts';
import type { ReconcileResult } from '../reconcile/queue.ts';
import { isPatchConflict } from '../update/conflict.ts';
import { describe, labelsOf, noticesFor, recordEvent } from '../update/updater.ts';
import type { Ctx } from './context.ts';
import { adopt, patchAdopted, refresh } from './entries.ts';
import { gitLink, gitViewOf } from './git-view.ts';
import { notesFor } from './notes.ts';
import { workloadKey } from './state.ts';
import type { Entry } from './state.ts';

/** Where this workload's updates go (see gitops/state.ts writePlan). */
export function planFor(ctx: Ctx, w: WorkloadSnapshot, settings: WatchSettings): WritePlan {
  const g = ctx.deps.gitops;
  const plan = writePlan(w, settings, g?.defaults ?? { repo: undefined, secret: undefined });
  if (plan.kind === 'git' && !g) {
    return {
      kind: 'blocked',
      reason: 'image-watcher/write-back is git but this watcher has no Git write-back',
    };
  }
  return plan;
}

/**
 * What a Git write did: pushed (Git holds the versions, whether or not the record could be
 * stamped), failed (with `code: reason`), conflict (the claim lost to a newer object: nothing
 * written), or held (nothing to write).
 */
export type GitWriteOutcome =
  | { kind: 'pushed' | 'conflict' | 'held'; result: ReconcileResult }
  | { kind: 'failed'; result: ReconcileResult; error: string };

/**
 * Writes candidates to Git: claim (git-pending, before the push, so a crash cannot lose or
 * repeat a push), push, record the commit. The live object is left to the GitOps controller;
 * git-pending is looked at until the live images show the new versions.
 */
export async function writeToGit(
  ctx: Ctx,
  c: WorkloadCheck,
  candidates: Candidate[],
  target: GitTarget,
  manual = false,
): Promise<GitWriteOutcome> {
  const g = ctx.deps.gitops!;
  let w = c.snapshot;
  const key = workloadKey(w);
  const labels = labelsOf(w);
  const log = ctx.log.child({ workload: labels });
  const names = c.watched.map((x) => x.info.name);
  const passId = ctx.pass?.id ?? 0;
  const failKey = (cand: Candidate) => `${key}|${cand.container}=${cand.newVersion}`;
  const todo = manual
    ? candidates
    : notYetPushed(w, candidates, names.length).filter(
        (cand) => !ctx.gitFailed.failedIn(passId, failKey(cand)),
      );
  if (todo.length === 0) {
    log.info(
      { decision: 'held_back' },
      'held back: written to Git (waiting for the sync) or failed in this pass',
    );
    return { kind: 'held', result: {} };
  }
  const now = ctx.deps.now();
  const pending = pendingFor(target, todo, now, ctx.deps.config.rolloutTimeoutMs);
  const claim = gitClaimPatch(w, pending);
  try {
    w = await ctx.deps.gateway.patchWorkload(w.kind, w.namespace, w.name, claim.ops);
  } catch (err) {
    if (!isPatchConflict(err)) throw err;
    return { kind: 'conflict', result: await refresh(ctx, w) };
  }
  adopt(ctx, w);
  const notes = await Promise.all(todo.map((cand) => notesFor(ctx, c, cand)));
  ctx.gitInFlight.add(key);
  let res: WriteBackResult;
  try {
    res = await g.writeBack.submit({
      kind: 'update',
      workload: { kind: w.kind, namespace: w.namespace, name: w.name },
      target,
      changes: todo.map((cand, i) => ({
        container: cand.container,
        image: cand.image,
        currentVersion: cand.currentVersion,
        newVersion: cand.newVersion,
        change: cand.change,
        releaseNotesUrl: notes[i]?.releaseNotes?.url,
      })),
    });
  } finally {
    ctx.gitInFlight.delete(key);
  }
  if (res.result === 'failed') {
    await patchAdopted(ctx, w, gitDropPatch(claim.value));
    const fresh = ctx.entries.get(key); // adopting the drop replaced the entry
    if (fresh) fresh.gitError = `${res.code}: ${res.reason}`;
    for (const cand of todo) ctx.gitFailed.record(passId, failKey(cand));
    ctx.deps.metrics.observeUpdate(labels, 'failed');
    log.warn({ code: res.code, reason: res.reason, decision: 'failed' }, 'cannot write the update to Git');
    await recordEvent(
      { gateway: ctx.deps.gateway, logger: ctx.log },
      w,
      'Warning',
      'GitWriteBackFailed',
      `cannot write ${describe(todo)} to ${safeUrl(target.repo)}: ${res.reason}`,
    );
    await ctx.deps.notify(noticesFor('failed', w, todo, { detail: `Git write-back failed: ${res.reason}` }));
    return { kind: 'failed', result: {}, error: `${res.code}: ${res.reason}` };
  }
  for (const cand of todo) ctx.gitFailed.delete(failKey(cand));
  const done: GitPending = {
    ...pending,
    branch: res.branch,
    commit: res.commit,
    url: res.url,
    pushed: true,
  };
  if (!(await patchAdopted(ctx, w, gitPushedPatch(w, claim.value, done, names).ops))) {
    await stampAfterConflict(ctx, w, done, names);
  }
  const after = ctx.entries.get(key);
  if (after) {
    after.git = gitViewOf(after.snapshot) ?? after.git;
    after.gitError = undefined;
  }
  const link = gitLink({ repo: target.repo, branch: res.branch, commit: res.commit, url: res.url });
  for (const cand of todo) {
    log.info(
      {
        container: cand.container,
        from: cand.currentVersion,
        to: cand.newVersion,
        decision: 'pushed',
        commit: res.commit,
        branch: res.branch,
        url: res.url,
      },
      res.inBase
        ? 'the base branch already holds the version (merged); waiting for the sync'
        : res.result === 'unchanged'
          ? 'Git already holds the version'
          : 'written to Git; waiting for the sync',
    );
  }
  await recordEvent(
    { gateway: ctx.deps.gateway, logger: ctx.log },
    w,
    'Normal',
    'GitPushed',
    `wrote ${describe(todo)} to Git: ${link}`,
  );
  if (target.push !== 'direct' && !res.inBase) {
    // Waits for a reviewer: say where.
    await ctx.deps.notify(
      noticesFor('available', w, todo, { detail: `Proposed in Git for review: ${link}` }).map((x, i) => ({
        ...x,
        ...notes[i],
      })),
    );
  }
  return {
    kind: 'pushed',
    result: target.push === 'direct' ? { requeueAfter: Date.parse(done.deadline) - now.getTime() } : {},
  };
}

/**
 * The claim changed while pushing. Git holds the versions either way: with no record left (the
 * claim was dropped, e.g. by a replica that took it for abandoned) the pushed record is written
 * on the fresh object, so the sync is awaited and the version never written again; a newer
 * record is someone else's write, which records its own push.
 */
async function stampAfterConflict(
  ctx: Ctx,
  w: WorkloadSnapshot,
  done: GitPending,
  names: readonly string[],
): Promise<void> {
  const log = ctx.log.child({ workload: labelsOf(w) });
  const fresh = await ctx.deps.gateway.getWorkload(w.kind, w.namespace, w.name);
  if (fresh) adopt(ctx, fresh);
  if (fresh?.uid !== w.uid) {
    log.warn('the workload was deleted or replaced while pushing to Git; not recording the push');
    return;
  }
  if (fresh.annotations[ANNOTATIONS.gitPending] !== undefined) {
    log.warn('the Git record changed while pushing (a newer write); it records its own push');
    return;
  }
  if (!(await patchAdopted(ctx, fresh, gitPushedPatch(fresh, undefined, done, names).ops))) {
    // Still moving: the next pass finds the version unrecorded and writes it again, a no-op in Git.
    log.warn('the workload changed again while recording the Git push; the next pass records it');
  }
}

/** A failed rollout of a Git update: a revert commit, the failed versions recorded, no live patch. */
export async function revertInGit(
  ctx: Ctx,
  e: Entry,
  target: GitTarget,
  candidates: Candidate[],
  watched: string[],
  reason: string,
): Promise<ReconcileResult> {
  const w = e.snapshot;
  const labels = labelsOf(w);
  const res = await ctx.deps.gitops!.writeBack.submit({
    kind: 'revert',
    workload: { kind: w.kind, namespace: w.namespace, name: w.name },
    // Reverts land on the branch the GitOps controller syncs, never on a review branch.
    target: { ...target, push: 'direct' },
    reason,
    changes: candidates.map((c) => ({
      container: c.container,
      image: c.newImage,
      currentVersion: c.newVersion,
      newVersion: c.currentVersion,
      change: c.change,
    })),
  });
  if (res.result === 'failed') {
    // The record stays: the next reconcile (with backoff) tries the revert again.
    throw new ImageWatcherError(
      res.code,
      `rollout failed (${reason}); cannot write the revert to Git: ${res.reason}`,
    );
  }
  if (!(await patchAdopted(ctx, w, gitRevertedPatch(w, candidates, watched)))) return refresh(ctx, w);
  const link = gitLink({ repo: target.repo, branch: res.branch, commit: res.commit, url: res.url });
  e.git = { repo: target.repo, branch: res.branch, commit: res.commit, url: res.url, pending: false };
  for (const cand of candidates) {
    ctx.log.warn(
      {
        workload: labels,
        container: cand.container,
        from: cand.newVersion,
        to: cand.currentVersion,
        decision: 'rolled_back',
        reason,
        commit: res.commit,
      },
      'rollout failed; reverted in Git',
    );
  }
  ctx.deps.metrics.observeUpdate(labels, 'rolled_back');
  await recordEvent(
    { gateway: ctx.deps.gateway, logger: ctx.log },
    w,
    'Warning',
    'UpdateRolledBack',
    `rollout of ${describe(candidates)} failed (${reason}); reverted in Git (${link}), the version will not be written again`,
  );
  await ctx.deps.notify(
    noticesFor('rolled_back', w, candidates, { detail: `${reason}; reverted in Git: ${link}` }),
  );
  return {};
}
