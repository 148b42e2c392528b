import pLimit from 'p-limit';
import type { ImageWatcherError } from '../../shared/errors.ts';
import { parseImageReference } from '../../shared/image-ref.ts';
import { RegistryError } from '../registry/errors.ts';
import { checkImage } from './check.ts';
import type { CheckDeps, CheckResult } from './check.ts';
import type { ScanProblem, ScanTarget } from './manifests.ts';

export interface ScanRow {
  workload: string;
  container: string;
  image: string;
  mode: string;
  strategy: string;
  current: string | undefined;
  latest: string | undefined;
  /** null: not known (an error, or a DISABLED workload that is not checked). */
  updateAvailable: boolean | null;
  fullImage: string | undefined;
  error: string | undefined;
  /** True when the failure was the registry's (exit code 1). */
  registryError: boolean;
}

/** The tag written in the manifest, known even when the registry could not be asked. */
function tagOf(image: string): string | undefined {
  try {
    return parseImageReference(image).tag;
  } catch {
    return undefined;
  }
}

function workloadName(t: { namespace: string; kind: string; name: string }): string {
  return `${t.namespace}/${t.kind}/${t.name}`;
}

/** Checks every target (the registry client dedups repositories); never throws for one bad image. */
export async function scanTargets(
  deps: CheckDeps,
  targets: readonly ScanTarget[],
  problems: readonly ScanProblem[],
  concurrency = 8,
): Promise<ScanRow[]> {
  const limit = pLimit(concurrency);
  const rows = await Promise.all(
    targets.map((t) =>
      limit(async (): Promise<ScanRow> => {
        const base = {
          workload: workloadName(t),
          container: t.container,
          image: t.image,
          mode: t.settings.mode,
          strategy: t.settings.strategy,
        };
        try {
          const r: CheckResult = await checkImage(deps, t.image, {
            strategy: t.settings.strategy,
            include: t.settings.include,
            exclude: t.settings.exclude,
            failed: t.failed,
            constraint: t.settings.constraint,
          });
          return {
            ...base,
            current: r.current,
            latest: r.latest,
            updateAvailable: r.updateAvailable,
            fullImage: r.fullImage,
            error: undefined,
            registryError: false,
          };
        } catch (err) {
          return {
            ...base,
            current: tagOf(t.image),
            latest: undefined,
            updateAvailable: null,
            fullImage: undefined,
            error: (err as ImageWatcherError).message ?? String(err),
            registryError: err instanceof RegistryError,
          };
        }
      }),
    ),
  );
  for (const p of problems) {
    rows.push({
      workload: workloadName(p),
      container: '-',
      image: '-',
      mode: '-',
      strategy: '-',
      current: undefined,
      latest: undefined,
      updateAvailable: null,
      fullImage: undefined,
      error: `${p.file}: ${p.message}`,
      registryError: false,
    });
  }
  return rows;
}

/** DISABLED workloads: listed, so they do not vanish without a word, but never checked. */
export function disabledRows(targets: readonly ScanTarget[]): ScanRow[] {
  return targets.map((t) => ({
    workload: workloadName(t),
    container: t.container,
    image: t.image,
    mode: t.settings.mode,
    strategy: t.settings.strategy,
    current: tagOf(t.image),
    latest: undefined,
    updateAvailable: null,
    fullImage: undefined,
    error: undefined,
    registryError: false,
  }));
}

/** The JSON of a row: every field present, null where not known. */
export function rowJson(r: ScanRow): Record<string, unknown> {
  return {
    workload: r.workload,
    container: r.container,
    image: r.image,
    mode: r.mode,
    strategy: r.strategy,
    current: r.current ?? null,
    latest: r.latest ?? null,
    updateAvailable: r.updateAvailable,
    fullImage: r.fullImage ?? null,
    error: r.error ?? null,
  };
}

/** A plain text table; errors go in the last column so every row stays one line. */
export function formatTable(rows: readonly ScanRow[]): string {
  const header = [
    'WORKLOAD',
    'CONTAINER',
    'MODE',
    'STRATEGY',
    'CURRENT',
    'LATEST',
    'UPDATE',
    'IMAGE / ERROR',
  ];
  const body = rows.map((r) => [
    r.workload,
    r.container,
    r.mode,
    r.strategy,
    r.current ?? '-',
    r.latest ?? '-',
    r.error ? 'error' : r.mode === 'DISABLED' ? 'disabled' : r.updateAvailable ? 'yes' : 'no',
    r.error ?? (r.updateAvailable ? (r.fullImage ?? r.image) : r.image),
  ]);
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  return all
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '))
    .join('\n');
}
