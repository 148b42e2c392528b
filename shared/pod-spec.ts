// The one reader of pod-spec containers, for the webhook, the watcher and the CLI: where a kind
// keeps its pod spec, and its containers in one order with one skip rule.

export type PodSpecKind = 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'CronJob' | 'Pod';

export interface PodContainer {
  name: string;
  /** '' when the entry has no string image (the caller decides whether that matters). */
  image: string;
  init: boolean;
  /** `containers` or `initContainers`, and the entry's index there (for JSON pointers). */
  field: 'containers' | 'initContainers';
  index: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function get(value: unknown, key: string): unknown {
  return isRecord(value) ? value[key] : undefined;
}

/** JSON pointer (RFC 6901) of the pod spec inside an object of this kind. */
export function podSpecPointer(kind: PodSpecKind): string {
  if (kind === 'Pod') return '/spec';
  return kind === 'CronJob' ? '/spec/jobTemplate/spec/template/spec' : '/spec/template/spec';
}

/** The pod spec of an object of this kind, or undefined when it has none. */
export function podSpecOf(kind: PodSpecKind, object: unknown): Record<string, unknown> | undefined {
  const spec = get(object, 'spec');
  const podSpec =
    kind === 'Pod'
      ? spec
      : get(get(kind === 'CronJob' ? get(get(spec, 'jobTemplate'), 'spec') : spec, 'template'), 'spec');
  return isRecord(podSpec) ? podSpec : undefined;
}

/**
 * Regular containers, then init containers, each in pod spec order: regular containers are what
 * people mean by "the image" of a workload. Entries without a non-empty string name are skipped
 * (the API server rejects them anyway; nobody may crash on them).
 */
export function podContainers(podSpec: unknown): PodContainer[] {
  const out: PodContainer[] = [];
  // Plain loops: the webhook reads the containers of every admission review.
  addContainers(out, get(podSpec, 'containers'), 'containers', false);
  addContainers(out, get(podSpec, 'initContainers'), 'initContainers', true);
  return out;
}

function addContainers(
  out: PodContainer[],
  list: unknown,
  field: 'containers' | 'initContainers',
  init: boolean,
): void {
  if (!Array.isArray(list)) return;
  for (let index = 0; index < list.length; index++) {
    const c: unknown = list[index];
    const name = get(c, 'name');
    if (typeof name !== 'string' || name === '') continue;
    const image = get(c, 'image');
    out.push({ name, image: typeof image === 'string' ? image : '', init, field, index });
  }
}
