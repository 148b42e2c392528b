import { isDeepStrictEqual } from 'node:util';
import { podContainers, podSpecOf, podSpecPointer as sharedPointer } from '../../shared/pod-spec.ts';
import type { StringPool } from '../../shared/string-pool.ts';
import type { ContainerInfo, RolloutFields, WorkloadKind, WorkloadSnapshot } from './types.ts';

/**
 * Pure conversion of Kubernetes workload objects (raw watch JSON or client-node models; the
 * field names are the same) into small snapshots: only what decisions need is kept, so
 * thousands of workloads stay cheap in memory.
 */

const ANNOTATION_PREFIX = 'image-watcher/';

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** JSON pointer (RFC 6901) of the pod spec inside a workload of this kind. */
export function podSpecPointer(kind: WorkloadKind): string {
  return sharedPointer(kind);
}

/**
 * The empty list most snapshots hold (no pull secrets, no failing condition): one frozen
 * array instead of one per workload; snapshots are read, never changed in place.
 */
const NONE: never[] = Object.freeze([]) as unknown as never[];

/** Without a pool every string is kept as it came. */
const unpooled = { get: (s: string) => s, maybe: (s: string | undefined) => s };
type Pool = Pick<StringPool, 'get' | 'maybe'>;

/** The shared reader; a container without an image cannot be watched or patched. */
function containersOf(podSpec: Obj, pointer: string, pool: Pool): ContainerInfo[] {
  return podContainers(podSpec)
    .filter((c) => c.image !== '')
    .map((c) => ({
      name: pool.get(c.name),
      image: pool.get(c.image),
      init: c.init,
      // join: one flat string, not a tree of concatenations.
      imagePath: pool.get([pointer, c.field, c.index, 'image'].join('/')),
    }));
}

/** Only `image-watcher/*` keys: other annotations (last-applied-configuration...) can be large. */
export function watchedAnnotations(annotations: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(annotations) ?? {})) {
    if (k.startsWith(ANNOTATION_PREFIX) && typeof v === 'string') out[k] = v;
  }
  return out;
}

/** Labels and annotations Argo CD and Flux put on what they sync, with the tool's name. */
const GITOPS_MARKERS: readonly { where: 'labels' | 'annotations'; key: string; tool: string }[] = [
  { where: 'annotations', key: 'argocd.argoproj.io/tracking-id', tool: 'Argo CD' },
  { where: 'labels', key: 'argocd.argoproj.io/instance', tool: 'Argo CD' },
  { where: 'labels', key: 'kustomize.toolkit.fluxcd.io/name', tool: 'Flux' },
  { where: 'labels', key: 'helm.toolkit.fluxcd.io/name', tool: 'Flux' },
];

/** Which GitOps controller syncs the object, or undefined. */
export function gitopsOwnerOf(meta: Record<string, unknown>): string | undefined {
  const maps = { labels: obj(meta.labels) ?? {}, annotations: obj(meta.annotations) ?? {} };
  for (const m of GITOPS_MARKERS) {
    const v = str(maps[m.where][m.key]);
    if (v === undefined || v === '') continue;
    return `${m.tool} (${m.key}=${v.length > 80 ? `${v.slice(0, 80)}...` : v})`;
  }
  return undefined;
}

/** Conditions that hold: what a healthy workload reports, read by no decision (kept: False, Unknown). */
const HOLDING = 'True';

function conditionsOf(status: Obj, pool: Pool): RolloutFields['conditions'] {
  const out: RolloutFields['conditions'] = [];
  for (const c of arr(status.conditions)) {
    const type = str(obj(c)?.type);
    const st = str(obj(c)?.status);
    if (type === undefined || st === undefined || st === HOLDING) continue;
    const reason = str(obj(c)?.reason);
    const message = str(obj(c)?.message);
    out.push({
      type: pool.get(type),
      status: pool.get(st),
      ...(reason !== undefined ? { reason: pool.get(reason) } : {}),
      ...(message !== undefined ? { message: pool.get(message) } : {}),
    });
  }
  return out.length === 0 ? NONE : out;
}

/** DaemonSets count nodes, not replicas: mapped onto the same fields. */
export function rolloutFieldsOf(kind: WorkloadKind, o: Obj, pool: Pool = unpooled): RolloutFields {
  const meta = obj(o.metadata) ?? {};
  const status = obj(o.status) ?? {};
  const spec = obj(o.spec) ?? {};
  const generation = num(meta.generation) ?? 0;
  const observedGeneration = num(status.observedGeneration);
  const conditions = conditionsOf(status, pool);
  // One literal per kind (no spread of a common part): the fields stay inside the object.
  switch (kind) {
    case 'DaemonSet':
      return {
        generation,
        observedGeneration,
        conditions,
        replicas: num(status.desiredNumberScheduled),
        updatedReplicas: num(status.updatedNumberScheduled),
        availableReplicas: num(status.numberAvailable),
        readyReplicas: num(status.numberReady),
      };
    case 'CronJob':
      return {
        generation,
        observedGeneration,
        conditions,
        replicas: undefined,
        updatedReplicas: undefined,
        availableReplicas: undefined,
        readyReplicas: undefined,
      };
    case 'StatefulSet': {
      const rolling = obj(obj(spec.updateStrategy)?.rollingUpdate);
      return {
        generation,
        observedGeneration,
        conditions,
        replicas: num(spec.replicas) ?? 1,
        updatedReplicas: num(status.updatedReplicas),
        availableReplicas: num(status.availableReplicas),
        readyReplicas: num(status.readyReplicas),
        currentRevision: pool.maybe(str(status.currentRevision)),
        updateRevision: pool.maybe(str(status.updateRevision)),
        partition: num(rolling?.partition),
      };
    }
    default:
      return {
        generation,
        observedGeneration,
        conditions,
        // Desired replicas (spec, default 1): a rollout is complete when updated/available reach it.
        replicas: num(spec.replicas) ?? 1,
        updatedReplicas: num(status.updatedReplicas),
        availableReplicas: num(status.availableReplicas),
        readyReplicas: num(status.readyReplicas),
      };
  }
}

/**
 * A snapshot of a workload object, or undefined when the object is not a usable workload
 * (no name, no pod spec): bad input is skipped, never fatal. With a pool, values many workloads
 * repeat (namespace, images, pointers, conditions...) are kept once.
 */
export function toSnapshot(
  kind: WorkloadKind,
  input: unknown,
  pool: Pool = unpooled,
): WorkloadSnapshot | undefined {
  const o = obj(input);
  const meta = obj(o?.metadata);
  if (!o || !meta) return undefined;
  const name = str(meta.name);
  const namespace = str(meta.namespace);
  if (!name || !namespace) return undefined;
  const podSpec = podSpecOf(kind, o);
  if (!podSpec) return undefined;
  return {
    kind,
    namespace: pool.get(namespace),
    name,
    uid: str(meta.uid) ?? '',
    resourceVersion: str(meta.resourceVersion) ?? '',
    annotations: watchedAnnotations(meta.annotations),
    hasAnnotations: obj(meta.annotations) !== undefined,
    containers: containersOf(podSpec, podSpecPointer(kind), pool),
    imagePullSecrets: pullSecretsOf(podSpec, pool),
    serviceAccountName: pool.get(str(podSpec.serviceAccountName) || str(podSpec.serviceAccount) || 'default'),
    rollout: rolloutFieldsOf(kind, o, pool),
    ...withOwner(pool.maybe(gitopsOwnerOf(meta))),
  };
}

function pullSecretsOf(podSpec: Obj, pool: Pool): string[] {
  const names = arr(podSpec.imagePullSecrets)
    .map((s) => str(obj(s)?.name))
    .filter((s): s is string => s !== undefined && s !== '')
    .map((s) => pool.get(s));
  return names.length === 0 ? NONE : names;
}

function withOwner(owner: string | undefined): { gitopsOwner?: string } {
  return owner === undefined ? {} : { gitopsOwner: owner };
}

/** Stable identity of a workload across its versions. */
export function workloadKey(w: { kind: string; namespace: string; name: string }): string {
  // join: one flat string (a template literal keeps a tree of parts, three times the memory).
  return [w.kind, w.namespace, w.name].join('/');
}

/** True when two snapshots differ in anything but resourceVersion (changes outside what we keep are noise). */
export function snapshotChanged(a: WorkloadSnapshot | undefined, b: WorkloadSnapshot): boolean {
  if (a === undefined) return true;
  return !isDeepStrictEqual({ ...a, resourceVersion: '' }, { ...b, resourceVersion: '' });
}
