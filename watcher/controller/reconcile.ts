// The reconcile of one workload: judge a recorded rollout, else check and act (announce, update,
// write to Git), and record what it saw for the API and metrics.
import { ANNOTATIONS } from '../../shared/annotations.ts';
import type { WatchSettings } from '../../shared/annotations.ts';
import { parsePendingRollout } from '../../shared/pending-rollout.ts';
import type { Held } from '../../shared/policy.ts';
import { describeWindow, windowState } from '../../shared/schedule.ts';
import type { UpdateWindow } from '../../shared/schedule.ts';
import { ManualUpdateError } from '../api.ts';
import type { ContainerView, ManualErrorCode, PlanAction } from '../api.ts';
import { evaluate, prepare, repositoriesOf } from '../check/checker.ts';
import type { RepoResult, WorkloadCheck } from '../check/checker.ts';
import { decideAction, detectExternalReverts } from '../check/decide.ts';
import type { ReconcileResult } from '../reconcile/queue.ts';
import { labelsOf } from '../update/updater.ts';
import { announce, announceBlocked } from './announce.ts';
import { chooser } from './choose.ts';
import type { Ctx } from './context.ts';
import { note } from './entries.ts';
import { updateLive } from './live-update.ts';
import type { Creds, Pass } from './lookups.ts';
import { reconcileIntent } from './manual.ts';
import { currentPass, passDone } from './passes.ts';
import { recordRevert } from './revert.ts';
import { reconcileGitPending, reconcileRollout } from './rollout.ts';
import { toError } from './state.ts';
import type { Entry } from './state.ts';
import { planFor, writeToGit } from './write-back.ts';

/** What the API shows of a hold. */
function publicHeld(h: Held): NonNullable<ContainerView['held']> {
  return {
    reason: h.reason,
    ...(h.version !== undefined ? { version: h.version } : {}),
    ...(h.until !== undefined ? { until: h.until } : {}),
    message: h.message,
  };
}

/** A hold that ends at a known time (a window start, a release coming of age) is looked at again then. */
function withHeldRequeue(r: ReconcileResult, c: WorkloadCheck, now: Date): ReconcileResult {
  let at: number | undefined;
  for (const s of c.containers) {
    const until = s.held?.until === undefined ? NaN : Date.parse(s.held.until);
    if (Number.isFinite(until) && (at === undefined || until < at)) at = until;
  }
  if (at === undefined) return r;
  // At least a second: a clock a little behind the registry's must not spin the queue.
  const ms = Math.max(1000, at - now.getTime());
  return r.requeueAfter === undefined || ms < r.requeueAfter ? { ...r, requeueAfter: ms } : r;
}

export function onReconcileError(ctx: Ctx, key: string, err: unknown): void {
  const e = ctx.entries.get(key);
  const { code, message } = toError(err);
  if (e) {
    e.lastError = `${code}: ${message}`;
    e.failed = true;
  }
  ctx.deps.metrics.observeCheckError(code);
  ctx.log.error({ workload: key, err }, 'reconcile failed; retrying with backoff');
  passDone(ctx, key);
  const intents = ctx.intents.get(key);
  if (intents) {
    ctx.intents.delete(key);
    for (const i of intents) i.reject(err);
  }
}

/**
 * Brings one workload closer to what its annotations ask for, from its current state alone.
 * Safe to run any number of times: every write is guarded by a JSON Patch `test`.
 */
export async function reconcileWorkload(ctx: Ctx, key: string): Promise<ReconcileResult> {
  const e = ctx.entries.get(key);
  const intents = ctx.intents.get(key);
  const fail = (code: ManualErrorCode, message: string) => {
    if (!intents) return;
    ctx.intents.delete(key);
    for (const i of intents) i.reject(new ManualUpdateError(code, message));
  };
  if (!e || ctx.stopped) {
    fail('E_NOT_FOUND', `${key} does not exist`);
    passDone(ctx, key);
    return {};
  }
  const w = e.snapshot;
  const leader = ctx.isLeader();
  const record = w.annotations[ANNOTATIONS.rollout];
  if (record !== undefined) {
    fail('E_CONFLICT', 'a rollout of this workload is in progress; retry when it has finished');
    if (ctx.deps.config.dryRun) {
      // Judging it could roll back or clear the record: writes a dry run never makes.
      const parsed = parsePendingRollout(record);
      for (const c of parsed.ok ? parsed.rollout.changes : [])
        (e.actions ??= new Map()).set(c.container, { action: 'rollout', to: c.newVersion });
      passDone(ctx, key);
      return {};
    }
    const r = leader ? await reconcileRollout(ctx, e, record) : {};
    passDone(ctx, key);
    return r;
  }
  if (!e.settings) {
    e.lastError = e.settingsError;
    e.lastCheck = ctx.deps.now().getTime();
    ctx.deps.metrics.observeCheckError('E_ANNOTATIONS');
    fail('E_BAD_ANNOTATIONS', e.settingsError ?? 'invalid annotations');
    passDone(ctx, key);
    return {};
  }
  if (e.settings.mode === 'DISABLED') {
    // No longer watched: an old `image_outdated` series would keep an alert firing forever.
    ctx.deps.metrics.retainContainers(labelsOf(w), new Set());
    e.containers = undefined;
    fail(
      'E_DISABLED',
      `${w.kind} ${w.namespace}/${w.name} has image-watcher/mode DISABLED; set it to NOTIFICATION or AUTO_UPDATE to allow updates`,
    );
    passDone(ctx, key);
    return {};
  }
  if (intents) {
    ctx.intents.delete(key);
    return reconcileIntent(ctx, e, e.settings, intents);
  }
  if (!leader) {
    passDone(ctx, key);
    return {};
  }
  const gitPending = w.annotations[ANNOTATIONS.gitPending];
  if (gitPending !== undefined) {
    const r = await reconcileGitPending(ctx, e, e.settings, gitPending);
    if (r !== undefined) {
      if (r.requeueAfter !== 0) passDone(ctx, key);
      return r;
    }
  }

  const pass = currentPass(ctx);
  const check = checkFromPass(ctx, key, e, e.settings, pass);
  if (check === undefined) return {}; // queued again when the registry has answered
  const closed = closedWindow(ctx, check);
  recordCheck(ctx, check);
  const r = withHeldRequeue(await act(ctx, check, closed), check, ctx.deps.now());
  // A conflict looks again at once: the pass counts the workload when that run is done.
  if (r.requeueAfter !== 0) passDone(ctx, key);
  return r;
}

/**
 * The check from the pass's registry answers, or undefined while some are still coming (the
 * key is queued again when they are in).
 */
function checkFromPass(
  ctx: Ctx,
  key: string,
  e: Entry,
  settings: WatchSettings,
  pass: Pass,
): WorkloadCheck | undefined {
  const p = prepare({ key, snapshot: e.snapshot, settings });
  const results = new Map<string, RepoResult>();
  let pending = false;
  for (const r of repositoriesOf(p)) {
    // Credentials come from the API (cached per pass), asked only for a request still to make.
    const creds: Creds = () => pass.lookups.credentials.forWorkload(e.snapshot, r.ref.registry);
    const list = pass.lookups.tagList(r.repoKey, r.ref, creds, key);
    if (!list.done) {
      pending = true;
      continue;
    }
    const value = list.value!;
    if (!value.ok) {
      results.set(r.repoKey, value);
      continue;
    }
    const digests = new Map<string, string | { code: string; message: string }>();
    for (const tag of r.digestTags) {
      const d = pass.lookups.digest(r.repoKey, r.ref, tag, creds, key);
      if (d.done) digests.set(tag, d.value!);
      else pending = true;
    }
    results.set(r.repoKey, { ok: true, tags: value.tags, digests });
  }
  if (pending) return undefined;
  const check = evaluate(p, results, {
    digestBaselines: ctx.digestBaselines,
    digestSightings: ctx.digestSightings,
    pass: pass.id,
    choose: chooser(ctx, pass, key),
  });
  return check.pending ? undefined : check;
}

/**
 * AUTO_UPDATE outside its maintenance window: the candidates are held (reason `schedule`) until
 * the next window start. Undefined when the window is open or there is none.
 */
function closedWindow(
  ctx: Ctx,
  c: WorkloadCheck,
): { until: string | undefined; message: string } | undefined {
  const { schedule, timezone } = c.settings;
  if (c.settings.mode !== 'AUTO_UPDATE' || schedule === undefined || c.candidates.length === 0)
    return undefined;
  const win: UpdateWindow = { schedule, timezone: timezone ?? 'UTC' };
  const state = windowState(win, ctx.deps.now());
  if (state.open) return undefined;
  const until = state.nextStart?.toISOString();
  const message =
    `outside the maintenance window (${describeWindow(win)}); ` +
    (until === undefined ? 'no window start within a year' : `will be applied at the window start ${until}`);
  for (const s of c.containers) {
    if (s.candidate) s.held = { reason: 'schedule', version: s.candidate.newVersion, until, message };
  }
  return { until, message };
}

/** Acts on a checked workload: record a revert, announce, or update. */
async function act(
  ctx: Ctx,
  c: WorkloadCheck,
  closed?: { until: string | undefined; message: string },
): Promise<ReconcileResult> {
  const w = c.snapshot;
  const n = c.watched.length;
  const reverts = detectExternalReverts(c.watched, c.state, n);
  if (reverts.length > 0) {
    note(
      ctx,
      c.key,
      reverts.map((r) => ({
        container: r.container,
        currentVersion: r.runningVersion,
        newVersion: r.revertedVersion,
      })),
      'reverted',
    );
    if (!ctx.deps.config.dryRun) await recordRevert(ctx, c, reverts);
    return {};
  }
  const action = decideAction({
    // Outside the window AUTO_UPDATE only announces (once per version), as NOTIFICATION does.
    mode: closed ? 'NOTIFICATION' : c.settings.mode,
    candidates: c.candidates,
    state: c.state,
    watchedCount: n,
  });
  if (action.kind === 'none') {
    if (action.reason === 'already notified') note(ctx, c.key, c.candidates, 'notified', { keep: true });
    for (const cand of c.candidates) {
      ctx.log.info(
        {
          workload: labelsOf(w),
          container: cand.container,
          from: cand.currentVersion,
          to: cand.newVersion,
          decision: 'held_back',
        },
        `held back: ${action.reason}`,
      );
    }
    return {};
  }
  note(ctx, c.key, action.candidates, action.kind);
  if (ctx.deps.config.dryRun) {
    for (const cand of action.candidates) {
      ctx.log.info(
        {
          workload: labelsOf(w),
          container: cand.container,
          from: cand.currentVersion,
          to: cand.newVersion,
          decision: action.kind === 'notify' ? 'would_notify' : 'would_update',
        },
        'dry run: nothing written, nothing sent',
      );
    }
    return {};
  }
  if (action.kind === 'notify') return announce(ctx, c, action.candidates);
  const plan = planFor(ctx, w, c.settings);
  const entry = ctx.entries.get(c.key);
  if (entry) entry.blocked = plan.kind === 'blocked' ? plan.reason : undefined;
  if (plan.kind === 'git') return (await writeToGit(ctx, c, action.candidates, plan.target)).result;
  if (plan.kind === 'blocked') return announceBlocked(ctx, c, action.candidates, plan.reason);
  return updateLive(ctx, c, action.candidates);
}

/** Stores the check for the API and the metrics. */
function recordCheck(ctx: Ctx, c: WorkloadCheck): void {
  const e = ctx.entries.get(c.key);
  if (!e) return; // deleted while being checked
  e.lastCheck = ctx.deps.now().getTime();
  e.lastError = c.error ? `${c.error.code}: ${c.error.message}` : undefined;
  // What this run did stays in the plan while it still holds: the re-check that follows our own
  // write (notice stamped, image updated) must not turn `notify` into `notified` or `update` into `none`.
  const kept = new Map<string, { action: PlanAction; from?: string; to?: string }>();
  for (const s of c.containers) {
    const a = e.actions?.get(s.name);
    if (a && (a.to === s.candidate?.newVersion || (a.action === 'update' && a.to === s.current)))
      kept.set(s.name, a);
  }
  e.actions = kept.size > 0 ? kept : undefined;
  e.failed = false;
  if (c.error) ctx.deps.metrics.observeCheckError(c.error.code);
  // The view and the metric keep these versions until the next check: one copy of each.
  const versions = c.containers.map((s) => ({
    current: ctx.strings.get(s.current),
    latest: ctx.strings.maybe(s.latest),
  }));
  e.containers = c.containers.map((s, i) => ({
    name: s.name,
    image: s.image,
    currentVersion: versions[i]!.current,
    latestVersion: versions[i]!.latest,
    updateAvailable: s.candidate !== undefined,
    ...(s.held ? { held: publicHeld(s.held) } : {}),
  }));
  const labels = labelsOf(c.snapshot);
  c.containers.forEach((s, i) => {
    const { current, latest } = versions[i]!;
    if (latest === undefined) return; // unknown: keep the last known series
    ctx.deps.metrics.setImageStatus(labels, {
      container: s.name,
      image: s.image,
      currentVersion: current,
      latestVersion: latest,
      outdated: s.candidate !== undefined,
    });
  });
  for (const s of c.containers) {
    if (s.latest === undefined && s.held === undefined) continue; // unknown: keep the last known
    ctx.deps.metrics.setHeld(labels, s.name, s.held?.reason);
    const was = e.held?.get(s.name);
    if (
      s.held &&
      (was?.reason !== s.held.reason || was.version !== s.held.version || was.until !== s.held.until)
    ) {
      ctx.log.info(
        {
          workload: labels,
          container: s.name,
          version: s.held.version,
          reason: s.held.reason,
          until: s.held.until,
          decision: 'held',
        },
        `update held (${s.held.reason}): ${s.held.message}`,
      );
    }
    if (s.held) (e.held ??= new Map()).set(s.name, s.held);
    else if (e.held?.delete(s.name) && e.held.size === 0) e.held = undefined;
  }
  ctx.deps.metrics.retainContainers(labels, new Set(c.containers.map((s) => s.name)));
}
