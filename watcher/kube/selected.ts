import type { Logger } from 'pino';
import type { Exclusion, Selection } from '../../shared/selection.ts';
import { excludedBy } from '../../shared/selection.ts';
import type { WorkloadSnapshot, WorkloadWatch } from './types.ts';

type Upsert = (w: WorkloadSnapshot, old: WorkloadSnapshot | undefined) => void;
type Delete = (w: WorkloadSnapshot) => void;

/** What this installation's selection says about a workload the cache does not hold yet. */
export interface Admission {
  ok: boolean;
  /** Why not, for the caller's error message. */
  reason?: string;
}

/**
 * The watch as this installation sees it: only the workloads of its selection (WATCH_ANNOTATED_ONLY,
 * WATCHER_SCOPE). A workload whose annotations move it out of the selection is a delete, one that
 * moves in is an upsert without an old snapshot: the controller forgets it (metrics, API) or
 * takes it up, as for a deleted or created object.
 */
export class SelectedWorkloadWatch implements WorkloadWatch {
  private readonly upserts: Upsert[] = [];
  private readonly deletes: Delete[] = [];

  constructor(
    private readonly inner: WorkloadWatch & { isSynced?: () => boolean },
    private readonly opts: {
      selection: Selection;
      /** WATCH_SELECTOR, applied by the API server: a workload read directly is not known to match. */
      labelSelector: string | undefined;
      logger: Logger;
    },
  ) {
    inner.on('upsert', (w, old) => this.onUpsert(w, old));
    inner.on('delete', (w) => {
      if (this.selects(w)) for (const fn of this.deletes) fn(w);
    });
  }

  selects(w: WorkloadSnapshot): boolean {
    return excludedBy(this.opts.selection, w.annotations) === undefined;
  }

  /**
   * Whether a workload read from the API (not from the watch: a manual update of a workload the
   * cache has not seen yet) may be handled. Its labels are not kept, so with a label selector
   * only the watch can tell: such a workload is refused until the watch delivers it.
   */
  admits(w: WorkloadSnapshot): Admission {
    // The inner watch's own limits first (WATCH_NAMESPACES).
    const inner = this.inner.admits?.(w);
    if (inner && !inner.ok) return inner;
    const why = excludedBy(this.opts.selection, w.annotations);
    if (why !== undefined) return { ok: false, reason: describeExclusion(why, this.opts.selection) };
    if (this.opts.labelSelector !== undefined)
      return { ok: false, reason: `not (yet) listed with WATCH_SELECTOR ${this.opts.labelSelector}` };
    return { ok: true };
  }

  on(event: 'upsert', fn: Upsert): void;
  on(event: 'delete', fn: Delete): void;
  on(event: 'upsert' | 'delete', fn: Upsert | Delete): void {
    if (event === 'upsert') this.upserts.push(fn);
    else this.deletes.push(fn as Delete);
  }

  list(): WorkloadSnapshot[] {
    return this.inner.list().filter((w) => this.selects(w));
  }

  isSynced(): boolean {
    return this.inner.isSynced?.() ?? true;
  }

  async start(): Promise<void> {
    await this.inner.start();
    const skipped: Partial<Record<Exclusion, number>> = {};
    const all = this.inner.list();
    for (const w of all) {
      const why = excludedBy(this.opts.selection, w.annotations);
      if (why !== undefined) skipped[why] = (skipped[why] ?? 0) + 1;
    }
    const { selection, labelSelector } = this.opts;
    this.opts.logger.info(
      {
        selection: {
          ...(labelSelector !== undefined ? { labelSelector } : {}),
          annotatedOnly: selection.annotatedOnly,
          scope: selection.scope ?? null,
        },
        listed: all.length,
        handled: all.length - Object.values(skipped).reduce((a, b) => a + b, 0),
        skipped,
      },
      'workload selection applied',
    );
  }

  stop(): Promise<void> {
    return this.inner.stop();
  }

  private onUpsert(w: WorkloadSnapshot, old: WorkloadSnapshot | undefined): void {
    const now = this.selects(w);
    const was = old !== undefined && this.selects(old);
    if (now) {
      if (old !== undefined && !was) this.log(w, 'entered');
      for (const fn of this.upserts) fn(w, was ? old : undefined);
    } else if (was) {
      this.log(w, 'left', excludedBy(this.opts.selection, w.annotations));
      for (const fn of this.deletes) fn(old);
    }
  }

  private log(w: WorkloadSnapshot, change: 'entered' | 'left', why?: Exclusion): void {
    this.opts.logger.info(
      {
        workload: { namespace: w.namespace, kind: w.kind, name: w.name },
        ...(why ? { reason: why } : {}),
      },
      change === 'left'
        ? `workload left this watcher's selection (${describeExclusion(why!, this.opts.selection)}); no longer handled`
        : "workload entered this watcher's selection; handling it",
    );
  }
}

export function describeExclusion(why: Exclusion, selection: Selection): string {
  switch (why) {
    case 'not-annotated':
      return 'no image-watcher/mode annotation and WATCH_ANNOTATED_ONLY is on';
    case 'scoped':
      return 'its image-watcher/scope belongs to another installation; this one has no WATCHER_SCOPE';
    case 'other-scope':
      return `its image-watcher/scope is not this watcher's scope ${selection.scope ?? ''}`;
  }
}
