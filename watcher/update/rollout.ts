import type { PendingRollout } from '../../shared/pending-rollout.ts';
import type { RolloutFields, WorkloadKind, WorkloadSnapshot } from '../kube/types.ts';

export type RolloutState =
  { status: 'progressing'; reason: string } | { status: 'complete' } | { status: 'failed'; reason: string };

/** @deprecated the snapshot carries the revisions itself; kept as an alias for callers. */
export type RolloutStatus = RolloutFields;

/**
 * Pure evaluation of a rollout, mirroring `kubectl rollout status`, per kind:
 * - Deployment: the controller has seen our generation, every replica runs the new template and
 *   is available; a Progressing=False/ProgressDeadlineExceeded condition is a failure.
 * - StatefulSet: the same counts, then with no partition the current revision must have become
 *   the update revision; with `rollingUpdate.partition` P only the replicas at or above P are
 *   updated, so `replicas - P` updated replicas complete it (the revisions stay apart by design).
 * - DaemonSet: desired/updated/available scheduled pods, mapped onto the replica fields.
 * - CronJob: no rollout; the next Job uses the new template, so the update counts as complete as
 *   soon as it is written and is never rolled back automatically.
 */
export function evaluateRollout(kind: WorkloadKind, generation: number, s: RolloutFields): RolloutState {
  if (kind === 'CronJob') return { status: 'complete' };
  const deadline = s.conditions.find(
    (c) => c.type === 'Progressing' && c.status === 'False' && c.reason === 'ProgressDeadlineExceeded',
  );
  if (deadline) return { status: 'failed', reason: deadline.message ?? 'progress deadline exceeded' };
  if (s.observedGeneration === undefined || s.observedGeneration < generation) {
    return { status: 'progressing', reason: 'waiting for the controller to observe the new generation' };
  }
  const replicas = s.replicas ?? 1;
  const partition = kind === 'StatefulSet' ? Math.min(Math.max(0, s.partition ?? 0), replicas) : 0;
  const wantUpdated = replicas - partition;
  const updated = s.updatedReplicas ?? 0;
  const available = s.availableReplicas ?? 0;
  if (updated < wantUpdated)
    return { status: 'progressing', reason: `${updated} of ${wantUpdated} replicas updated` };
  if (available < replicas)
    return { status: 'progressing', reason: `${available} of ${replicas} replicas available` };
  if (
    kind === 'StatefulSet' &&
    partition === 0 &&
    s.updateRevision !== undefined &&
    s.currentRevision !== s.updateRevision
  ) {
    return {
      status: 'progressing',
      reason: `pods still run revision ${s.currentRevision ?? '?'}, not ${s.updateRevision}`,
    };
  }
  return { status: 'complete' };
}

export type RolloutVerdict =
  /** The images are no longer the ones the update wrote: someone changed them; drop the record. */
  | { kind: 'superseded' }
  | { kind: 'complete' }
  | { kind: 'rollback'; reason: string }
  | { kind: 'wait'; reason: string; requeueAfterMs: number };

/**
 * What one reconcile does with a recorded rollout, from the record and the workload's status
 * alone (level-based: a restarted or newly elected leader decides exactly the same).
 */
export function judgeRollout(
  w: Pick<WorkloadSnapshot, 'kind' | 'containers' | 'rollout'>,
  record: PendingRollout,
  nowMs: number,
  pollMs: number,
): RolloutVerdict {
  const byPath = new Map(w.containers.map((c) => [c.imagePath, c.image]));
  if (record.changes.some((c) => byPath.get(c.imagePath) !== c.newImage)) return { kind: 'superseded' };
  const state = evaluateRollout(w.kind, w.rollout.generation, w.rollout);
  if (state.status === 'complete') return { kind: 'complete' };
  if (state.status === 'failed') return { kind: 'rollback', reason: state.reason };
  const left = Date.parse(record.deadline) - nowMs;
  if (left <= 0) return { kind: 'rollback', reason: `rollout did not finish in time: ${state.reason}` };
  return { kind: 'wait', reason: state.reason, requeueAfterMs: Math.max(1, Math.min(pollMs, left)) };
}
