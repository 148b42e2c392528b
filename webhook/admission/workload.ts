import type { GroupVersionKind } from './types.ts';

/** Workload kinds the webhook reviews (same names as watcher/kube's WorkloadKind). */
export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'CronJob';

export interface WorkloadContainer {
  name: string;
  image: string;
  init: boolean;
}

const KINDS: Readonly<Record<string, WorkloadKind>> = {
  'apps/v1/Deployment': 'Deployment',
  'apps/v1/StatefulSet': 'StatefulSet',
  'apps/v1/DaemonSet': 'DaemonSet',
  'batch/v1/CronJob': 'CronJob',
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The handled workload kind of a request, or undefined for anything else (allowed unchanged). */
export function workloadKindOf(gvk: unknown): WorkloadKind | undefined {
  if (!isRecord(gvk)) return undefined;
  const { group, version, kind } = gvk as Partial<GroupVersionKind>;
  if (typeof group !== 'string' || typeof version !== 'string' || typeof kind !== 'string') return undefined;
  return Object.hasOwn(KINDS, `${group}/${version}/${kind}`)
    ? KINDS[`${group}/${version}/${kind}`]
    : undefined;
}

function field(value: unknown, key: string): unknown {
  return isRecord(value) ? value[key] : undefined;
}

/** The pod spec: `spec.template.spec`, or `spec.jobTemplate.spec.template.spec` for a CronJob. */
export function podSpecOf(kind: WorkloadKind, object: unknown): unknown {
  const spec = field(object, 'spec');
  const template = kind === 'CronJob' ? field(field(spec, 'jobTemplate'), 'spec') : spec;
  return field(field(template, 'template'), 'spec');
}

/**
 * Containers then init containers, in pod spec order. Entries without a string name are skipped:
 * the API server rejects such objects after admission anyway, and the webhook must not crash on them.
 */
export function containersOf(kind: WorkloadKind, object: unknown): WorkloadContainer[] {
  const podSpec = podSpecOf(kind, object);
  const out: WorkloadContainer[] = [];
  for (const [key, init] of [
    ['containers', false],
    ['initContainers', true],
  ] as const) {
    const list = field(podSpec, key);
    if (!Array.isArray(list)) continue;
    for (const c of list as unknown[]) {
      const name = field(c, 'name');
      const image = field(c, 'image');
      if (typeof name !== 'string' || name === '') continue;
      out.push({ name, image: typeof image === 'string' ? image : '', init });
    }
  }
  return out;
}
