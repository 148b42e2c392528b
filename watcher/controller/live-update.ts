// The live update: patch the images, then judge the rollout that follows.
import type { WorkloadCheck } from '../check/checker.ts';
import type { Candidate } from '../check/decide.ts';
import type { ReconcileResult } from '../reconcile/queue.ts';
import { labelsOf, noticesFor, writeUpdate } from '../update/updater.ts';
import type { Ctx } from './context.ts';
import { refresh } from './entries.ts';
import { judgeNow } from './rollout.ts';

/** Applies candidates; the rollout is judged by the reconciles that follow. */
export async function updateLive(
  ctx: Ctx,
  c: WorkloadCheck,
  candidates: Candidate[],
): Promise<ReconcileResult> {
  const log = ctx.log.child({ workload: labelsOf(c.snapshot) });
  const outcome = await writeUpdate(updaterDeps(ctx), {
    snapshot: c.snapshot,
    candidates,
    watched: c.watched,
  });
  if (outcome.result === 'conflict') {
    log.info('image changed since the check; will check again');
    return refresh(ctx, c.snapshot);
  }
  if (outcome.result === 'failed') {
    await ctx.deps.notify(noticesFor('failed', c.snapshot, candidates, { detail: outcome.reason }));
    return {};
  }
  for (const cand of candidates) {
    log.info(
      { container: cand.container, from: cand.currentVersion, to: cand.newVersion, decision: 'updated' },
      'image updated; watching the rollout',
    );
  }
  return judgeNow(ctx, outcome.snapshot);
}

export function updaterDeps(ctx: Ctx) {
  return {
    gateway: ctx.deps.gateway,
    metrics: ctx.deps.metrics,
    logger: ctx.log,
    now: ctx.deps.now,
    rolloutTimeoutMs: ctx.deps.config.rolloutTimeoutMs,
  };
}
