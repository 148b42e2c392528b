import type { Logger } from 'pino';
import { ImageWatcherError } from '../../shared/errors.ts';
import type { Candidate } from '../check/decide.ts';
import { rollbackPatch, updatePatch } from '../check/decide.ts';
import type { WatchedContainer } from '../check/checker.ts';
import type { KubeGateway, WorkloadSnapshot } from '../kube/types.ts';
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
      updatePatch(w, candidates, input.watched, deps.now()),
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

  const rollout: RolloutState = await waitForRollout({
    gateway: deps.gateway,
    kind: w.kind,
    namespace: w.namespace,
    name: w.name,
    generation: patched.rollout.generation,
    timeoutMs: deps.rolloutTimeoutMs,
    now: () => deps.now().getTime(),
    sleep: deps.sleep,
    ...(deps.rolloutPollMs === undefined ? {} : { intervalMs: deps.rolloutPollMs }),
    ...(deps.signal ? { signal: deps.signal } : {}),
  });
  if (deps.signal?.aborted) {
    log.warn('stopping while the rollout is in progress; leaving it as is');
    return { result: 'interrupted' };
  }
  if (rollout.status === 'complete') {
    deps.metrics.observeUpdate(labels, 'success');
    await deps.notify(noticesFor('updated', patched, candidates));
    return { result: 'success', snapshot: patched };
  }

  const reason = rollout.status === 'failed' ? rollout.reason : 'rollout did not complete';
  log.warn({ reason }, 'rollout failed; rolling back');
  const current =
    (await deps.gateway.getWorkload(w.kind, w.namespace, w.name).catch(() => undefined)) ?? patched;
  try {
    const names = input.watched.map((c) => c.info.name);
    await deps.gateway.patchWorkload(w.kind, w.namespace, w.name, rollbackPatch(current, candidates, names));
  } catch (err) {
    const why = isPatchConflict(err)
      ? 'the image was changed by someone else during the rollout'
      : String(err);
    log.error({ err }, 'rollback failed');
    deps.metrics.observeUpdate(labels, 'failed');
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
