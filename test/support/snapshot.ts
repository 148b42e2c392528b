// The one snapshot builder of the tests: a Kubernetes-shaped object goes through the production
// conversion (watcher/kube/workloads.ts toSnapshot), so test snapshots never drift from real ones.
import type { WorkloadKind, WorkloadSnapshot } from '../../watcher/kube/types.ts';
import { toSnapshot } from '../../watcher/kube/workloads.ts';

export interface WorkloadFixture {
  kind?: WorkloadKind;
  namespace?: string;
  name?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  /** `null`: the object has no annotations map at all. */
  annotations?: Record<string, string> | null;
  labels?: Record<string, string>;
  /** `name=image` pairs or objects; containers in order. */
  containers?: readonly ({ name: string; image: string } | string)[];
  initContainers?: readonly { name: string; image: string }[];
  imagePullSecrets?: readonly string[];
  serviceAccountName?: string;
  replicas?: number;
  /** Status as the API server would report it; default: a finished rollout of `generation`. */
  status?: Record<string, unknown>;
  /** Extra fields merged into `spec` (updateStrategy, ...). */
  spec?: Record<string, unknown>;
}

function containerList(list: WorkloadFixture['containers']): { name: string; image: string }[] {
  return (list ?? [{ name: 'app', image: 'nginx:1.25.0' }]).map((c, i) =>
    typeof c === 'string' ? { name: i === 0 ? 'app' : `c${i}`, image: c } : { name: c.name, image: c.image },
  );
}

/** The workload as the API server returns it. */
export function workloadObject(f: WorkloadFixture = {}): Record<string, unknown> {
  const kind = f.kind ?? 'Deployment';
  const generation = f.generation ?? 1;
  const replicas = f.replicas ?? 1;
  const podSpec: Record<string, unknown> = {
    containers: containerList(f.containers),
    ...(f.initContainers ? { initContainers: f.initContainers.map((c) => ({ ...c })) } : {}),
    ...(f.imagePullSecrets ? { imagePullSecrets: f.imagePullSecrets.map((name) => ({ name })) } : {}),
    ...(f.serviceAccountName !== undefined ? { serviceAccountName: f.serviceAccountName } : {}),
  };
  const template = { spec: podSpec };
  const spec =
    kind === 'CronJob'
      ? { schedule: '@daily', jobTemplate: { spec: { template } }, ...f.spec }
      : kind === 'DaemonSet'
        ? { selector: {}, template, ...f.spec }
        : { selector: {}, replicas, template, ...f.spec };
  const finished =
    kind === 'DaemonSet'
      ? {
          observedGeneration: generation,
          desiredNumberScheduled: replicas,
          updatedNumberScheduled: replicas,
          numberAvailable: replicas,
          numberReady: replicas,
        }
      : kind === 'CronJob'
        ? {}
        : {
            observedGeneration: generation,
            replicas,
            updatedReplicas: replicas,
            availableReplicas: replicas,
            readyReplicas: replicas,
          };
  return {
    apiVersion: kind === 'CronJob' ? 'batch/v1' : 'apps/v1',
    kind,
    metadata: {
      namespace: f.namespace ?? 'shop',
      name: f.name ?? 'web',
      uid: f.uid ?? `uid-${f.name ?? 'web'}`,
      resourceVersion: f.resourceVersion ?? '1',
      generation,
      ...(f.annotations === null ? {} : { annotations: { ...f.annotations } }),
      ...(f.labels ? { labels: { ...f.labels } } : {}),
    },
    spec,
    status: f.status ?? finished,
  };
}

/** The snapshot the watcher would hold for that object. */
export function snapshotOf(f: WorkloadFixture = {}): WorkloadSnapshot {
  const kind = f.kind ?? 'Deployment';
  const snap = toSnapshot(kind, workloadObject(f));
  if (!snap) throw new Error(`the fixture is not a usable ${kind}`);
  return snap;
}
