// Announcing versions: claim, send, stamp (notice-pending / last-notified), and the announce of
// an update that cannot be applied (blocked write-back).
import type { Held } from '../../shared/policy.ts';
import type { WorkloadCheck } from '../check/checker.ts';
import { noticeClaimPatch, noticeClaimWaitMs, noticeDonePatch, versionFor } from '../check/decide.ts';
import type { Candidate } from '../check/decide.ts';
import type { UpdateNotice } from '../notify/types.ts';
import type { ReconcileResult } from '../reconcile/queue.ts';
import { isPatchConflict } from '../update/conflict.ts';
import { describe, labelsOf, noticesFor, recordEvent } from '../update/updater.ts';
import type { Ctx } from './context.ts';
import { adopt, patchAdopted, refresh } from './entries.ts';
import { notesFor } from './notes.ts';
import { workloadKey } from './state.ts';
import type { NotifyReport } from './state.ts';

const DEFAULT_CLAIM_TTL_MS = 5 * 60_000;

/** A dispatcher report in which every channel failed and none delivered. */
function nobodyTookIt(report: unknown): boolean {
  if (!Array.isArray(report) || report.length === 0) return false;
  return (report as NotifyReport).every((r) => r.delivered === 0 && r.failed > 0);
}

/** The hold a notice for this candidate carries (a maintenance window). */
function heldFor(ctx: Ctx, c: WorkloadCheck, cand: Candidate): Held | undefined {
  const h = c.containers.find((s) => s.name === cand.container)?.held;
  return h?.reason === 'schedule' && h.version === cand.newVersion ? h : undefined;
}

/**
 * Announces versions: claim (so one replica sends), send, then stamp. A crash after the claim
 * leaves `notice-pending`; once the claim is older than its time-out the notice is sent again,
 * so it is delivered at least once and, once stamped, never again.
 */
export async function announce(
  ctx: Ctx,
  c: WorkloadCheck,
  wanted: Candidate[],
  detail?: string,
): Promise<ReconcileResult> {
  const log = ctx.log.child({ workload: labelsOf(c.snapshot) });
  const names = c.watched.map((x) => x.info.name);
  const ttl = ctx.deps.config.noticeClaimTtlMs ?? DEFAULT_CLAIM_TTL_MS;
  const now = ctx.deps.now();
  let w = c.snapshot;
  const claimed = c.state.noticePending;
  if (claimed !== undefined) {
    const e = ctx.entries.get(workloadKey(w));
    const seen = e?.claimSeen?.value === claimed ? e.claimSeen.at : now.getTime();
    if (e) e.claimSeen = { value: claimed, at: seen };
    const wait = noticeClaimWaitMs(c.state.lastNotified, seen, now.getTime(), ttl);
    if (wait > 0) {
      log.info({ decision: 'held_back' }, 'held back: another run is sending this notice');
      return { requeueAfter: wait };
    }
  }
  const claim = noticeClaimPatch(w, wanted, names, now);
  try {
    w = await ctx.deps.gateway.patchWorkload(w.kind, w.namespace, w.name, claim.ops);
  } catch (err) {
    if (!isPatchConflict(err)) throw err;
    // Another replica claimed first, or a status write moved resourceVersion: look again.
    log.debug('notice claimed elsewhere or the workload changed; looking again');
    return refresh(ctx, w);
  }
  adopt(ctx, w);
  const notices: UpdateNotice[] = [];
  for (const cand of wanted) {
    log.info(
      { container: cand.container, from: cand.currentVersion, to: cand.newVersion, decision: 'notified' },
      'newer version available; notifying',
    );
    const approvalUrl = ctx.deps.approvalUrl?.(w, cand);
    const held = heldFor(ctx, c, cand);
    notices.push(
      ...noticesFor('available', w, [cand], {
        ...(detail !== undefined ? { detail } : {}),
        ...(await notesFor(ctx, c, cand)),
        ...(approvalUrl ? { approvalUrl } : {}),
        ...(held ? { held } : {}),
      }),
    );
  }
  if (nobodyTookIt(await ctx.deps.notify(notices))) {
    // Nobody took it: keep the claim; it is taken over and sent again once it times out.
    log.warn('no channel took the notice; sending it again later');
    return { requeueAfter: ttl };
  }
  await recordEvent(
    { gateway: ctx.deps.gateway, logger: ctx.log },
    w,
    'Normal',
    'UpdateAvailable',
    `newer image available: ${describe(wanted)}`,
  );
  if (!(await patchAdopted(ctx, w, noticeDonePatch(w, claim.value, wanted, names)))) {
    log.warn('the notice claim changed while sending; not stamping');
  }
  return {};
}

/** Announced, once per version, with the reason it is not applied. */
export async function announceBlocked(
  ctx: Ctx,
  c: WorkloadCheck,
  candidates: Candidate[],
  reason: string,
): Promise<ReconcileResult> {
  const n = c.watched.length;
  const fresh = candidates.filter(
    (x) => versionFor(c.state.lastNotifiedVersion, x.container, n) !== x.newVersion,
  );
  for (const cand of candidates) {
    ctx.log.warn(
      {
        workload: labelsOf(c.snapshot),
        container: cand.container,
        from: cand.currentVersion,
        to: cand.newVersion,
        decision: 'held_back',
        reason,
      },
      `not applied: ${reason}`,
    );
  }
  return fresh.length > 0 ? announce(ctx, c, fresh, `Not applied: ${reason}`) : {};
}
