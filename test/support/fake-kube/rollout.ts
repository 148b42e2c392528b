import type { KubeObject } from './store.ts';

export type RolloutMode = 'succeed' | 'fail' | 'off';
/** Decides per object how the simulated controller rolls it out. */
export type RolloutPolicy = RolloutMode | ((obj: KubeObject) => RolloutMode);

function desiredReplicas(obj: KubeObject): number {
  const spec = (obj.spec ?? {}) as { replicas?: unknown };
  return typeof spec.replicas === 'number' ? spec.replicas : 1;
}

/**
 * The status a controller would report once it has acted on the object's current generation:
 * all replicas updated and available, or (fail) stuck with one new unavailable pod and, for a
 * Deployment, a ProgressDeadlineExceeded condition.
 */
export function rolloutStatus(
  obj: KubeObject,
  mode: 'succeed' | 'fail',
): Record<string, unknown> | undefined {
  const gen = obj.metadata.generation ?? 1;
  const n = desiredReplicas(obj);
  const updated = mode === 'succeed' ? n : Math.min(1, n);
  const available = mode === 'succeed' ? n : Math.max(0, n - 1);
  switch (obj.kind) {
    case 'Deployment':
      return {
        observedGeneration: gen,
        replicas: n,
        updatedReplicas: updated,
        readyReplicas: available,
        availableReplicas: available,
        ...(mode === 'fail' ? { unavailableReplicas: 1 } : {}),
        conditions: [
          {
            type: 'Available',
            status: available >= n ? 'True' : 'False',
            reason: available >= n ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
          },
          mode === 'succeed'
            ? {
                type: 'Progressing',
                status: 'True',
                reason: 'NewReplicaSetAvailable',
                message: 'ReplicaSet has successfully progressed.',
              }
            : {
                type: 'Progressing',
                status: 'False',
                reason: 'ProgressDeadlineExceeded',
                message: 'ReplicaSet has timed out progressing.',
              },
        ],
      };
    case 'StatefulSet':
      return {
        observedGeneration: gen,
        replicas: n,
        updatedReplicas: updated,
        readyReplicas: available,
        availableReplicas: available,
        currentReplicas: updated,
        currentRevision: mode === 'succeed' ? `rev-${gen}` : `rev-${gen - 1}`,
        updateRevision: `rev-${gen}`,
      };
    case 'DaemonSet':
      return {
        observedGeneration: gen,
        desiredNumberScheduled: n,
        currentNumberScheduled: n,
        updatedNumberScheduled: updated,
        numberReady: available,
        numberAvailable: available,
        ...(mode === 'fail' ? { numberUnavailable: n - available } : {}),
        numberMisscheduled: 0,
      };
    default:
      return undefined;
  }
}
