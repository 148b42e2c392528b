import type { Logger } from 'pino';
import { ImageWatcherError } from '../../shared/errors.ts';
import type { Candidate } from '../check/decide.ts';
import { clearRolloutOps, rollbackPatch, updatePatch } from '../check/decide.ts';
import type { WatchedContainer } from '../check/checker.ts';
import type { KubeGateway, WorkloadSnapshot } from '../kube/types.ts';
import { ANNOTATIONS } from '../../shared/annotations.ts';
import { parsePendingRollout } from '../../shared/pending-rollout.ts';
import { isPatchConflict } from './conflict.ts';
import type { UpdateResult, WorkloadLabels } from '../metrics.ts';
import type { UpdateNotice } from '../notify/types.ts';
import type { RolloutState } from './rollout.ts';
import { waitForRollout } from './rollout.ts';

export interface UpdaterDeps {
  gateway: Pick<KubeGateway, 'patchWorkload' | 'getWorkload' | 'createEvent'>;
  metrics: { observeUpdate(w: WorkloadLabels, result: UpdateResult): void };
  /** Sends notices (the NotificationDispatcher); must not throw. */
  notify: (notices: UpdateNotice[]) => Promise<void>;
  logger: Logger;
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
  rolloutTimeoutMs: number;
  rolloutPollMs?: number;
  signal?: AbortSignal;
}

export type UpdateOutcome =
  | { result: 'success'; snapshot: WorkloadSnapshot }
  | { result: 'rolled_back'; reason: string }
  | { result: 'failed'; reason: string }
  /** Someone changed the image between our decision and our patch: nothing done, check again. */
  | { result: 'conflict' }
  /** The watcher stopped while the rollout was in progress: left as is, never rolled back blindly. */
  | { result: 'interrupted' };

export class UpdateError extends ImageWatcherError {}

export function labelsOf(w: Pick<WorkloadSnapshot, 'namespace' | 'kind' | 'name'>): WorkloadLabels {
  return { namespace: w.namespace, kind: w.kind, workload: w.name };
}

export function noticesFor(
  event: UpdateNotice['event'],
  w: WorkloadSnapshot,
  candidates: readonly Candidate[],
  extra: Partial<Pick<UpdateNotice, 'detail' | 'releaseNotes' | 'approvalUrl'>> = {},
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

function describe(candidates: readonly Candidate[]): string {
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

/**
 * Applies candidates, watches the rollout and rolls back when it fails. The rollback records
 * `last-failed-version` so the same version is never tried again.
 */
export async function applyUpdate(
  deps: UpdaterDeps,
  input: {
    snapshot: WorkloadSnapshot;
    candidates: Candidate[];
    watched: readonly WatchedContainer[];
    /** Called once the new image is written, before the rollout is watched (manual API answers then). */
    onPatched?: (w: WorkloadSnapshot) => void;
  },
): Promise<UpdateOutcome> {
  const { snapshot: w, candidates } = input;
  const labels = labelsOf(w);
  const log = deps.logger.child({ workload: labels });
  let patched: WorkloadSnapshot;
  try {
    patched = await deps.gateway.patchWorkload(
      w.kind,
      w.namespace,
      w.name,
      updatePatch(
        w,
        candidates,
        input.watched,
        deps.now(),
        new Date(deps.now().getTime() + deps.rolloutTimeoutMs),
      ),
    );
  } catch (err) {
    if (isPatchConflict(err)) {
      log.info('image changed since the check; will check again');
      return { result: 'conflict' };
    }
    const reason = err instanceof Error ? err.message : String(err);
    log.error({ err }, 'update patch failed');
    deps.metrics.observeUpdate(labels, 'failed');
    await deps.notify(noticesFor('failed', w, candidates, { detail: reason }));
    return { result: 'failed', reason };
  }
  log.info({ changes: describe(candidates) }, 'image updated; watching the rollout');
  input.onPatched?.(patched);
  await recordEvent(deps, patched, 'Normal', 'ImageUpdated', `image-watcher updated ${describe(candidates)}`);

  return settleRollout(deps, {
    snapshot: patched,
    candidates,
    watchedNames: input.watched.map((c) => c.info.name),
    timeoutMs: deps.rolloutTimeoutMs,
  });
}

/**
 * Watches the rollout of an applied update to its end: on success the pending-rollout annotation
 * is cleared and `updated` is sent; on failure the old images are put back (which clears it too).
 * When the watcher stops or loses leadership meanwhile, everything is left as is for the next leader.
 */
async function settleRollout(
  deps: UpdaterDeps,
  input: {
    snapshot: WorkloadSnapshot;
    candidates: readonly Candidate[];
    watchedNames: readonly string[];
    timeoutMs: number;
  },
): Promise<UpdateOutcome> {
  const { snapshot: w, candidates } = input;
  const labels = labelsOf(w);
  const log = deps.logger.child({ workload: labels });
  let lastRead: WorkloadSnapshot | undefined;
  const rollout: RolloutState = await waitForRollout({
    gateway: deps.gateway,
    kind: w.kind,
    namespace: w.namespace,
    name: w.name,
    generation: w.rollout.generation,
    timeoutMs: input.timeoutMs,
    now: () => deps.now().getTime(),
    sleep: deps.sleep,
    ...(deps.rolloutPollMs === undefined ? {} : { intervalMs: deps.rolloutPollMs }),
    ...(deps.signal ? { signal: deps.signal } : {}),
    onRead: (x) => {
      lastRead = x;
    },
  });
  if (deps.signal?.aborted) {
    log.warn('stopping while the rollout is in progress; leaving it to the next leader');
    return { result: 'interrupted' };
  }
  if (rollout.status === 'complete') {
    // The snapshot that showed the rollout complete: enough to clear the record (guarded by test).
    const done = lastRead ?? w;
    await clearPendingRollout(deps, done, log);
    deps.metrics.observeUpdate(labels, 'success');
    await deps.notify(noticesFor('updated', done, candidates));
    return { result: 'success', snapshot: done };
  }

  const reason = rollout.status === 'failed' ? rollout.reason : 'rollout did not complete';
  log.warn({ reason }, 'rollout failed; rolling back');
  // Fresh for the rollback: its guards must see the latest image and annotations.
  const current = (await deps.gateway.getWorkload(w.kind, w.namespace, w.name).catch(() => undefined)) ?? w;
  try {
    await deps.gateway.patchWorkload(
      w.kind,
      w.namespace,
      w.name,
      rollbackPatch(current, candidates, input.watchedNames),
    );
  } catch (err) {
    const why = isPatchConflict(err)
      ? 'the image was changed by someone else during the rollout'
      : String(err);
    log.error({ err }, 'rollback failed');
    deps.metrics.observeUpdate(labels, 'failed');
    await clearPendingRollout(deps, current, log);
    await recordEvent(
      deps,
      current,
      'Warning',
      'UpdateFailed',
      `rollout of ${describe(candidates)} failed (${reason}); rollback failed: ${why}`,
    );
    await deps.notify(
      noticesFor('failed', current, candidates, { detail: `${reason}; rollback failed: ${why}` }),
    );
    return { result: 'failed', reason: `${reason}; rollback failed: ${why}` };
  }
  deps.metrics.observeUpdate(labels, 'rolled_back');
  await recordEvent(
    deps,
    current,
    'Warning',
    'UpdateRolledBack',
    `rollout of ${describe(candidates)} failed (${reason}); rolled back, the version will not be tried again`,
  );
  await deps.notify(noticesFor('rolled_back', current, candidates, { detail: reason }));
  return { result: 'rolled_back', reason };
}

/** Drops `image-watcher/rollout`; a failure only means the next leader looks at it once more. */
async function clearPendingRollout(
  deps: Pick<UpdaterDeps, 'gateway'>,
  w: WorkloadSnapshot,
  log: Logger,
): Promise<void> {
  const ops = clearRolloutOps(w);
  if (ops.length === 0) return;
  try {
    await deps.gateway.patchWorkload(w.kind, w.namespace, w.name, ops);
  } catch (err) {
    log.warn({ err }, 'cannot clear the image-watcher/rollout annotation');
  }
}

/**
 * Finishes an update another replica (or this one before a restart) applied but did not see
 * through: `image-watcher/rollout` names the changes and the deadline. The rollout is watched
 * until that deadline and rolled back if it fails. When the images are no longer the ones the
 * update wrote, someone changed them since: nothing is rolled back and the record is dropped.
 */
export async function resumeRollout(
  deps: UpdaterDeps,
  w: WorkloadSnapshot,
  watchedNames: readonly string[],
): Promise<UpdateOutcome | undefined> {
  const value = w.annotations[ANNOTATIONS.rollout];
  if (value === undefined) return undefined;
  const log = deps.logger.child({ workload: labelsOf(w) });
  const parsed = parsePendingRollout(value);
  if (!parsed.ok) {
    log.warn({ reason: parsed.reason }, 'unreadable image-watcher/rollout annotation; dropping it');
    await clearPendingRollout(deps, w, log);
    return undefined;
  }
  const { rollout } = parsed;
  const byPath = new Map(w.containers.map((c) => [c.imagePath, c.image]));
  if (rollout.changes.some((c) => byPath.get(c.imagePath) !== c.newImage)) {
    log.info('the images changed since the unfinished update; nothing to resume');
    await clearPendingRollout(deps, w, log);
    return undefined;
  }
  const candidates: Candidate[] = rollout.changes.map((c) => ({ ...c }));
  log.info(
    { changes: describe(candidates), deadline: rollout.deadline },
    'resuming the watch of an unfinished rollout',
  );
  return settleRollout(deps, {
    snapshot: w,
    candidates,
    watchedNames,
    // At least one look even when the deadline has passed: a finished rollout is not rolled back.
    timeoutMs: Math.max(0, Date.parse(rollout.deadline) - deps.now().getTime()),
  });
}
