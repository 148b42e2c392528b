// API reads: workload views, the run --once plan rows, snapshots.
import { parseImageReference } from '../../shared/image-ref.ts';
import type { PlanRow, WorkloadView } from '../api.ts';
import { runningVersion, watchedContainers } from '../check/decide.ts';
import type { WorkloadKind, WorkloadSnapshot } from '../kube/types.ts';
import type { Ctx } from './context.ts';
import { workloadKey } from './state.ts';

function safeRunning(image: string): string {
  try {
    return runningVersion(parseImageReference(image));
  } catch {
    return '';
  }
}

export function workloadViews(ctx: Ctx): WorkloadView[] {
  return [...ctx.entries.values()].map((e) => ({
    namespace: e.snapshot.namespace,
    kind: e.snapshot.kind,
    name: e.snapshot.name,
    mode: e.settings?.mode,
    strategy: e.settings?.strategy,
    containers:
      e.containers ??
      (e.settings ? watchedContainers(e.snapshot.containers, e.settings) : e.snapshot.containers).map(
        (c) => ({
          name: c.name,
          image: c.image,
          currentVersion: safeRunning(c.image),
          latestVersion: undefined,
          updateAvailable: false,
        }),
      ),
    lastCheck: e.lastCheck === undefined ? undefined : new Date(e.lastCheck).toISOString(),
    lastError: e.lastError ?? e.gitError ?? e.settingsError,
    ...(e.settings?.writeBack === 'git' || e.git || e.blocked
      ? {
          writeBack: {
            mode: e.settings?.writeBack ?? 'live',
            ...(e.blocked ? { blocked: e.blocked } : {}),
            ...(e.git ? { git: e.git } : {}),
          },
        }
      : {}),
  }));
}

/**
 * One row per watched container of every workload: what the last reconcile did or, in a dry
 * run, would do (`image-watcher run --once`).
 */
export function planRows(ctx: Ctx): PlanRow[] {
  const rows: PlanRow[] = [];
  const keys = [...ctx.entries.keys()].sort();
  const views = new Map(workloadViews(ctx).map((v) => [workloadKey(v), v.containers]));
  for (const key of keys) {
    const e = ctx.entries.get(key)!;
    const w = e.snapshot;
    const base = { namespace: w.namespace, kind: w.kind, name: w.name };
    if (!e.settings || e.settings.mode === 'DISABLED') {
      const shown = e.settings ? watchedContainers(w.containers, e.settings) : w.containers;
      for (const c of shown) {
        rows.push({
          ...base,
          container: c.name,
          image: c.image,
          current: safeRunning(c.image),
          candidate: undefined,
          action: e.settings ? 'disabled' : 'error',
          error: e.settings ? undefined : e.settingsError,
        });
      }
      continue;
    }
    for (const c of views.get(key) ?? []) {
      const done = e.actions?.get(c.name);
      const failed =
        e.lastError !== undefined &&
        (e.failed === true || (done === undefined && c.latestVersion === undefined));
      rows.push({
        ...base,
        container: c.name,
        image: c.image,
        // An update of this run: shown from the version it replaced.
        current: done?.from ?? c.currentVersion,
        candidate: done?.to ?? (c.updateAvailable ? c.latestVersion : undefined),
        action: failed ? 'error' : (done?.action ?? 'none'),
        error: failed ? e.lastError : undefined,
        ...(c.held ? { held: c.held } : {}),
      });
    }
  }
  return rows;
}

export function snapshotOf(
  ctx: Ctx,
  kind: WorkloadKind,
  namespace: string,
  name: string,
): WorkloadSnapshot | undefined {
  return ctx.entries.get(workloadKey({ kind, namespace, name }))?.snapshot;
}
