import pLimit from 'p-limit';
import type { ImageWatcherError } from '../../shared/errors.ts';
import { RegistryError } from '../registry/errors.ts';
import { checkImage } from './check.ts';
import type { CheckDeps, CheckResult } from './check.ts';
import type { ScanProblem, ScanTarget } from './manifests.ts';

export interface ScanRow {
  workload: string;
  container: string;
  image: string;
  strategy: string;
  current: string | undefined;
  latest: string | undefined;
  updateAvailable: boolean;
  fullImage: string | undefined;
  error: string | undefined;
  /** True when the failure was the registry's (exit code 1). */
  registryError: boolean;
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
          strategy: t.settings.strategy,
        };
        try {
          const r: CheckResult = await checkImage(deps, t.image, {
            strategy: t.settings.strategy,
            include: t.settings.include,
            exclude: t.settings.exclude,
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
            current: undefined,
            latest: undefined,
            updateAvailable: false,
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
      strategy: '-',
      current: undefined,
      latest: undefined,
      updateAvailable: false,
      fullImage: undefined,
      error: `${p.file}: ${p.message}`,
      registryError: false,
    });
  }
  return rows;
}

/** A plain text table; errors go in the last column so every row stays one line. */
export function formatTable(rows: readonly ScanRow[]): string {
  const header = ['WORKLOAD', 'CONTAINER', 'STRATEGY', 'CURRENT', 'LATEST', 'UPDATE', 'IMAGE / ERROR'];
  const body = rows.map((r) => [
    r.workload,
    r.container,
    r.strategy,
    r.current ?? '-',
    r.latest ?? '-',
    r.error ? 'error' : r.updateAvailable ? 'yes' : 'no',
    r.error ?? (r.updateAvailable ? (r.fullImage ?? r.image) : r.image),
  ]);
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  return all
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '))
    .join('\n');
}
