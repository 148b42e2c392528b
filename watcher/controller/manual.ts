// Manual updates and approvals: queued as the workload's intent, answered by its next reconcile.
import { ANNOTATIONS } from '../../shared/annotations.ts';
import type { WatchSettings } from '../../shared/annotations.ts';
import { satisfiesConstraint } from '../../shared/constraint.ts';
import { canonicalName, imageWithTag } from '../../shared/image-ref.ts';
import { heldWording } from '../../shared/policy.ts';
import { compareTags, parseTag, sameShape } from '../../shared/version.ts';
import { ManualUpdateError } from '../api.ts';
import type { ManualUpdateRequest, ManualUpdateResult } from '../api.ts';
import { CredentialResolver, evaluate, prepare, repositoriesOf } from '../check/checker.ts';
import type { RepoResult, WorkloadCheck } from '../check/checker.ts';
import { runningVersion } from '../check/decide.ts';
import type { Candidate } from '../check/decide.ts';
import { parseGitPending } from '../gitops/state.ts';
import type { GitTarget } from '../gitops/writeback.ts';
import type { WorkloadSnapshot } from '../kube/types.ts';
import type { ReconcileResult } from '../reconcile/queue.ts';
import { labelsOf, noticesFor, writeUpdate } from '../update/updater.ts';
import { chooser } from './choose.ts';
import type { Ctx } from './context.ts';
import { upsertEntry } from './entries.ts';
import { updaterDeps } from './live-update.ts';
import { waitingLookups, withSignal } from './lookups.ts';
import { checkerDeps, currentPass } from './passes.ts';
import { changeBetween } from './revert.ts';
import { judgeNow } from './rollout.ts';
import { toError, workloadKey } from './state.ts';
import type { Entry, Intent } from './state.ts';
import { planFor, writeToGit } from './write-back.ts';

/**
 * Updates now, whatever the mode except DISABLED, to the newest allowed version or to
 * `version` (which must exist and not be lower than what runs; include/exclude and
 * last-failed-version do not apply to an explicit request). Queued as the workload's intent and
 * answered once the image is written; the rollout is judged by the reconciles that follow.
 */
export async function manualUpdate(ctx: Ctx, req: ManualUpdateRequest): Promise<ManualUpdateResult> {
  // A stopped queue would never answer: the caller must hear it now.
  if (ctx.stopped) throw stoppingError();
  const key = workloadKey(req);
  if (!ctx.entries.has(key)) {
    // Not (yet) in the watch cache: ask the API, so a fresh workload can be updated at once.
    const w = await ctx.deps.gateway.getWorkload(req.kind, req.namespace, req.name);
    if (!w)
      throw new ManualUpdateError('E_NOT_FOUND', `${req.kind} ${req.namespace}/${req.name} does not exist`);
    // Another installation's workload (WATCHER_SCOPE...) is not ours to update, even on request.
    const admission = ctx.deps.watch.admits?.(w) ?? { ok: true };
    if (!admission.ok)
      throw new ManualUpdateError(
        'E_NOT_FOUND',
        `${req.kind} ${req.namespace}/${req.name} is not handled by this watcher: ${admission.reason ?? 'outside its selection'}`,
      );
    upsertEntry(ctx, w);
  }
  return new Promise<ManualUpdateResult>((resolve, reject) => {
    const list = ctx.intents.get(key) ?? [];
    list.push({ version: req.version, resolve, reject });
    ctx.intents.set(key, list);
    ctx.queue.add(key);
  });
}

export async function reconcileIntent(
  ctx: Ctx,
  e: Entry,
  parsedSettings: WatchSettings,
  intents: Intent[],
): Promise<ReconcileResult> {
  // One manual update per reconcile: the first; the others see its result (a rollout in progress).
  const [first, ...rest] = intents;
  if (rest.length > 0) ctx.intents.set(workloadKey(e.snapshot), rest);
  const intent = first!;
  try {
    return await applyIntent(ctx, e, parsedSettings, intent);
  } catch (err) {
    // Stopping aborts the registry requests: say so, not "cannot ask the registry: aborted".
    const stopping = ctx.stopped && !(err instanceof ManualUpdateError && err.code !== 'E_UPDATE_FAILED');
    intent.reject(stopping ? stoppingError() : err);
    if (err instanceof ManualUpdateError) return rest.length > 0 ? { requeueAfter: 0 } : {};
    throw err;
  }
}

async function applyIntent(
  ctx: Ctx,
  e: Entry,
  parsedSettings: WatchSettings,
  intent: Intent,
): Promise<ReconcileResult> {
  const w = e.snapshot;
  const key = workloadKey(w);
  // Fresh registry answers for a manual request, not those of the pass.
  ctx.deps.registry.newCycle();
  const settings: WatchSettings =
    intent.version === undefined
      ? parsedSettings
      : { ...parsedSettings, include: undefined, exclude: undefined };
  const p = prepare({ key, snapshot: w, settings });
  const resolver = new CredentialResolver(checkerDeps(ctx));
  const results = new Map<string, RepoResult>();
  for (const r of repositoriesOf(p)) {
    const creds = await resolver.forWorkload(w, r.ref.registry);
    const opts = withSignal(creds, ctx.abort.signal);
    try {
      const tags = await ctx.deps.registry.listTags(r.ref, opts);
      const digests = new Map<string, string | { code: string; message: string }>();
      for (const tag of r.digestTags) {
        digests.set(
          tag,
          await ctx.deps.registry.getDigest(r.ref, tag, opts).catch((x: unknown) => toError(x)),
        );
      }
      results.set(r.repoKey, { ok: true, tags, digests });
    } catch (err) {
      results.set(r.repoKey, { ok: false, error: toError(err) });
    }
  }
  const check = await manualCheck(ctx, p, results, key);
  if (check.error && check.candidates.length === 0 && intent.version === undefined) {
    throw new ManualUpdateError('E_UPDATE_FAILED', `cannot ask the registry: ${check.error.message}`);
  }
  const candidates =
    intent.version === undefined
      ? check.candidates
      : await gatedExplicit(ctx, check, explicitCandidates(check, results, intent.version), key);
  if (candidates.length === 0) {
    const held = check.containers.find((s) => s.held && s.held.reason !== 'min-age')?.held;
    if (held) throw new ManualUpdateError('E_HELD', heldWording(held));
    throw new ManualUpdateError('E_NO_UPDATE', 'already at the newest allowed version');
  }
  const changes = candidates.map((c) => ({
    container: c.container,
    from: c.currentVersion,
    to: c.newVersion,
  }));
  const plan = planFor(ctx, w, parsedSettings);
  if (plan.kind === 'blocked') throw new ManualUpdateError('E_CONFLICT', plan.reason);
  // Last point before a write: a stop from here on lets the write finish and answers its result.
  if (ctx.stopped) throw stoppingError();
  if (plan.kind === 'git') {
    if (waitingInGit(w, candidates, plan.target)) {
      // Already pushed, waiting for the sync: writing again would reset its deadline and repeat
      // its event (and, for a review, its notice). The pending record goes on as it is.
      ctx.log.info(
        { workload: labelsOf(w), decision: 'held_back', why: 'manual request' },
        'already written to Git; waiting for the sync',
      );
      intent.resolve({ status: 'updating', changes });
      return { requeueAfter: 0 };
    }
    const r = await writeToGit(ctx, check, candidates, plan.target, true);
    if (r.kind === 'conflict')
      throw new ManualUpdateError('E_CONFLICT', 'the workload changed while updating; retry');
    if (r.kind === 'failed') throw new ManualUpdateError('E_UPDATE_FAILED', r.error);
    // Pushed: the change is in Git (even when recording it met a concurrent write).
    intent.resolve({ status: 'updating', changes });
    return r.result;
  }
  const outcome = await writeUpdate(updaterDeps(ctx), {
    snapshot: w,
    candidates,
    watched: check.watched,
  });
  if (outcome.result === 'conflict')
    throw new ManualUpdateError('E_CONFLICT', 'the workload changed while updating; retry');
  if (outcome.result === 'failed') {
    await ctx.deps.notify(noticesFor('failed', w, candidates, { detail: outcome.reason }));
    throw new ManualUpdateError('E_UPDATE_FAILED', outcome.reason);
  }
  for (const cand of candidates) {
    ctx.log.info(
      {
        workload: labelsOf(w),
        container: cand.container,
        from: cand.currentVersion,
        to: cand.newVersion,
        decision: 'updated',
        why: 'manual request',
      },
      'image updated on request; watching the rollout',
    );
  }
  intent.resolve({ status: 'updating', changes });
  return judgeNow(ctx, outcome.snapshot);
}

/** The answer to a manual update the stopping watcher will not carry out (nothing was written). */
export function stoppingError(): ManualUpdateError {
  return new ManualUpdateError('E_STOPPING', 'the watcher is stopping; nothing was changed; ask again');
}

/** True when a pushed git-pending record to the same repository holds every candidate's version. */
function waitingInGit(w: WorkloadSnapshot, candidates: readonly Candidate[], target: GitTarget): boolean {
  const value = w.annotations[ANNOTATIONS.gitPending];
  if (value === undefined) return false;
  const parsed = parseGitPending(value);
  if (!parsed.ok || !parsed.pending.pushed || parsed.pending.repo !== target.repo) return false;
  const { changes } = parsed.pending;
  return candidates.every((cand) =>
    changes.some((c) => c.container === cand.container && c.newVersion === cand.newVersion),
  );
}

/** A manual request's check: the gates that a person cannot override, awaited here. */
async function manualCheck(
  ctx: Ctx,
  p: ReturnType<typeof prepare>,
  results: ReadonlyMap<string, RepoResult>,
  key: string,
): Promise<WorkloadCheck> {
  const pass = currentPass(ctx);
  for (;;) {
    const check = evaluate(p, results, {
      digestBaselines: ctx.digestBaselines,
      choose: chooser(ctx, pass, key, true),
    });
    if (!check.pending) return check;
    await Promise.allSettled(waitingLookups(pass, key));
  }
}

/** An explicit version passes the same gates; a hold is refused with its reason. */
async function gatedExplicit(
  ctx: Ctx,
  check: WorkloadCheck,
  candidates: Candidate[],
  key: string,
): Promise<Candidate[]> {
  const pass = currentPass(ctx);
  const choose = chooser(ctx, pass, key, true);
  const target = { key, snapshot: check.snapshot, settings: check.settings };
  const out: Candidate[] = [];
  for (const cand of candidates) {
    const container = check.watched.find((x) => x.info.name === cand.container)!;
    for (;;) {
      const choice = choose({ target, container, candidates: [cand] });
      if (choice.pending) {
        await Promise.allSettled(waitingLookups(pass, key));
        continue;
      }
      if (!choice.candidate) {
        const h = choice.held;
        throw new ManualUpdateError(
          'E_HELD',
          `${cand.newVersion} is held for container ${cand.container} (${h?.reason ?? 'policy'}): ${h?.message ?? ''}`,
        );
      }
      out.push(choice.candidate);
      break;
    }
  }
  return out;
}

/**
 * Candidates for an explicit `?version=`: containers whose repository has that tag, by the tag
 * lists already asked for this request (with the workload's pull credentials and the stop signal).
 */
function explicitCandidates(
  check: WorkloadCheck,
  results: ReadonlyMap<string, RepoResult>,
  version: string,
): Candidate[] {
  const wanted = parseTag(version);
  if (!wanted) throw new ManualUpdateError('E_BAD_VERSION', `'${version}' is not a version tag`);
  const out: Candidate[] = [];
  const otherShape: string[] = [];
  let unreachable: string | undefined;
  for (const { info, ref } of check.watched) {
    const listed = results.get(canonicalName(ref));
    if (listed && !listed.ok) unreachable ??= listed.error.message;
    if (!listed?.ok || !listed.tags.includes(version)) continue;
    const current = ref.tag === undefined ? undefined : parseTag(ref.tag);
    // 1.26.0-alpine for a container on 1.25.1 would switch its flavour, not its version.
    if (current && !sameShape(current, wanted)) {
      otherShape.push(`${info.name} (${ref.tag ?? ''})`);
      continue;
    }
    if (current && compareTags(wanted, current) < 0) {
      throw new ManualUpdateError(
        'E_BAD_VERSION',
        `${version} is lower than the running ${ref.tag ?? ''} of container ${info.name}; image-watcher never downgrades`,
      );
    }
    if (current && compareTags(wanted, current) === 0) continue;
    const constraint = check.settings.constraint;
    if (constraint && !satisfiesConstraint(wanted, constraint)) {
      throw new ManualUpdateError(
        'E_HELD',
        `${version} is outside the constraint ${constraint.source} of container ${info.name} (image-watcher/constraint)`,
      );
    }
    out.push({
      container: info.name,
      imagePath: info.imagePath,
      image: info.image,
      currentVersion: runningVersion(ref),
      newVersion: version,
      newImage: imageWithTag(ref, version),
      change: current ? changeBetween(ref.tag ?? '', version) : 'major',
    });
  }
  if (out.length === 0) {
    if (unreachable !== undefined && otherShape.length === 0)
      throw new ManualUpdateError('E_UPDATE_FAILED', `cannot ask the registry: ${unreachable}`);
    throw new ManualUpdateError(
      'E_BAD_VERSION',
      otherShape.length > 0
        ? `'${version}' does not have the form of the running tag of ${otherShape.join(', ')}: ` +
            'the same prefix, number of version parts and variant (e.g. -alpine) are required'
        : `no watched container's repository has a tag '${version}' newer than what runs`,
    );
  }
  return out;
}
