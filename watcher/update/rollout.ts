import type { KubeGateway, RolloutFields, WorkloadKind, WorkloadSnapshot } from '../kube/types.ts';

export type RolloutState =
  { status: 'progressing'; reason: string } | { status: 'complete' } | { status: 'failed'; reason: string };

/** StatefulSets expose revisions; the shared snapshot may carry them (optional extension). */
export type RolloutStatus = RolloutFields & { currentRevision?: string; updateRevision?: string };

/**
 * Pure evaluation of a rollout, mirroring `kubectl rollout status`: the controller must have
 * seen our generation, every replica must run the new template and be available. A
 * Deployment that passed its progress deadline has failed.
 * For DaemonSets the snapshot maps desired/updated/available scheduled pods onto the replica fields.
 */
export function evaluateRollout(kind: WorkloadKind, generation: number, s: RolloutStatus): RolloutState {
  if (kind === 'CronJob') return { status: 'complete' }; // the next Job uses the new template
  const deadline = s.conditions.find(
    (c) => c.type === 'Progressing' && c.status === 'False' && c.reason === 'ProgressDeadlineExceeded',
  );
  if (deadline) return { status: 'failed', reason: deadline.message ?? 'progress deadline exceeded' };
  if (s.observedGeneration === undefined || s.observedGeneration < generation) {
    return { status: 'progressing', reason: 'waiting for the controller to observe the new generation' };
  }
  const want = s.replicas ?? 1;
  const updated = s.updatedReplicas ?? 0;
  const available = s.availableReplicas ?? 0;
  if (updated < want) return { status: 'progressing', reason: `${updated} of ${want} replicas updated` };
  if (available < want)
    return { status: 'progressing', reason: `${available} of ${want} replicas available` };
  if (kind === 'StatefulSet' && s.updateRevision !== undefined && s.currentRevision !== s.updateRevision) {
    return {
      status: 'progressing',
      reason: 'waiting for the current revision to become the update revision',
    };
  }
  return { status: 'complete' };
}

export interface WaitForRolloutOptions {
  gateway: Pick<KubeGateway, 'getWorkload'>;
  kind: WorkloadKind;
  namespace: string;
  name: string;
  /** metadata.generation returned by our patch. */
  generation: number;
  timeoutMs: number;
  intervalMs?: number;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  signal?: AbortSignal;
  /** Sees every snapshot read, so the caller need not read the workload again. */
  onRead?: (w: WorkloadSnapshot) => void;
}

/** Polls the workload until the rollout completes, fails, the workload is gone or the time is up. */
export async function waitForRollout(opts: WaitForRolloutOptions): Promise<RolloutState> {
  const start = opts.now();
  const interval = opts.intervalMs ?? 2000;
  for (;;) {
    if (opts.signal?.aborted) return { status: 'failed', reason: 'the watcher is shutting down' };
    let last: RolloutState;
    try {
      const w = await opts.gateway.getWorkload(opts.kind, opts.namespace, opts.name);
      if (!w) return { status: 'failed', reason: 'the workload was deleted during the rollout' };
      opts.onRead?.(w);
      last = evaluateRollout(opts.kind, opts.generation, w.rollout);
    } catch (err) {
      // A transient API error must not end the watch (no rollback, a lost cycle): poll again
      // until the timeout, which then fails the rollout and rolls it back as usual.
      last = {
        status: 'progressing',
        reason: `cannot read the workload: ${err instanceof Error ? err.message : String(err)}`,
      };
    }
    if (last.status !== 'progressing') return last;
    if (opts.now() - start >= opts.timeoutMs) {
      return {
        status: 'failed',
        reason: `rollout did not finish within ${Math.round(opts.timeoutMs / 1000)}s: ${last.reason}`,
      };
    }
    await opts.sleep(interval);
  }
}
