// One pass of the watcher, then stop: `image-watcher run --once` and RUN_ONCE=TRUE (a CronJob).
// The watcher is the production one (createWatcher); this only starts it, runs one pass with the
// same reconcile, waits until nothing is left to do now and collects the plan. Rollouts it starts
// are not waited for: they are reported as `update`, and the record the update wrote
// (image-watcher/rollout) lets the next pass, or a running watcher, judge them.
import type { PlanRow } from './api.ts';
import type { Watcher } from './create.ts';

export interface OnceResult {
  rows: PlanRow[];
  /** Rows whose container could not be checked or acted on. */
  errors: number;
  /** Rows with a newer allowed version: announced, applied, being rolled out, or waiting. */
  pending: number;
}

/** Actions that mean an update is pending or was applied (exit code 3 of run --once). */
const PENDING = new Set<PlanRow['action']>(['notify', 'notified', 'update', 'rollout', 'rolled-back']);

export function summarize(rows: readonly PlanRow[]): OnceResult {
  return {
    rows: [...rows],
    errors: rows.filter((r) => r.action === 'error').length,
    // A held update waits for its window, age or approval: pending too.
    pending: rows.filter(
      (r) =>
        r.action !== 'error' && (PENDING.has(r.action) || r.candidate !== undefined || r.held !== undefined),
    ).length,
  };
}

/** Starts the watcher (no HTTP port), runs one pass to the end, stops it; never leaves it running. */
export async function runOnce(watcher: Watcher): Promise<OnceResult> {
  try {
    await watcher.start({ listen: false });
    await watcher.controller.runCycle();
    await watcher.controller.idle();
    return summarize(watcher.controller.plan());
  } finally {
    await watcher.stop();
  }
}
