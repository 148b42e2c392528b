// The writes of an update: the image patch (which records the rollout in `image-watcher/rollout`),
// clearing that record when the rollout completes, and the rollback. No waiting here: whether a
// rollout is complete, failed or still running is decided by each reconcile from the record and
// the workload's status (see rollout.ts judgeRollout).
import type { Logger } from 'pino';
import { ANNOTATIONS } from '../../shared/annotations.ts';
import { ImageWatcherError } from '../../shared/errors.ts';
import type { Candidate } from '../check/decide.ts';
import { clearRolloutOps, rollbackPatch, updatePatch } from '../check/decide.ts';
import type { WatchedContainer } from '../check/checker.ts';
import { KubeApiError } from '../kube/errors.ts';
import type { KubeGateway, WorkloadSnapshot } from '../kube/types.ts';
import type { UpdateResult, WorkloadLabels } from '../metrics.ts';
import type { UpdateNotice } from '../notify/types.ts';
import { isPatchConflict } from './conflict.ts';

export interface UpdaterDeps {
  gateway: Pick<KubeGateway, 'patchWorkload' | 'getWorkload' | 'createEvent'>;
  metrics: { observeUpdate(w: WorkloadLabels, result: UpdateResult): void };
  logger: Logger;
  now: () => Date;
  rolloutTimeoutMs: number;
}

export type WriteOutcome =
  | { result: 'patched'; snapshot: WorkloadSnapshot }
  /** Someone changed the image between our decision and our patch: nothing done, check again. */
  | { result: 'conflict' }
  | { result: 'failed'; reason: string };

export class UpdateError extends ImageWatcherError {}

export function labelsOf(w: Pick<WorkloadSnapshot, 'namespace' | 'kind' | 'name'>): WorkloadLabels {
  return { namespace: w.namespace, kind: w.kind, workload: w.name };
}

export function noticesFor(
  event: UpdateNotice['event'],
  w: Pick<WorkloadSnapshot, 'kind' | 'namespace' | 'name'>,
  candidates: readonly Candidate[],
  extra: Partial<Pick<UpdateNotice, 'detail' | 'releaseNotes' | 'approvalUrl' | 'held'>> = {},
): UpdateNotice[] {
  return candidates.map((c) => ({
    event,
    workload: { kind: w.kind, namespace: w.namespace, name: w.name },
    container: c.container,
    image: c.image,
    currentVersion: c.currentVersion,
    newVersion: c.newVersion,
    change: c.change,
    ...extra,
  }));
}

export function describe(
  candidates: readonly Pick<Candidate, 'container' | 'currentVersion' | 'newVersion'>[],
): string {
  return candidates.map((c) => `${c.container}: ${c.currentVersion} -> ${c.newVersion}`).join(', ');
}

/** Events are informative: failing to write one must not fail the update or the check. */
export async function recordEvent(
  deps: { gateway: Pick<KubeGateway, 'createEvent'>; logger: Logger },
  w: WorkloadSnapshot,
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
): Promise<void> {
  try {
    await deps.gateway.createEvent(w, { type, reason, message });
  } catch (err) {
    deps.logger.warn({ workload: labelsOf(w), reason, err }, 'cannot record Kubernetes event');
  }
}

/** An error without an HTTP answer (time-out, reset): the patch may or may not have been applied. */
function unanswered(err: unknown): boolean {
  return !(err instanceof KubeApiError && err.status !== undefined);
}

/** True when `w` runs the images an update wrote (its patch was applied). */
function applied(w: WorkloadSnapshot | undefined, candidates: readonly Candidate[]): w is WorkloadSnapshot {
  if (!w || w.annotations[ANNOTATIONS.rollout] === undefined) return false;
  const byPath = new Map(w.containers.map((c) => [c.imagePath, c.image]));
  return candidates.every((c) => byPath.get(c.imagePath) === c.newImage);
}

/**
 * Writes the new images together with the `image-watcher/rollout` record (one patch, so whoever
 * reads the object sees both or neither). An error without an answer may hide an applied patch
 * (the API server wrote it, the answer was lost): never a "failed" notice then. A definite
 * refusal (an HTTP status) is a failure.
 */
export async function writeUpdate(
  deps: UpdaterDeps,
  input: {
    snapshot: WorkloadSnapshot;
    candidates: readonly Candidate[];
    watched: readonly WatchedContainer[];
  },
): Promise<WriteOutcome> {
  const { snapshot: w, candidates } = input;
  const log = deps.logger.child({ workload: labelsOf(w) });
  const now = deps.now();
  let written: WorkloadSnapshot;
  try {
    written = await deps.gateway.patchWorkload(
      w.kind,
      w.namespace,
      w.name,
      updatePatch(w, candidates, input.watched, now, new Date(now.getTime() + deps.rolloutTimeoutMs)),
    );
  } catch (err) {
    if (isPatchConflict(err)) return { result: 'conflict' };
    if (!unanswered(err)) {
      const reason = err instanceof Error ? err.message : String(err);
      log.error({ err }, 'update patch failed');
      deps.metrics.observeUpdate(labelsOf(w), 'failed');
      return { result: 'failed', reason };
    }
    // No answer: the API server may have applied it (or may still). Read it back; when it is
    // not visibly applied, the error goes to the work queue, whose retry reconciles from
    // whatever the watch then shows: the record if it was applied, the old image if not.
    const fresh = await deps.gateway.getWorkload(w.kind, w.namespace, w.name);
    if (!applied(fresh, candidates)) throw err;
    log.warn({ err }, 'the update patch got no answer but was applied; watching its rollout');
    written = fresh;
  }
  await recordEvent(deps, written, 'Normal', 'ImageUpdated', `image-watcher updated ${describe(candidates)}`);
  return { result: 'patched', snapshot: written };
}

/**
 * Drops `image-watcher/rollout` once its rollout completed (guarded by its value, so a newer
 * record is never dropped). A conflict is thrown: the next reconcile looks again.
 */
export async function clearRollout(
  deps: Pick<UpdaterDeps, 'gateway'>,
  w: WorkloadSnapshot,
): Promise<WorkloadSnapshot | undefined> {
  const ops = clearRolloutOps(w);
  if (ops.length === 0) return undefined;
  return deps.gateway.patchWorkload(w.kind, w.namespace, w.name, ops);
}

/** Puts the old images back (guarded by `test` on ours) and records the failed versions. */
export async function rollBack(
  deps: Pick<UpdaterDeps, 'gateway'>,
  w: WorkloadSnapshot,
  candidates: readonly Candidate[],
  watchedNames: readonly string[],
): Promise<WorkloadSnapshot> {
  return deps.gateway.patchWorkload(w.kind, w.namespace, w.name, rollbackPatch(w, candidates, watchedNames));
}
