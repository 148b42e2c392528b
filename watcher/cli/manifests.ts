import { parseAllDocuments } from 'yaml';
import { formatProblems, parseWatchSettings, readManagedState } from '../../shared/annotations.ts';
import type { Overrides, WatchSettings } from '../../shared/annotations.ts';
import { podContainers, podSpecOf } from '../../shared/pod-spec.ts';
import { UsageError } from './args.ts';
import { skippedVersions } from '../check/decide.ts';

export const SCANNED_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'CronJob', 'Pod'] as const;
export type ScannedKind = (typeof SCANNED_KINDS)[number];

/** One container of one workload found in a manifest file. */
export interface ScanTarget {
  file: string;
  kind: ScannedKind;
  namespace: string;
  name: string;
  container: string;
  init: boolean;
  image: string;
  settings: WatchSettings;
  /** Versions the watcher must not propose again (`last-failed-version` in the manifest). */
  failed: ReadonlySet<string>;
}

export interface ScanProblem {
  file: string;
  kind: ScannedKind;
  namespace: string;
  name: string;
  message: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function get(obj: unknown, ...path: string[]): unknown {
  let cur = obj;
  for (const key of path) cur = isRecord(cur) ? cur[key] : undefined;
  return cur;
}

/** The shared reader (shared/pod-spec.ts); a container without an image has nothing to check. */
function containersOf(podSpec: unknown): { name: string; image: string; init: boolean }[] {
  return podContainers(podSpec)
    .filter((c) => c.image !== '')
    .map((c) => ({ name: c.name, image: c.image, init: c.init }));
}

function annotationsOf(obj: unknown): Record<string, string> {
  const raw = get(obj, 'metadata', 'annotations');
  const out: Record<string, string> = {};
  if (isRecord(raw)) for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') out[k] = v;
  return out;
}

/** Parses multi-document YAML; a syntax error names the file, line and column. */
export function parseYamlDocuments(file: string, text: string): unknown[] {
  const docs = parseAllDocuments(text);
  const out: unknown[] = [];
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    const error = doc.errors[0];
    if (error) {
      const pos = error.linePos?.[0];
      // yaml ends its first line with " at line 3, column 1:" before a source excerpt.
      const message = error.message
        .split('\n')[0]!
        .replace(/ at line \d+, column \d+:?$/, '')
        .replace(/:$/, '');
      throw new UsageError(`${file}${pos ? `:${pos.line}:${pos.col}` : ''}: not valid YAML: ${message}`);
    }
    const value: unknown = doc.toJS();
    // `kind: List` (kubectl get -o yaml) holds objects in items.
    if (get(value, 'kind') === 'List' && Array.isArray(get(value, 'items')))
      out.push(...(get(value, 'items') as unknown[]));
    else if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

/**
 * Containers of every scanned workload, filtered by its annotations: DISABLED workloads are
 * listed apart (not checked), `containers` limits the list, invalid annotations become problems
 * (not crashes). Workloads without annotations are included: the watcher watches them with the
 * defaults. `workloads` counts every workload found, whatever became of it.
 */
export function findTargets(
  file: string,
  docs: readonly unknown[],
  overrides: Overrides = {},
): { targets: ScanTarget[]; problems: ScanProblem[]; disabled: ScanTarget[]; workloads: number } {
  const targets: ScanTarget[] = [];
  const problems: ScanProblem[] = [];
  const disabled: ScanTarget[] = [];
  let workloads = 0;
  for (const obj of docs) {
    const kind = get(obj, 'kind');
    if (typeof kind !== 'string' || !(SCANNED_KINDS as readonly string[]).includes(kind)) continue;
    const k = kind as ScannedKind;
    workloads++;
    const rawName = get(obj, 'metadata', 'name');
    const rawNamespace = get(obj, 'metadata', 'namespace');
    const name = typeof rawName === 'string' ? rawName : '(unnamed)';
    const namespace = typeof rawNamespace === 'string' ? rawNamespace : 'default';
    const containers = containersOf(podSpecOf(k, obj));
    const parsed = parseWatchSettings(annotationsOf(obj), {
      containerNames: containers.map((c) => c.name),
      overrides,
    });
    if (!parsed.ok) {
      problems.push({ file, kind: k, namespace, name, message: formatProblems(parsed.problems) });
      continue;
    }
    const settings = parsed.settings;
    const state = readManagedState(annotationsOf(obj));
    const watched = containers.filter((c) => !settings.containers || settings.containers.includes(c.name));
    for (const c of watched) {
      (settings.mode === 'DISABLED' ? disabled : targets).push({
        file,
        kind: k,
        namespace,
        name,
        container: c.name,
        init: c.init,
        image: c.image,
        settings,
        failed: skippedVersions(state, c.name, watched.length),
      });
    }
  }
  return { targets, problems, disabled, workloads };
}
