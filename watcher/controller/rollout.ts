// Watching what was written reach the cluster: a live rollout (complete, superseded, rolled back)
// and a Git write-back until the live object shows it.
import { ANNOTATIONS } from '../../shared/annotations.ts';
import type { WatchSettings } from '../../shared/annotations.ts';
import { parsePendingRollout } from '../../shared/pending-rollout.ts';
import { watchedContainers } from '../check/decide.ts';
import type { Candidate } from '../check/decide.ts';
import { safeUrl } from '../gitops/git.ts';
import { gitDropPatch, gitSyncedPatch, parseGitPending, rollbackPlan, synced } from '../gitops/state.ts';
import type { WorkloadSnapshot } from '../kube/types.ts';
import type { ReconcileResult } from '../reconcile/queue.ts';
import { isPatchConflict } from '../update/conflict.ts';
import { judgeRollout } from '../update/rollout.ts';
import { clearRollout, describe, labelsOf, noticesFor, recordEvent, rollBack } from '../update/updater.ts';
import type { Ctx } from './context.ts';
import { adopt, note, patchAdopted, refresh } from './entries.ts';
import { gitLink } from './git-view.ts';
import { notesFor } from './notes.ts';
import { workloadKey } from './state.ts';
import type { Entry } from './state.ts';
import { planFor, revertInGit } from './write-back.ts';

/** The patched object carries the rollout record: judge it at once (a CronJob completes now). */
export function judgeNow(ctx: Ctx, patched: WorkloadSnapshot): Promise<ReconcileResult> {
  adopt(ctx, patched);
  const e = ctx.entries.get(workloadKey(patched));
  const record = e?.snapshot.annotations[ANNOTATIONS.rollout];
  return e && record !== undefined ? reconcileRollout(ctx, e, record) : Promise.resolve({});
}

/** A recorded rollout: complete -> clear and count; failed or late -> roll back; else look later. */
export async function reconcileRollout(ctx: Ctx, e: Entry, value: string): Promise<ReconcileResult> {
  const w = e.snapshot;
  const labels = labelsOf(w);
  const log = ctx.log.child({ workload: labels });
  const parsed = parsePendingRollout(value);
  if (!parsed.ok) {
    log.warn({ reason: parsed.reason }, 'unreadable image-watcher/rollout annotation; dropping it');
    await clearRecord(ctx, w);
    return {};
  }
  const candidates: Candidate[] = parsed.rollout.changes.map((c) => ({ ...c }));
  const verdict = judgeRollout(
    w,
    parsed.rollout,
    ctx.deps.now().getTime(),
    ctx.deps.config.rolloutPollMs ?? 5000,
  );
  switch (verdict.kind) {
    case 'wait':
      // Right after our own update the plan says `update`; a rollout found running says `rollout`.
      note(ctx, workloadKey(w), candidates, 'rollout', { keep: true });
      log.debug({ reason: verdict.reason }, 'rollout in progress');
      return { requeueAfter: verdict.requeueAfterMs };
    case 'superseded':
      log.info(
        { decision: 'superseded' },
        'the images changed since the update; its rollout is no longer ours',
      );
      await clearRecord(ctx, w);
      return {};
    case 'complete': {
      await clearRecord(ctx, w);
      ctx.deps.metrics.observeUpdate(labels, 'success');
      for (const cand of candidates) {
        log.info(
          {
            container: cand.container,
            from: cand.currentVersion,
            to: cand.newVersion,
            decision: 'rollout_complete',
          },
          'rollout complete',
        );
      }
      const notices = await Promise.all(
        noticesFor('updated', w, candidates).map(async (x, i) => ({
          ...x,
          ...(e.git ? { detail: `written to Git: ${gitLink(e.git)}` } : {}),
          ...(e.settings
            ? await notesFor(ctx, { key: workloadKey(w), snapshot: w, settings: e.settings }, candidates[i]!)
            : {}),
        })),
      );
      await ctx.deps.notify(notices);
      return {};
    }
    case 'rollback': {
      const watched = (e.settings ? watchedContainers(w.containers, e.settings) : w.containers).map(
        (c) => c.name,
      );
      const plan = rollbackPlan({
        record: value,
        plan: e.settings ? planFor(ctx, w, e.settings) : undefined,
        w,
        changes: candidates,
        gitSeen: e.git !== undefined,
      });
      // Synced from Git: a live rollback would be undone; the revert is a commit.
      if (plan.kind === 'git') {
        if (ctx.deps.gitops) return revertInGit(ctx, e, plan.target, candidates, watched, verdict.reason);
        return rollbackBlocked(ctx, e, candidates, verdict.reason, 'this watcher has no Git write-back');
      }
      if (plan.kind === 'unknown') return rollbackBlocked(ctx, e, candidates, verdict.reason, plan.reason);
      try {
        adopt(ctx, await rollBack({ gateway: ctx.deps.gateway }, w, candidates, watched));
      } catch (err) {
        if (isPatchConflict(err)) return refresh(ctx, w); // a newer snapshot decides
        throw err;
      }
      for (const cand of candidates) {
        log.warn(
          {
            container: cand.container,
            from: cand.newVersion,
            to: cand.currentVersion,
            decision: 'rolled_back',
            reason: verdict.reason,
          },
          'rollout failed; rolled back',
        );
      }
      note(ctx, workloadKey(w), candidates, 'rolled-back');
      ctx.deps.metrics.observeUpdate(labels, 'rolled_back');
      await recordEvent(
        { gateway: ctx.deps.gateway, logger: ctx.log },
        w,
        'Warning',
        'UpdateRolledBack',
        `rollout of ${describe(candidates)} failed (${verdict.reason}); rolled back, the version will not be tried again`,
      );
      await ctx.deps.notify(noticesFor('rolled_back', w, candidates, { detail: verdict.reason }));
      return {};
    }
  }
}

/**
 * A failed rollout that can be undone neither in Git nor live: said once (log, event, notice) and
 * the record kept, so fixed annotations revert it in Git and a revert made in Git (new images)
 * supersedes it.
 */
async function rollbackBlocked(
  ctx: Ctx,
  e: Entry,
  candidates: Candidate[],
  reason: string,
  why: string,
): Promise<ReconcileResult> {
  const w = e.snapshot;
  const detail = `rollout of ${describe(candidates)} failed (${reason}) and is not rolled back: ${why}${e.settingsError ? ` (${e.settingsError})` : ''}. Revert it in Git, or fix the annotations so image-watcher reverts it in Git.`;
  const error = `E_ROLLBACK_BLOCKED: ${detail}`;
  if (e.lastError === error) return {};
  e.lastError = error;
  const labels = labelsOf(w);
  for (const cand of candidates) {
    ctx.log.warn(
      {
        workload: labels,
        container: cand.container,
        from: cand.newVersion,
        to: cand.currentVersion,
        decision: 'rollback_blocked',
        reason,
      },
      detail,
    );
  }
  ctx.deps.metrics.observeUpdate(labels, 'failed');
  await recordEvent({ gateway: ctx.deps.gateway, logger: ctx.log }, w, 'Warning', 'RollbackBlocked', detail);
  await ctx.deps.notify(noticesFor('failed', w, candidates, { detail }));
  return {};
}

async function clearRecord(ctx: Ctx, w: WorkloadSnapshot): Promise<void> {
  try {
    const cleared = await clearRollout({ gateway: ctx.deps.gateway }, w);
    if (cleared) adopt(ctx, cleared);
  } catch (err) {
    if (!isPatchConflict(err)) throw err;
  }
}

/**
 * A workload with versions in Git: once the live object shows them, the record becomes a
 * rollout record (judged like a live update's); late, it is dropped with a notice. Undefined:
 * a branch or pull request awaiting its merge, the usual check goes on (a newer version
 * updates the request).
 */
export async function reconcileGitPending(
  ctx: Ctx,
  e: Entry,
  settings: WatchSettings,
  value: string,
): Promise<ReconcileResult | undefined> {
  const w = e.snapshot;
  const key = workloadKey(w);
  const log = ctx.log.child({ workload: labelsOf(w) });
  const drop = async () => {
    await patchAdopted(ctx, w, gitDropPatch(value));
  };
  const parsed = parseGitPending(value);
  if (!parsed.ok) {
    log.warn({ reason: parsed.reason }, 'unreadable image-watcher/git-pending annotation; dropping it');
    await drop();
    return { requeueAfter: 0 };
  }
  const p = parsed.pending;
  if (!p.pushed) {
    if (ctx.gitInFlight.has(key)) return {};
    // Claimed by a run that stopped before it finished: write again (Git keeps it idempotent).
    log.info('a Git write was left unfinished; writing it again');
    await drop();
    return { requeueAfter: 0 };
  }
  const now = ctx.deps.now();
  if (synced(w, p.changes)) {
    const watched = watchedContainers(w.containers, settings);
    let patched: WorkloadSnapshot;
    try {
      patched = await ctx.deps.gateway.patchWorkload(
        w.kind,
        w.namespace,
        w.name,
        gitSyncedPatch(w, value, p, watched, now, new Date(now.getTime() + ctx.deps.config.rolloutTimeoutMs)),
      );
    } catch (err) {
      if (isPatchConflict(err)) return refresh(ctx, w);
      throw err;
    }
    for (const cand of p.changes) {
      log.info(
        {
          container: cand.container,
          from: cand.currentVersion,
          to: cand.newVersion,
          decision: 'updated',
          commit: p.commit,
        },
        'the Git change is live; watching the rollout',
      );
    }
    await recordEvent(
      { gateway: ctx.deps.gateway, logger: ctx.log },
      patched,
      'Normal',
      'ImageUpdated',
      `image-watcher updated ${describe(p.changes)} through Git (${gitLink(p)})`,
    );
    return judgeNow(ctx, patched);
  }
  if (p.push !== 'direct') return undefined;
  const left = Date.parse(p.deadline) - now.getTime();
  if (left > 0) return { requeueAfter: left };
  await drop();
  const detail = `written to Git (${gitLink(p)}) but not live within ROLLOUT_TIMEOUT: is the GitOps controller syncing ${safeUrl(p.repo)}? The version will not be written again.`;
  log.warn({ decision: 'failed', commit: p.commit }, detail);
  ctx.deps.metrics.observeUpdate(labelsOf(w), 'failed');
  const entry = ctx.entries.get(key);
  if (entry) entry.gitError = `E_GIT_NOT_SYNCED: ${detail}`;
  await ctx.deps.notify(noticesFor('failed', w, p.changes, { detail }));
  return {};
}
