/** The resource types the fake API server serves, keyed by URL plural. */
export interface ResourceType {
  group: string; // '' for the core group
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  /** metadata.generation is kept and bumped when `spec` changes (workload kinds). */
  generation: boolean;
  /** status is a subresource: writes to the main resource leave it alone. */
  statusSubresource: boolean;
  /** a simulated controller rolls the workload out after a spec change. */
  rollout: boolean;
}

function rt(group: string, version: string, plural: string, kind: string, extra: Partial<ResourceType> = {}) {
  return {
    group,
    version,
    plural,
    kind,
    namespaced: true,
    generation: false,
    statusSubresource: false,
    rollout: false,
    ...extra,
  } satisfies ResourceType;
}

const workload = { generation: true, statusSubresource: true };

export const RESOURCE_TYPES: readonly ResourceType[] = [
  rt('apps', 'v1', 'deployments', 'Deployment', { ...workload, rollout: true }),
  rt('apps', 'v1', 'statefulsets', 'StatefulSet', { ...workload, rollout: true }),
  rt('apps', 'v1', 'daemonsets', 'DaemonSet', { ...workload, rollout: true }),
  rt('batch', 'v1', 'cronjobs', 'CronJob', workload),
  rt('', 'v1', 'events', 'Event'),
  rt('', 'v1', 'secrets', 'Secret'),
  rt('', 'v1', 'serviceaccounts', 'ServiceAccount'),
  rt('', 'v1', 'configmaps', 'ConfigMap'),
  rt('', 'v1', 'namespaces', 'Namespace', { namespaced: false }),
  rt('coordination.k8s.io', 'v1', 'leases', 'Lease'),
];

export function apiVersionOf(r: ResourceType): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}

/** URL prefix: `/api/v1` for the core group, `/apis/<group>/<version>` otherwise. */
export function prefixOf(r: ResourceType): string {
  return r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
}

/**
 * Finds a type from what a test writes: 'Deployment', 'deployments', 'apps/v1/Deployment',
 * 'apps/v1, Kind=Deployment' style is not needed. Case-insensitive.
 */
export function resolveType(kindOrPlural: string): ResourceType {
  const key = kindOrPlural.includes('/')
    ? kindOrPlural.slice(kindOrPlural.lastIndexOf('/') + 1)
    : kindOrPlural;
  const lower = key.toLowerCase();
  const found = RESOURCE_TYPES.find((r) => r.kind.toLowerCase() === lower || r.plural === lower);
  if (!found) {
    throw new Error(
      `fake-kube: unknown kind '${kindOrPlural}'; known: ${RESOURCE_TYPES.map((r) => r.kind).join(', ')}`,
    );
  }
  return found;
}

export function typeForObject(obj: { apiVersion?: unknown; kind?: unknown }): ResourceType {
  if (typeof obj.kind !== 'string') throw new Error('fake-kube: object has no kind');
  const r = resolveType(obj.kind);
  if (obj.apiVersion !== undefined && obj.apiVersion !== apiVersionOf(r)) {
    throw new Error(
      `fake-kube: ${obj.kind} must have apiVersion ${apiVersionOf(r)}, got ${JSON.stringify(obj.apiVersion)}`,
    );
  }
  return r;
}

/** Matches `/api/v1/...` and `/apis/<group>/<version>/...` paths to a type and its coordinates. */
export interface ParsedPath {
  type: ResourceType;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
}

export function parseResourcePath(pathname: string): ParsedPath | undefined {
  const parts = pathname
    .split('/')
    .filter((p) => p !== '')
    .map(decodeURIComponent);
  let group: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    group = '';
    rest = parts.slice(1);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    group = parts[1] ?? '';
    rest = parts.slice(2);
  } else {
    return undefined;
  }
  const [version, ...tail] = rest;
  let namespace: string | undefined;
  let plural: string | undefined;
  let name: string | undefined;
  let subresource: string | undefined;
  if (tail[0] === 'namespaces' && tail.length >= 3) {
    [, namespace, plural, name, subresource] = tail;
    if (tail.length > 5) return undefined;
  } else {
    [plural, name, subresource] = tail;
    if (tail.length > 3) return undefined;
  }
  const type = RESOURCE_TYPES.find((r) => r.group === group && r.version === version && r.plural === plural);
  if (!type) return undefined;
  if (!type.namespaced && namespace !== undefined) return undefined;
  return { type, namespace, name, subresource };
}
