/** The watcher's view of Kubernetes: small snapshots of workloads and the operations it needs. */

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'CronJob';
export const WORKLOAD_KINDS: readonly WorkloadKind[] = ['Deployment', 'StatefulSet', 'DaemonSet', 'CronJob'];

/** `imagePath` is the JSON pointer to the image field, for JSON Patch `test`/`replace`. */
export interface ContainerInfo {
  name: string;
  image: string;
  init: boolean;
  imagePath: string;
}

export interface RolloutFields {
  generation: number;
  observedGeneration: number | undefined;
  replicas: number | undefined;
  updatedReplicas: number | undefined;
  availableReplicas: number | undefined;
  readyReplicas: number | undefined;
  conditions: { type: string; status: string; reason?: string; message?: string }[];
  /** StatefulSet: the revision pods run and the one being rolled out (status). */
  currentRevision?: string | undefined;
  updateRevision?: string | undefined;
  /** StatefulSet: spec.updateStrategy.rollingUpdate.partition (pods below it keep the old revision). */
  partition?: number | undefined;
}

export interface WorkloadSnapshot {
  kind: WorkloadKind;
  namespace: string;
  name: string;
  uid: string;
  resourceVersion: string;
  /** Only `image-watcher/*` keys are kept (memory). */
  annotations: Record<string, string>;
  /**
   * Whether the object has a `metadata.annotations` map at all (possibly without our keys). Without
   * one, a JSON Patch must create the map before it can add `/metadata/annotations/<key>`.
   */
  hasAnnotations: boolean;
  containers: ContainerInfo[];
  imagePullSecrets: string[];
  serviceAccountName: string;
  rollout: RolloutFields;
  /**
   * The GitOps controller that syncs this object from Git, from its tracking labels/annotations
   * (e.g. `Argo CD (argocd.argoproj.io/instance=shop)`); undefined when none is seen.
   */
  gitopsOwner?: string | undefined;
}

export type JsonPatchOp = { op: 'test' | 'replace' | 'add' | 'remove'; path: string; value?: unknown };

export interface KubeGateway {
  getWorkload(kind: WorkloadKind, namespace: string, name: string): Promise<WorkloadSnapshot | undefined>;
  /** Throws PatchConflictError when a `test` fails (422) or on 409. */
  patchWorkload(
    kind: WorkloadKind,
    namespace: string,
    name: string,
    ops: JsonPatchOp[],
  ): Promise<WorkloadSnapshot>;
  createEvent(
    target: WorkloadSnapshot,
    e: { type: 'Normal' | 'Warning'; reason: string; message: string },
  ): Promise<void>;
  /** The parsed `.dockerconfigjson` of a pull secret, or undefined when it does not exist. */
  getDockerConfigSecret(namespace: string, name: string): Promise<unknown>;
  /** The service account's imagePullSecrets names; [] when it does not exist. */
  getServiceAccountPullSecrets(namespace: string, name: string): Promise<string[]>;
}

/** Informers on the 4 kinds, restarted on error, with a resync watchdog. */
export interface WorkloadWatch {
  start(): Promise<void>;
  stop(): Promise<void>;
  list(): WorkloadSnapshot[];
  on(event: 'upsert', fn: (w: WorkloadSnapshot, old: WorkloadSnapshot | undefined) => void): void;
  on(event: 'delete', fn: (w: WorkloadSnapshot) => void): void;
  /**
   * Whether a workload read from the API rather than the watch belongs to this installation's
   * selection (WATCH_SELECTOR, WATCH_ANNOTATED_ONLY, WATCHER_SCOPE); absent: every workload does.
   */
  admits?(w: WorkloadSnapshot): { ok: boolean; reason?: string };
}

export interface LeaderElector {
  start(): Promise<void>;
  stop(): Promise<void>;
  isLeader(): boolean;
  on(event: 'change', fn: (leader: boolean) => void): void;
}
