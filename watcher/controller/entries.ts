// The watch cache's entries: snapshots, parsed settings, the repository index, and adopting the
// object our own patch returned.
import { formatProblems, parseWatchSettings } from '../../shared/annotations.ts';
import { canonicalName, parseImageReference } from '../../shared/image-ref.ts';
import type { PlanAction } from '../api.ts';
import { watchedContainers } from '../check/decide.ts';
import type { JsonPatchOp, WorkloadSnapshot } from '../kube/types.ts';
import type { ReconcileResult } from '../reconcile/queue.ts';
import { isPatchConflict } from '../update/conflict.ts';
import type { Ctx } from './context.ts';
import { gitViewOf } from './git-view.ts';
import { workloadKey } from './state.ts';
import type { Entry, ParsedSettings } from './state.ts';

/** Numeric resourceVersions (what every API server sends) ordered; anything else counts as newer. */
function newer(a: WorkloadSnapshot, b: WorkloadSnapshot): boolean {
  const x = Number(a.resourceVersion);
  const y = Number(b.resourceVersion);
  return !(Number.isSafeInteger(x) && Number.isSafeInteger(y)) || x >= y;
}

/**
 * The parsed settings of a workload. Workloads with the same user annotations and container
 * names share one (read-only) settings object, parsed once (ctx.settingsMemo): most workloads of a
 * cluster differ only in names and in our own bookkeeping keys.
 */
function settingsOf(ctx: Ctx, w: WorkloadSnapshot): ParsedSettings {
  const containerNames = w.containers.map((c) => c.name);
  return ctx.settingsMemo.resolve(w.annotations, containerNames, () => {
    const parsed = parseWatchSettings(w.annotations, {
      containerNames,
      overrides: ctx.deps.config.overrides,
      ...(ctx.deps.config.policyDefaults ? { defaults: ctx.deps.config.policyDefaults } : {}),
    });
    // The first workload writing back to Git: say at once when this image has no git (probed once).
    if (parsed.ok && parsed.settings.writeBack === 'git') void ctx.deps.gitops?.writeBack.probe?.();
    return parsed.ok
      ? { settings: parsed.settings, error: undefined }
      : { settings: undefined, error: formatProblems(parsed.problems) };
  });
}

export function upsertEntry(ctx: Ctx, w: WorkloadSnapshot): Entry {
  // The pooled key: the watch and the metrics keep the same string.
  const key = ctx.strings.get(workloadKey(w));
  const prev = ctx.entries.get(key);
  // A snapshot from our own patch may be newer than a late watch event: keep the newer one.
  if (prev && prev.snapshot.uid === w.uid && !newer(w, prev.snapshot)) return prev;
  const parsed = settingsOf(ctx, w);
  const entry: Entry = {
    snapshot: w,
    settings: parsed.settings,
    settingsError: parsed.error,
    containers: prev?.containers,
    lastCheck: prev?.lastCheck,
    lastError: prev?.lastError,
    actions: prev?.actions,
    // Present from the start: a field added later moves every field out of the object.
    failed: undefined,
    git: gitViewOf(w) ?? (prev?.git ? { ...prev.git, pending: false } : undefined),
    blocked: prev?.blocked,
    gitError: prev?.gitError,
    held: prev?.held,
    claimSeen: prev?.claimSeen,
  };
  ctx.entries.set(key, entry);
  indexRepositories(ctx, key, entry);
  return entry;
}

/** Keeps `byRepository` to the watched containers of the entry (none when DISABLED or invalid). */
export function indexRepositories(ctx: Ctx, key: string, e: Entry | undefined): void {
  const repos = new Set<string>();
  if (e?.settings && e.settings.mode !== 'DISABLED') {
    for (const c of watchedContainers(e.snapshot.containers, e.settings)) {
      try {
        repos.add(ctx.strings.get(canonicalName(parseImageReference(c.image))));
      } catch {
        // an image that does not parse is reported by its check
      }
    }
  }
  for (const r of ctx.repositoriesOfKey.get(key) ?? []) {
    if (repos.has(r)) continue;
    const keys = ctx.byRepository.get(r);
    keys?.delete(key);
    if (keys?.size === 0) ctx.byRepository.delete(r);
  }
  for (const r of repos) {
    let keys = ctx.byRepository.get(r);
    if (!keys) {
      keys = new Set();
      ctx.byRepository.set(r, keys);
    }
    keys.add(key);
  }
  if (repos.size === 0) ctx.repositoriesOfKey.delete(key);
  else ctx.repositoriesOfKey.set(key, [...repos]);
}

export function refreshCounts(ctx: Ctx): void {
  const counts: Record<string, number> = {};
  for (const e of ctx.entries.values()) {
    const mode = e.settings?.mode;
    if (mode) counts[mode] = (counts[mode] ?? 0) + 1;
  }
  ctx.deps.metrics.setWorkloadCounts(counts);
}

/** Records what a reconcile did (or would do) per container, for the plan. */
export function note(
  ctx: Ctx,
  key: string,
  candidates: readonly { container: string; currentVersion?: string; newVersion: string }[],
  action: PlanAction,
  opts: { keep?: boolean } = {},
): void {
  const e = ctx.entries.get(key);
  if (!e) return;
  for (const c of candidates) {
    if (opts.keep && e.actions?.has(c.container)) continue;
    (e.actions ??= new Map()).set(c.container, {
      action,
      to: c.newVersion,
      ...(c.currentVersion !== undefined ? { from: c.currentVersion } : {}),
    });
  }
}

/** After a conflict: reads the object again and reconciles once more with it. */
export async function refresh(ctx: Ctx, w: WorkloadSnapshot): Promise<ReconcileResult> {
  const fresh = await ctx.deps.gateway.getWorkload(w.kind, w.namespace, w.name);
  if (fresh) adopt(ctx, fresh);
  return { requeueAfter: 0 };
}

/** Keeps the snapshot our own write returned, unless the watch already has a newer one. */
export function adopt(ctx: Ctx, w: WorkloadSnapshot): void {
  if (ctx.entries.has(workloadKey(w))) upsertEntry(ctx, w);
}

/**
 * Patches the workload and adopts the answer. False when a `test` failed or on 409: someone
 * else wrote first, and the watch brings the new state.
 */
export async function patchAdopted(ctx: Ctx, w: WorkloadSnapshot, ops: JsonPatchOp[]): Promise<boolean> {
  try {
    adopt(ctx, await ctx.deps.gateway.patchWorkload(w.kind, w.namespace, w.name, ops));
    return true;
  } catch (err) {
    if (!isPatchConflict(err)) throw err;
    return false;
  }
}
