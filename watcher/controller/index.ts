// The watcher core: one reconcile per workload. `reconcileWorkload(key)` reads the workload from
// the watch cache and decides from what it sees (level-based, idempotent): a recorded rollout is
// judged (complete, rolled back or looked at again later), otherwise the registry is asked and the
// workload is announced, updated or left alone. A keyed work queue runs it: the interval enqueues
// every key, a watch event enqueues its key after the debounce, a manual update enqueues with its
// intent. Tag lists are shared by all workloads of a pass: one request per repository per interval.
import type { Logger } from 'pino';
import { ANNOTATIONS, USER_KEYS } from '../../shared/annotations.ts';
import { StringPool } from '../../shared/string-pool.ts';
import type { WatchedContainer } from '../check/checker.ts';
import { versionFor } from '../check/decide.ts';
import type { WorkloadKind, WorkloadSnapshot } from '../kube/types.ts';
import type {
  ContainerView,
  ManualErrorCode,
  ManualUpdateRequest,
  ManualUpdateResult,
  PlanAction,
  PlanRow,
  ReleaseNotesFn,
  WorkloadView,
} from '../api.ts';
import { ManualUpdateError } from '../api.ts';
import type { UpdateNotice } from '../notify/types.ts';
import type { RegistryCredentials } from '../registry/types.ts';
import type { ReconcileResult } from '../reconcile/queue.ts';
import { WorkQueue, cappedBackoff, realTimers } from '../reconcile/queue.ts';
import { labelsOf } from '../update/updater.ts';
import type { Ctx } from './context.ts';
import { indexRepositories, refreshCounts, upsertEntry } from './entries.ts';
import { waitingLookups } from './lookups.ts';
import type { TagsAnswer } from './lookups.ts';
import { manualUpdate, stoppingError } from './manual.ts';
import { releaseNotesFor } from './notes.ts';
import { currentPass, passDone, runCycle } from './passes.ts';
import { onReconcileError, reconcileWorkload } from './reconcile.ts';
import type { ControllerDeps } from './state.ts';
import { GitFailures, workloadKey } from './state.ts';
import { planRows, snapshotOf, workloadViews } from './views.ts';
import { SettingsMemo } from '../../shared/settings-memo.ts';

/** What a check depends on: images and user annotations (not our own bookkeeping). */
function checkInputs(w: WorkloadSnapshot): string {
  const user = USER_KEYS.map((k) => `${k}=${w.annotations[k] ?? ''}`).join('\n');
  return `${w.containers.map((c) => `${c.name}=${c.image}`).join('\n')}\n${user}`;
}

/** Annotations whose change the reconcile must see at once: rollout records, notice claims. */
function stateInputs(w: WorkloadSnapshot): string {
  return `${w.annotations[ANNOTATIONS.rollout] ?? ''}\n${w.annotations[ANNOTATIONS.noticePending] ?? ''}${gitState(w)}`;
}

/** The Git record, when there is one (so `stateInputs` stays one line for workloads without). */
function gitState(w: WorkloadSnapshot): string {
  const v = w.annotations[ANNOTATIONS.gitPending];
  return v === undefined ? '' : `\n${v}`;
}

export class Controller {
  private readonly ctx: Ctx;
  private readonly debounces = new Map<string, { handle: unknown; due: number }>();
  private interval: unknown;
  private syncing = true;

  constructor(deps: ControllerDeps) {
    const timers = deps.timers ?? realTimers;
    const ctx: Ctx = {
      deps,
      log: deps.logger,
      timers,
      entries: new Map(),
      queue: new WorkQueue({
        concurrency: deps.config.actionConcurrency ?? 8,
        timers,
        backoff: (n) => cappedBackoff(n, 1000, 5 * 60_000),
        onError: (key, err) => onReconcileError(ctx, key, err),
      }),
      intents: new Map(),
      requeue: (waiters) => {
        if (ctx.stopped) return;
        for (const k of waiters) if (ctx.entries.has(k)) ctx.queue.add(k);
      },
      digestBaselines: new Map(),
      byRepository: new Map(),
      repositoriesOfKey: new Map(),
      gateAnswers: new Map(),
      digestSightings: new Map(),
      // Distinct annotation sets remembered with their settings; past this the memo starts over.
      settingsMemo: new SettingsMemo({ maxEntries: 1024, maxInputLength: 4096 }),
      strings: deps.strings ?? new StringPool(),
      notesMemo: new Map(),
      lastNotes: new Map(),
      pass: undefined,
      passSeq: 0,
      stopped: true,
      abort: new AbortController(),
      gitInFlight: new Set(),
      gitFailed: new GitFailures(),
      isLeader: () => deps.leader?.isLeader() ?? true,
    };
    this.ctx = ctx;
  }

  get log(): Logger {
    return this.ctx.deps.logger;
  }

  isLeader(): boolean {
    return this.ctx.isLeader();
  }

  async start(): Promise<void> {
    this.ctx.stopped = false;
    this.ctx.deps.watch.on('upsert', (w, old) => this.onUpsert(w, old));
    this.ctx.deps.watch.on('delete', (w) => this.onDelete(w));
    this.ctx.deps.leader?.on('change', (leader) => {
      this.ctx.deps.metrics.setLeader(leader);
      this.log.info({ leader }, leader ? 'became leader' : 'lost leadership');
      if (leader) {
        // A new leader looks at every workload at once: unfinished rollouts are ordinary state.
        if (!this.ctx.stopped) void runCycle(this.ctx);
      } else {
        // Only the leader reports outdated images; stale values here would duplicate its alerts.
        this.ctx.deps.metrics.clearImageStatus();
      }
    });
    this.ctx.deps.metrics.setLeader(this.isLeader());
    await this.ctx.deps.watch.start();
    for (const w of this.ctx.deps.watch.list()) upsertEntry(this.ctx, w);
    this.syncing = false;
    refreshCounts(this.ctx);
    this.ctx.queue.start((key) => reconcileWorkload(this.ctx, key));
    if (this.ctx.deps.config.runOnBoot) void runCycle(this.ctx);
    else this.enqueueRecorded();
    this.schedule();
  }

  /** Without RUN_ON_BOOT, workloads with a recorded rollout or notice claim are still looked at. */
  private enqueueRecorded(): void {
    for (const [key, e] of this.ctx.entries) {
      if (stateInputs(e.snapshot) !== '\n') this.ctx.queue.add(key);
    }
  }

  async stop(): Promise<void> {
    this.ctx.stopped = true;
    this.ctx.abort.abort();
    this.ctx.pass?.ctrl.abort();
    if (this.interval !== undefined) this.ctx.timers.clearTimeout(this.interval);
    for (const t of this.debounces.values()) this.ctx.timers.clearTimeout(t.handle);
    this.debounces.clear();
    await this.ctx.queue.stop();
    this.ctx.pass?.finish();
    for (const [key, list] of this.ctx.intents) {
      for (const i of list) i.reject(stoppingError());
      this.ctx.intents.delete(key);
    }
    await this.ctx.deps.watch.stop();
  }

  /**
   * Resolves once nothing is queued, running or waiting for a registry answer, and no key is due
   * within `soonMs` (with real timers: a requeue right after a write). Tests and graceful stops.
   */
  async idle(soonMs = 100): Promise<void> {
    for (;;) {
      await this.ctx.queue.idle();
      const waiting = this.ctx.pass ? waitingLookups(this.ctx.pass) : [];
      if (waiting.length > 0) {
        await Promise.allSettled(waiting);
        continue;
      }
      // A debounced watch event counts like a requeue.
      let due = this.ctx.queue.nextDueIn();
      for (const d of this.debounces.values()) {
        const left = Math.max(0, d.due - this.ctx.timers.now());
        if (due === undefined || left < due) due = left;
      }
      if (this.ctx.queue.length === 0 && (due === undefined || due > soonMs)) return;
      const ms = (due ?? 0) + 1;
      // Real timers are unref'd; this wait must keep the process alive until the key has run.
      await new Promise<void>((r) =>
        this.ctx.timers === realTimers ? setTimeout(r, ms) : this.ctx.timers.setTimeout(r, ms),
      );
    }
  }

  private schedule(): void {
    if (this.ctx.stopped) return;
    this.interval = this.ctx.timers.setTimeout(() => {
      void runCycle(this.ctx);
      this.schedule();
    }, this.ctx.deps.config.checkIntervalMs);
  }

  /** Workloads whose watched containers use the canonical repository (push events). */
  workloadsUsing(repository: string): WorkloadSnapshot[] {
    const out: WorkloadSnapshot[] = [];
    for (const k of this.ctx.byRepository.get(repository) ?? []) {
      const e = this.ctx.entries.get(k);
      if (e) out.push(e.snapshot);
    }
    return out;
  }

  /**
   * A push event's verified, fresh tag list: the pass's answer for that repository is replaced
   * (and its digests asked again), and only the workloads using it are queued. Returns how many.
   */
  applyTags(repository: string, tags: readonly string[]): number {
    if (this.ctx.stopped || !this.isLeader()) return 0;
    const pass = currentPass(this.ctx);
    const value: TagsAnswer = { ok: true, tags: [...tags] };
    pass.lookups.tags.set(repository, {
      promise: Promise.resolve(value),
      value,
      done: true,
      ctrl: undefined,
      waiters: undefined,
    });
    for (const k of pass.lookups.digests.keys()) {
      if (k.startsWith(`${repository}:`)) pass.lookups.digests.delete(k);
    }
    pass.lookups.pushed.add(repository);
    const keys = [...(this.ctx.byRepository.get(repository) ?? [])];
    for (const k of keys) this.ctx.queue.add(k);
    return keys.length;
  }

  /** Pull credentials a workload's reconcile would use for a registry. */
  credentialsFor(w: WorkloadSnapshot, registry: string): Promise<RegistryCredentials | undefined> {
    return currentPass(this.ctx).lookups.credentials.forWorkload(w, registry);
  }

  private onUpsert(w: WorkloadSnapshot, old: WorkloadSnapshot | undefined): void {
    const key = workloadKey(w);
    const prevMode = this.ctx.entries.get(key)?.settings?.mode;
    const entry = upsertEntry(this.ctx, w);
    if (entry.settings?.mode !== prevMode) refreshCounts(this.ctx);
    if (this.syncing || this.ctx.stopped) return;
    // Our own bookkeeping (a rollout record, a notice claim) is state the reconcile acts on now;
    // image and user annotation changes wait for the debounce, so a burst costs one reconcile.
    if (old && stateInputs(old) !== stateInputs(w)) {
      this.ctx.queue.add(key);
      return;
    }
    if (old && checkInputs(old) === checkInputs(w)) {
      // Status moved: a rollout in progress is judged on every status change.
      if (w.annotations[ANNOTATIONS.rollout] !== undefined) this.ctx.queue.add(key);
      return;
    }
    const prev = this.debounces.get(key);
    if (prev !== undefined) this.ctx.timers.clearTimeout(prev.handle);
    const ms = this.ctx.deps.config.debounceMs ?? 2000;
    const handle = this.ctx.timers.setTimeout(() => {
      this.debounces.delete(key);
      this.ctx.queue.add(key);
    }, ms);
    this.debounces.set(key, { handle, due: this.ctx.timers.now() + ms });
  }

  private onDelete(w: WorkloadSnapshot): void {
    const key = workloadKey(w);
    this.ctx.entries.delete(key);
    indexRepositories(this.ctx, key, undefined);
    const t = this.debounces.get(key);
    if (t !== undefined) this.ctx.timers.clearTimeout(t.handle);
    this.debounces.delete(key);
    this.ctx.queue.forget(key);
    this.ctx.pass?.lookups.drop(key);
    passDone(this.ctx, key);
    for (const k of this.ctx.digestBaselines.keys())
      if (k.startsWith(`${key}|`)) this.ctx.digestBaselines.delete(k);
    for (const k of this.ctx.digestSightings.keys())
      if (k.startsWith(`${key}|`)) this.ctx.digestSightings.delete(k);
    for (const k of this.ctx.lastNotes.keys()) if (k.startsWith(`${key}|`)) this.ctx.lastNotes.delete(k);
    this.ctx.gitFailed.forget(key);
    for (const i of this.ctx.intents.get(key) ?? []) {
      i.reject(new ManualUpdateError('E_NOT_FOUND', `${w.kind} ${w.namespace}/${w.name} was deleted`));
    }
    this.ctx.intents.delete(key);
    this.ctx.deps.metrics.removeWorkload(labelsOf(w));
    refreshCounts(this.ctx);
  }

  /**
   * One pass over every workload: fresh registry answers, every key queued. Resolves when each
   * was checked (or deleted).
   */
  runCycle(): Promise<void> {
    return runCycle(this.ctx);
  }

  /**
   * Brings one workload closer to what its annotations ask for, from its current state alone.
   * Safe to run any number of times: every write is guarded by a JSON Patch `test`.
   */
  reconcileWorkload(key: string): Promise<ReconcileResult> {
    return reconcileWorkload(this.ctx, key);
  }

  /** Release notes last announced for this workload and version (never fetched here), or undefined. */
  releaseNotesFor(
    kind: WorkloadKind,
    namespace: string,
    name: string,
    version: string,
  ): UpdateNotice['releaseNotes'] | undefined {
    return releaseNotesFor(this.ctx, kind, namespace, name, version);
  }

  workloads(): WorkloadView[] {
    return workloadViews(this.ctx);
  }

  /** One row per watched container of every workload (`image-watcher run --once`). */
  plan(): PlanRow[] {
    return planRows(this.ctx);
  }

  snapshot(kind: WorkloadKind, namespace: string, name: string): WorkloadSnapshot | undefined {
    return snapshotOf(this.ctx, kind, namespace, name);
  }

  /** Updates now, whatever the mode except DISABLED (see manual.ts). */
  manualUpdate(req: ManualUpdateRequest): Promise<ManualUpdateResult> {
    return manualUpdate(this.ctx, req);
  }
}

export { workloadKey } from './state.ts';
export type { ControllerConfig, ControllerDeps, GitWriteView, NotifyReport } from './state.ts';
export { versionFor, ManualUpdateError };
export type {
  ContainerView,
  ManualErrorCode,
  ManualUpdateResult,
  PlanAction,
  PlanRow,
  ReleaseNotesFn,
  WorkloadView,
};
export type { WatchedContainer };
