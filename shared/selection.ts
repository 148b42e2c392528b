import { ANNOTATIONS, readScope } from './annotations.ts';

/**
 * Which workloads one installation handles, besides the label selector (which the API server
 * applies): WATCH_ANNOTATED_ONLY and WATCHER_SCOPE against `image-watcher/scope`. Every watcher
 * applies the same rule, so for any workload exactly one scope (or none) matches: two
 * installations with different scopes never both act on it.
 */
export interface Selection {
  /** WATCH_ANNOTATED_ONLY: only workloads that carry `image-watcher/mode`. */
  annotatedOnly: boolean;
  /** WATCHER_SCOPE: this watcher's scope; undefined handles only workloads without one. */
  scope: string | undefined;
}

/** Why a workload is not this watcher's: stable words for logs and the API. */
export type Exclusion = 'not-annotated' | 'other-scope' | 'scoped';

/** Why the workload with these annotations is left to others, or undefined when it is ours. */
export function excludedBy(
  selection: Selection,
  annotations: Readonly<Record<string, string>>,
): Exclusion | undefined {
  const scope = readScope(annotations);
  if (selection.scope === undefined) {
    if (scope !== undefined) return 'scoped';
  } else if (scope !== selection.scope) {
    return 'other-scope';
  }
  if (selection.annotatedOnly && annotations[ANNOTATIONS.mode] === undefined) return 'not-annotated';
  return undefined;
}
