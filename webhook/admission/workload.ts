import { podContainers, podSpecOf as sharedPodSpecOf } from '../../shared/pod-spec.ts';
import type { GroupVersionKind } from './types.ts';

/** Workload kinds the webhook reviews (same names as watcher/kube's WorkloadKind). */
export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'CronJob';

export interface WorkloadContainer {
  name: string;
  image: string;
  init: boolean;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The handled workload kind of a request, or undefined for anything else (allowed unchanged). */
export function workloadKindOf(gvk: unknown): WorkloadKind | undefined {
  if (!isRecord(gvk)) return undefined;
  const { group, version, kind } = gvk as Partial<GroupVersionKind>;
  // Compared, not looked up by a "group/version/kind" string built on every review.
  if (group === 'apps' && version === 'v1') {
    return kind === 'Deployment' || kind === 'StatefulSet' || kind === 'DaemonSet' ? kind : undefined;
  }
  return group === 'batch' && version === 'v1' && kind === 'CronJob' ? kind : undefined;
}

/** The pod spec: `spec.template.spec`, or `spec.jobTemplate.spec.template.spec` for a CronJob. */
export function podSpecOf(kind: WorkloadKind, object: unknown): unknown {
  return sharedPodSpecOf(kind, object);
}

/**
 * Containers then init containers, in pod spec order (the shared reader of shared/pod-spec.ts).
 * Its entries are returned as they are (they carry field and index too): no per-review copy.
 */
export function containersOf(kind: WorkloadKind, object: unknown): readonly WorkloadContainer[] {
  return podContainers(sharedPodSpecOf(kind, object));
}
