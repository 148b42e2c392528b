// The plan of `image-watcher run --once`: pure formatting of the controller's plan rows.
import { heldWording } from '../../shared/policy.ts';
import type { PlanRow } from '../api.ts';
import type { OnceResult } from '../once.ts';

function workloadName(r: PlanRow): string {
  return `${r.namespace}/${r.kind}/${r.name}`;
}

/** The action in words; a dry run says what it would have done. */
export function describeAction(r: PlanRow, dryRun: boolean): string {
  switch (r.action) {
    case 'none':
      return 'up to date';
    case 'notify':
      return dryRun ? 'would notify' : 'notified';
    case 'notified':
      return 'notified earlier, not applied (NOTIFICATION)';
    case 'update':
      return dryRun ? 'would update' : 'updated, rollout started (not waited for)';
    case 'rollout':
      return 'rollout in progress';
    case 'rolled-back':
      return 'rollout failed, rolled back';
    case 'reverted':
      return dryRun ? 'reverted externally (would record it)' : 'reverted externally, recorded';
    case 'disabled':
      return 'disabled';
    case 'error':
      return `error: ${r.error ?? 'unknown'}`;
  }
}

function describeRow(r: PlanRow, dryRun: boolean): string {
  const held = r.held ? heldWording(r.held) : undefined;
  if (held === undefined) return describeAction(r, dryRun);
  return r.action === 'none' ? held : `${describeAction(r, dryRun)}; ${held}`;
}

function versions(r: PlanRow): string {
  return r.candidate !== undefined && r.candidate !== r.current
    ? `${r.current} -> ${r.candidate}`
    : r.current;
}

/** A table for people, and one summary line. */
export function formatPlan(result: OnceResult, dryRun: boolean): string {
  const { rows } = result;
  const workloads = new Set(rows.map(workloadName)).size;
  const summary =
    `${workloads} workloads, ${rows.length} containers: ${result.pending} with an update pending or applied, ` +
    `${result.errors} errors${dryRun ? ' (dry run: nothing was changed or sent)' : ''}`;
  if (rows.length === 0) return `no workload selected${dryRun ? ' (dry run)' : ''}`;
  const header = ['WORKLOAD', 'CONTAINER', 'VERSION', 'ACTION'];
  const body = rows.map((r) => [workloadName(r), r.container, versions(r) || '-', describeRow(r, dryRun)]);
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  const table = all
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '))
    .join('\n');
  return `${table}\n\n${summary}`;
}

/** `--json`: the same rows, absent values as null. */
export function planJson(result: OnceResult, dryRun: boolean): unknown {
  return {
    dryRun,
    pending: result.pending,
    errors: result.errors,
    plan: result.rows.map((r) => ({
      workload: workloadName(r),
      namespace: r.namespace,
      kind: r.kind,
      name: r.name,
      container: r.container,
      image: r.image,
      current: r.current,
      candidate: r.candidate ?? null,
      action: r.action,
      error: r.error ?? null,
      held: r.held ?? null,
    })),
  };
}
