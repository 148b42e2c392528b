import pLimit from 'p-limit';
import type { Logger } from 'pino';
import type { Mode, Overrides, WatchSettings } from '../shared/annotations.ts';
import {
  ANNOTATIONS,
  USER_KEYS,
  formatProblems,
  parseWatchSettings,
  readManagedState,
} from '../shared/annotations.ts';
import { ImageWatcherError } from '../shared/errors.ts';
import { imageWithTag, parseImageReference } from '../shared/image-ref.ts';
import { classifyChange, compareTags, parseTag, sameShape } from '../shared/version.ts';
import { parsePendingRollout } from '../shared/pending-rollout.ts';
import type { CheckerDeps, CheckTarget, WatchedContainer, WorkloadCheck } from './check/checker.ts';
import { checkWorkloads } from './check/checker.ts';
import type { Candidate } from './check/decide.ts';
import {
  decideAction,
  detectExternalReverts,
  notifyPatch,
  revertPatch,
  runningVersion,
  watchedContainers,
} from './check/decide.ts';
import type {
  KubeGateway,
  LeaderElector,
  WorkloadKind,
  WorkloadSnapshot,
  WorkloadWatch,
} from './kube/types.ts';
import type { WatcherMetrics } from './metrics.ts';
import type { UpdateNotice } from './notify/types.ts';
import type { RegistryClient } from './registry/types.ts';
import { isPatchConflict } from './update/conflict.ts';
import type { UpdateOutcome, UpdaterDeps } from './update/updater.ts';
import { applyUpdate, labelsOf, noticesFor, recordEvent, resumeRollout } from './update/updater.ts';

export interface ControllerConfig {
  checkIntervalMs: number;
  runOnBoot: boolean;
  overrides: Overrides;
  rolloutTimeoutMs: number;
  rolloutPollMs?: number;
  /** Delay between a workload change and its check, so a burst of edits costs one check. */
  debounceMs?: number;
  /** Repositories asked at once in a cycle. */
  registryConcurrency: number;
  /** Workloads acted on (patch, notify, update) at once. */
  actionConcurrency?: number;
}

export type ReleaseNotesFn = (req: {
  workload: WorkloadSnapshot;
  releaseUrl: string | undefined;
  image: string;
  newImage: string;
  newVersion: string;
}) => Promise<UpdateNotice['releaseNotes'] | undefined>;

export interface ControllerDeps {
  watch: WorkloadWatch;
  gateway: KubeGateway;
  /** Undefined: this replica always acts (leader election off). */
  leader: LeaderElector | undefined;
  registry: RegistryClient;
  credentialsFor: CheckerDeps['credentialsFor'];
  fallbackDockerConfig?: unknown;
  metrics: WatcherMetrics;
  /** Sends notices to the configured channels; never throws (the dispatcher). */
  notify: (notices: UpdateNotice[]) => Promise<unknown>;
  /** Release notes for a new version; failures and slowness must never fail a check. */
  releaseNotes?: ReleaseNotesFn;
  /** Link to the approval page for an announced version, when approvals are configured. */
  approvalUrl?: (w: WorkloadSnapshot, c: Candidate) => string | undefined;
  logger: Logger;
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
  config: ControllerConfig;
}

export interface ContainerView {
  name: string;
  image: string;
  currentVersion: string;
  latestVersion: string | undefined;
  updateAvailable: boolean;
}

export interface WorkloadView {
  namespace: string;
  kind: WorkloadKind;
  name: string;
  mode: Mode | undefined;
  strategy: string | undefined;
  containers: ContainerView[];
  lastCheck: string | undefined;
  lastError: string | undefined;
}

interface Entry {
  snapshot: WorkloadSnapshot;
  settings: WatchSettings | undefined;
  settingsError: string | undefined;
  containers: ContainerView[] | undefined;
  lastCheck: Date | undefined;
  lastError: string | undefined;
}

/** How long past its deadline a pending-rollout record must be before any cycle takes it over. */
const ORPHANED_AFTER_MS = 60_000;

export type ManualErrorCode =
  | 'E_NOT_FOUND'
  | 'E_DISABLED'
  | 'E_BAD_VERSION'
  | 'E_NO_UPDATE'
  | 'E_CONFLICT'
  | 'E_UPDATE_FAILED'
  | 'E_BAD_ANNOTATIONS';

/** A manual update request that cannot be carried out; the message says why. */
export class ManualUpdateError extends ImageWatcherError {
  declare readonly code: ManualErrorCode;
  constructor(code: ManualErrorCode, message: string) {
    super(code, message);
  }
}

export interface ManualUpdateResult {
  status: 'updating' | 'success' | 'rolled_back';
  changes: { container: string; from: string; to: string }[];
}

export function workloadKey(w: { kind: string; namespace: string; name: string }): string {
  return `${w.kind}/${w.namespace}/${w.name}`;
}

/** What a check depends on: images and user annotations (not our own bookkeeping). */
function checkInputs(w: WorkloadSnapshot): string {
  const user = USER_KEYS.map((k) => `${k}=${w.annotations[k] ?? ''}`).join('\n');
  return `${w.containers.map((c) => `${c.name}=${c.image}`).join('\n')}\n${user}`;
}

/**
 * The cycle loop: every CHECK_INTERVAL (and once at start with RUN_ON_BOOT) it checks all
 * watched workloads; a workload that appears or whose image/annotations change is checked
 * soon after (debounced). Only the leader asks registries and acts; followers keep their
 * informer cache warm and answer API reads, so a failover has nothing to rebuild.
 */
export class Controller {
  private readonly deps: ControllerDeps;
  private readonly entries = new Map<string, Entry>();
  /** Workloads changed since the last debounced check; checked together when the timer fires. */
  private readonly dirty = new Set<string>();
  private debounce: NodeJS.Timeout | undefined;
  /** The initial list is covered by RUN_ON_BOOT or the first cycle, not by one check per workload. */
  private syncing = true;
  /** Per-workload chain so a cycle, a debounced check and a manual update never act at once. */
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly digestBaselines = new Map<string, string>();
  /** Release notes per image and release-url, for one cycle. */
  private readonly notesMemo = new Map<string, Promise<UpdateNotice['releaseNotes'] | undefined>>();
  /**
   * The last release notes announced per workload and container (`key|container`), so the approval
   * page shows what the notice showed without fetching them again.
   */
  private readonly lastNotes = new Map<
    string,
    { version: string; notes: NonNullable<UpdateNotice['releaseNotes']> }
  >();
  private cycle: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private readonly abort = new AbortController();
  /** Aborted when this replica loses leadership: its rollout watches stop, the next leader resumes them. */
  private leadership = new AbortController();
  /** Workloads whose unfinished rollout this replica is resuming (queued or running). */
  private readonly resuming = new Set<string>();
  private readonly background = new Set<Promise<unknown>>();

  constructor(deps: ControllerDeps) {
    this.deps = deps;
  }

  get log(): Logger {
    return this.deps.logger;
  }

  isLeader(): boolean {
    return this.deps.leader?.isLeader() ?? true;
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.deps.watch.on('upsert', (w, old) => this.onUpsert(w, old));
    this.deps.watch.on('delete', (w) => this.onDelete(w));
    this.deps.leader?.on('change', (leader) => {
      this.deps.metrics.setLeader(leader);
      this.log.info({ leader }, leader ? 'became leader' : 'lost leadership');
      if (leader) {
        // A new leader checks at once rather than waiting up to a whole interval, and takes over
        // the rollouts the previous leader left unfinished.
        if (!this.stopped) {
          this.resumePendingRollouts();
          this.track(this.runCycle());
        }
      } else {
        // Watches started while leading stop; later ones (a manual update served here) must not.
        this.leadership.abort();
        this.leadership = new AbortController();
        // Only the leader reports outdated images; stale values here would duplicate its alerts.
        this.deps.metrics.clearImageStatus();
      }
    });
    this.deps.metrics.setLeader(this.isLeader());
    await this.deps.watch.start();
    for (const w of this.deps.watch.list()) this.upsertEntry(w);
    this.syncing = false;
    this.refreshCounts();
    // A restarted leader (or one elected before this subscribed) finishes what it left behind.
    this.resumePendingRollouts();
    if (this.deps.config.runOnBoot) this.track(this.runCycle());
    this.schedule();
  }

  /**
   * Resumes every rollout recorded in `image-watcher/rollout` that nobody here is watching: after
   * a restart or a takeover, the previous leader has stopped watching. A cycle only takes records
   * past their deadline by a margin (orphanedOnly): before that, a replica serving a manual update
   * may still be watching its own rollout.
   */
  private resumePendingRollouts(opts: { orphanedOnly?: boolean } = {}): void {
    if (this.stopped || !this.isLeader()) return;
    const now = this.deps.now().getTime();
    for (const [key, e] of this.entries) {
      const record = e.snapshot.annotations[ANNOTATIONS.rollout];
      if (record === undefined || this.resuming.has(key)) continue;
      if (opts.orphanedOnly === true) {
        const parsed = parsePendingRollout(record);
        if (parsed.ok && Date.parse(parsed.rollout.deadline) + ORPHANED_AFTER_MS > now) continue;
      }
      this.resuming.add(key);
      this.track(this.withLock(key, () => this.resume(key)).finally(() => this.resuming.delete(key)));
    }
  }

  private async resume(key: string): Promise<void> {
    const e = this.entries.get(key);
    if (!e || this.stopped || !this.isLeader()) return;
    // Fresh from the API: an update of ours may have settled while this waited for the lock.
    const w = await this.deps.gateway.getWorkload(e.snapshot.kind, e.snapshot.namespace, e.snapshot.name);
    if (!w || w.annotations[ANNOTATIONS.rollout] === undefined) return;
    const watched = e.settings ? watchedContainers(w.containers, e.settings) : w.containers;
    await resumeRollout(
      this.updaterDeps(async (notices) => {
        await this.deps.notify(notices);
      }),
      w,
      watched.map((c) => c.name),
    );
  }

  /** Stops with the watcher or with this replica's leadership, whichever comes first. */
  private actionSignal(): AbortSignal {
    return AbortSignal.any([this.abort.signal, this.leadership.signal]);
  }

  private updaterDeps(notify: UpdaterDeps['notify']): UpdaterDeps {
    return {
      gateway: this.deps.gateway,
      metrics: this.deps.metrics,
      notify,
      logger: this.log,
      now: this.deps.now,
      sleep: this.deps.sleep,
      rolloutTimeoutMs: this.deps.config.rolloutTimeoutMs,
      ...(this.deps.config.rolloutPollMs === undefined
        ? {}
        : { rolloutPollMs: this.deps.config.rolloutPollMs }),
      signal: this.actionSignal(),
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    clearTimeout(this.debounce);
    this.dirty.clear();
    await Promise.allSettled([...this.background]);
    await this.deps.watch.stop();
  }

  /** Waits for the running cycle and debounced checks (tests, graceful stop). */
  async idle(): Promise<void> {
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }

  private track<T>(p: Promise<T>): void {
    const guarded = p.catch((err: unknown) => this.log.error({ err }, 'watcher task failed'));
    this.background.add(guarded);
    void guarded.finally(() => this.background.delete(guarded));
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.track(this.runCycle().finally(() => this.schedule()));
    }, this.deps.config.checkIntervalMs);
    this.timer.unref();
  }

  // ---- informer events --------------------------------------------------------------------

  private upsertEntry(w: WorkloadSnapshot): Entry {
    const key = workloadKey(w);
    const parsed = parseWatchSettings(w.annotations, {
      containerNames: w.containers.map((c) => c.name),
      overrides: this.deps.config.overrides,
    });
    const prev = this.entries.get(key);
    const entry: Entry = {
      snapshot: w,
      settings: parsed.ok ? parsed.settings : undefined,
      settingsError: parsed.ok ? undefined : formatProblems(parsed.problems),
      containers: prev?.containers,
      lastCheck: prev?.lastCheck,
      lastError: prev?.lastError,
    };
    this.entries.set(key, entry);
    return entry;
  }

  private onUpsert(w: WorkloadSnapshot, old: WorkloadSnapshot | undefined): void {
    const prevMode = this.entries.get(workloadKey(w))?.settings?.mode;
    const entry = this.upsertEntry(w);
    if (entry.settings?.mode !== prevMode) this.refreshCounts();
    if (old && checkInputs(old) === checkInputs(w)) return;
    if (this.syncing || this.stopped || !this.isLeader()) return;
    this.dirty.add(workloadKey(w));
    // One timer for all: a burst of edits (a GitOps sync of many workloads) costs one batched check.
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      const keys = [...this.dirty];
      this.dirty.clear();
      this.track(this.checkChanged(keys));
    }, this.deps.config.debounceMs ?? 2000);
    this.debounce.unref();
  }

  private onDelete(w: WorkloadSnapshot): void {
    const key = workloadKey(w);
    this.entries.delete(key);
    this.dirty.delete(key);
    for (const k of this.digestBaselines.keys()) if (k.startsWith(`${key}|`)) this.digestBaselines.delete(k);
    for (const k of this.lastNotes.keys()) if (k.startsWith(`${key}|`)) this.lastNotes.delete(k);
    this.deps.metrics.removeWorkload(labelsOf(w));
    this.refreshCounts();
  }

  private refreshCounts(): void {
    const counts: Record<string, number> = {};
    for (const e of this.entries.values()) {
      const mode = e.settings?.mode;
      if (mode) counts[mode] = (counts[mode] ?? 0) + 1;
    }
    this.deps.metrics.setWorkloadCounts(counts);
  }

  // ---- checks -----------------------------------------------------------------------------

  /** One full cycle over every watched workload; concurrent calls share the running cycle. */
  runCycle(): Promise<void> {
    this.cycle ??= this.doCycle().finally(() => {
      this.cycle = undefined;
    });
    return this.cycle;
  }

  private async doCycle(): Promise<void> {
    if (!this.isLeader()) {
      this.log.debug('not the leader: skipping the check cycle');
      return;
    }
    const started = this.deps.now();
    for (const w of this.deps.watch.list()) this.upsertEntry(w);
    this.refreshCounts();
    this.resumePendingRollouts({ orphanedOnly: true });
    this.deps.registry.newCycle();
    this.notesMemo.clear();
    const keys = [...this.entries.keys()];
    const split = await this.checkKeys(keys);
    const finished = this.deps.now();
    this.deps.metrics.observeCheck({
      seconds: (finished.getTime() - started.getTime()) / 1000,
      finishedAt: finished,
    });
    this.log.info(
      { workloads: keys.length, seconds: (finished.getTime() - started.getTime()) / 1000, ...split },
      'check cycle done',
    );
  }

  private async checkChanged(keys: readonly string[]): Promise<void> {
    if (this.stopped || !this.isLeader()) return;
    await this.checkKeys(keys.filter((k) => this.entries.has(k)));
  }

  private targets(keys: readonly string[]): CheckTarget[] {
    const out: CheckTarget[] = [];
    for (const key of keys) {
      const e = this.entries.get(key);
      if (!e) continue;
      if (!e.settings) {
        e.lastError = e.settingsError;
        e.lastCheck = this.deps.now();
        this.deps.metrics.observeCheckError('E_ANNOTATIONS');
        continue;
      }
      if (e.settings.mode === 'DISABLED') {
        // No longer watched: an old `image_outdated` series would keep an alert firing forever.
        this.deps.metrics.retainContainers(labelsOf(e.snapshot), new Set());
        e.containers = undefined;
        continue;
      }
      out.push({ key, snapshot: e.snapshot, settings: e.settings });
    }
    return out;
  }

  /** What the checker needs, the same for cycles and manual updates. */
  private checkerDeps(): CheckerDeps {
    return {
      registry: this.deps.registry,
      gateway: this.deps.gateway,
      credentialsFor: this.deps.credentialsFor,
      fallbackDockerConfig: this.deps.fallbackDockerConfig,
      concurrency: this.deps.config.registryConcurrency,
      logger: this.log,
      digestBaselines: this.digestBaselines,
    };
  }

  /** Checks and acts; returns how long the registry checks and the actions took (for the cycle log). */
  private async checkKeys(keys: readonly string[]): Promise<{ checkSeconds: number; actSeconds: number }> {
    const t0 = this.deps.now().getTime();
    const checks = await checkWorkloads(this.targets(keys), this.checkerDeps());
    const t1 = this.deps.now().getTime();
    const notices: UpdateNotice[] = [];
    const limit = pLimit(this.deps.config.actionConcurrency ?? 8);
    await Promise.all(
      checks.map((c) =>
        limit(async () => {
          this.record(c);
          if (this.stopped || !this.isLeader()) return;
          // One workload's failure must not reject the batch: the notices already stamped for
          // the others would never be sent (the stamp says they were).
          await this.withLock(c.key, () => this.act(c, notices)).catch((err: unknown) =>
            this.recordActionError(c, err),
          );
        }),
      ),
    );
    if (notices.length > 0) await this.deps.notify(notices);
    return { checkSeconds: (t1 - t0) / 1000, actSeconds: (this.deps.now().getTime() - t1) / 1000 };
  }

  private withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.locks.set(key, settled);
    void settled.then(() => {
      if (this.locks.get(key) === settled) this.locks.delete(key);
    });
    return next;
  }

  /** Stores the check for the API and the metrics. */
  private record(c: WorkloadCheck): void {
    const e = this.entries.get(c.key);
    if (!e) return; // deleted while being checked
    e.lastCheck = this.deps.now();
    e.lastError = c.error ? `${c.error.code}: ${c.error.message}` : undefined;
    if (c.error) this.deps.metrics.observeCheckError(c.error.code);
    e.containers = c.containers.map((s) => ({
      name: s.name,
      image: s.image,
      currentVersion: s.current,
      latestVersion: s.latest,
      updateAvailable: s.candidate !== undefined,
    }));
    const labels = labelsOf(c.snapshot);
    for (const s of c.containers) {
      if (s.latest === undefined) continue; // unknown: keep the last known series
      this.deps.metrics.setImageStatus(labels, {
        container: s.name,
        image: s.image,
        currentVersion: s.current,
        latestVersion: s.latest,
        outdated: s.candidate !== undefined,
      });
    }
    this.deps.metrics.retainContainers(labels, new Set(c.containers.map((s) => s.name)));
  }

  /** Acts on one checked workload; `notices` collects announcements sent once at the end of the cycle. */
  private async act(c: WorkloadCheck, notices: UpdateNotice[]): Promise<void> {
    const w = c.snapshot;
    const n = c.watched.length;
    const reverts = detectExternalReverts(c.watched, c.state, n);
    if (reverts.length > 0) {
      await this.recordRevert(c, reverts);
      return;
    }
    const action = decideAction({
      mode: c.settings.mode,
      candidates: c.candidates,
      state: c.state,
      watchedCount: n,
    });
    if (action.kind === 'none') return;
    if (action.kind === 'notify') {
      const stamped = await this.stampNotified(c, action.candidates);
      if (!stamped) return;
      const message = stamped.map((x) => `${x.container}: ${x.currentVersion} -> ${x.newVersion}`).join(', ');
      await recordEvent(
        { gateway: this.deps.gateway, logger: this.log },
        w,
        'Normal',
        'UpdateAvailable',
        `newer image available: ${message}`,
      );
      for (const cand of stamped) {
        const approvalUrl = this.deps.approvalUrl?.(w, cand);
        notices.push(
          ...noticesFor('available', w, [cand], {
            ...(await this.notes(c, cand)),
            ...(approvalUrl ? { approvalUrl } : {}),
          }),
        );
      }
      return;
    }
    await this.update(c, action.candidates);
  }

  /**
   * Stamps the versions about to be announced; returns those we won and must send. A conflict means
   * another replica (or a run before a restart) stamped first, or the object merely changed (a
   * status update moves resourceVersion): then the fresh object decides, once.
   */
  private async stampNotified(c: WorkloadCheck, wanted: Candidate[]): Promise<Candidate[] | undefined> {
    const names = c.watched.map((x) => x.info.name);
    let w = c.snapshot;
    let candidates = wanted;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.deps.gateway.patchWorkload(
          w.kind,
          w.namespace,
          w.name,
          notifyPatch(w, candidates, names, this.deps.now()),
        );
        return candidates;
      } catch (err) {
        if (!isPatchConflict(err)) {
          this.recordActionError(c, err);
          return undefined;
        }
      }
      const fresh =
        attempt === 0
          ? await this.deps.gateway.getWorkload(w.kind, w.namespace, w.name).catch(() => undefined)
          : undefined;
      const sameImages =
        fresh !== undefined &&
        fresh.containers.every((x) => w.containers.find((y) => y.name === x.name)?.image === x.image);
      const again =
        fresh === undefined
          ? undefined
          : decideAction({
              mode: 'NOTIFICATION',
              candidates,
              state: readManagedState(fresh.annotations),
              watchedCount: names.length,
            });
      if (!fresh || !sameImages || again?.kind !== 'notify') {
        this.log.debug({ workload: labelsOf(w) }, 'notification stamped elsewhere or workload changed');
        return undefined;
      }
      candidates = again.candidates;
      w = fresh;
    }
  }

  private async update(
    c: WorkloadCheck,
    candidates: Candidate[],
    onPatched?: (w: WorkloadSnapshot) => void,
  ): Promise<UpdateOutcome> {
    return applyUpdate(
      this.updaterDeps(async (notices) => {
        const enriched = await Promise.all(
          notices.map(async (x) => {
            if (x.event !== 'updated') return x;
            const cand = candidates.find((k) => k.container === x.container);
            return cand ? { ...x, ...(await this.notes(c, cand)) } : x;
          }),
        );
        await this.deps.notify(enriched);
      }),
      { snapshot: c.snapshot, candidates, watched: c.watched, ...(onPatched ? { onPatched } : {}) },
    );
  }

  private async recordRevert(
    c: WorkloadCheck,
    reverts: ReturnType<typeof detectExternalReverts>,
  ): Promise<void> {
    const w = c.snapshot;
    try {
      await this.deps.gateway.patchWorkload(
        w.kind,
        w.namespace,
        w.name,
        revertPatch(
          w,
          reverts,
          c.watched.map((x) => x.info.name),
        ),
      );
    } catch (err) {
      if (!isPatchConflict(err)) this.recordActionError(c, err);
      return;
    }
    const text = reverts.map((r) => `${r.container}: ${r.revertedVersion} -> ${r.runningVersion}`).join(', ');
    this.log.warn(
      { workload: labelsOf(w), reverts: text },
      'image reverted outside image-watcher; not updating again',
    );
    await recordEvent(
      { gateway: this.deps.gateway, logger: this.log },
      w,
      'Warning',
      'RevertedExternally',
      `image reverted outside image-watcher (${text}); that version will not be applied again automatically`,
    );
    await this.deps.notify(
      reverts.map((r) => ({
        event: 'reverted_externally' as const,
        workload: { kind: w.kind, namespace: w.namespace, name: w.name },
        container: r.container,
        image: r.image,
        currentVersion: r.runningVersion,
        newVersion: r.revertedVersion,
        change: changeBetween(r.runningVersion, r.revertedVersion),
        detail:
          'The image was set back outside image-watcher (GitOps or a person); this version will not be applied again automatically.',
      })),
    );
  }

  private recordActionError(c: WorkloadCheck, err: unknown): void {
    const e = this.entries.get(c.key);
    const code = err instanceof ImageWatcherError ? err.code : 'E_INTERNAL';
    const message = err instanceof Error ? err.message : String(err);
    if (e) e.lastError = `${code}: ${message}`;
    this.deps.metrics.observeCheckError(code);
    this.log.error({ workload: labelsOf(c.snapshot), err }, 'cannot act on workload');
  }

  /** Release notes are a bonus: any failure yields nothing rather than failing the check. */
  private async notes(c: WorkloadCheck, cand: Candidate): Promise<Pick<UpdateNotice, 'releaseNotes'>> {
    const fetchNotes = this.deps.releaseNotes;
    if (!fetchNotes || cand.change === 'digest') return {};
    // Workloads running the same image share its notes: fetch them once per cycle, not per workload.
    const key = `${c.settings.releaseUrl ?? ''}\n${cand.newImage}`;
    let pending = this.notesMemo.get(key);
    if (!pending) {
      pending = fetchNotes({
        workload: c.snapshot,
        releaseUrl: c.settings.releaseUrl,
        image: cand.image,
        newImage: cand.newImage,
        newVersion: cand.newVersion,
      }).catch((err: unknown) => {
        this.log.debug({ err, image: cand.newImage }, 'no release notes');
        return undefined;
      });
      this.notesMemo.set(key, pending);
    }
    const releaseNotes = await pending;
    if (releaseNotes)
      this.lastNotes.set(`${c.key}|${cand.container}`, { version: cand.newVersion, notes: releaseNotes });
    return releaseNotes ? { releaseNotes } : {};
  }

  /**
   * Release notes last announced for this workload and version (fetched for the notice; never
   * fetched here), or undefined.
   */
  releaseNotesFor(
    kind: WorkloadKind,
    namespace: string,
    name: string,
    version: string,
  ): UpdateNotice['releaseNotes'] | undefined {
    const prefix = `${workloadKey({ kind, namespace, name })}|`;
    for (const [k, v] of this.lastNotes) {
      if (k.startsWith(prefix) && v.version === version) return v.notes;
    }
    return undefined;
  }

  // ---- API reads and the manual update ----------------------------------------------------

  workloads(): WorkloadView[] {
    return [...this.entries.values()].map((e) => ({
      namespace: e.snapshot.namespace,
      kind: e.snapshot.kind,
      name: e.snapshot.name,
      mode: e.settings?.mode,
      strategy: e.settings?.strategy,
      containers:
        e.containers ??
        (e.settings ? watchedContainers(e.snapshot.containers, e.settings) : e.snapshot.containers).map(
          (c) => ({
            name: c.name,
            image: c.image,
            currentVersion: safeRunning(c.image),
            latestVersion: undefined,
            updateAvailable: false,
          }),
        ),
      lastCheck: e.lastCheck?.toISOString(),
      lastError: e.lastError ?? e.settingsError,
    }));
  }

  snapshot(kind: WorkloadKind, namespace: string, name: string): WorkloadSnapshot | undefined {
    return this.entries.get(workloadKey({ kind, namespace, name }))?.snapshot;
  }

  /**
   * Updates now, whatever the mode except DISABLED, to the newest allowed version or to
   * `version` (which must exist and not be lower than what runs; include/exclude and
   * last-failed-version do not apply to an explicit request). Resolves once the image is
   * written; the rollout is watched (and rolled back) in the background.
   */
  async manualUpdate(req: {
    kind: WorkloadKind;
    namespace: string;
    name: string;
    version?: string | undefined;
  }): Promise<ManualUpdateResult> {
    const w = await this.deps.gateway.getWorkload(req.kind, req.namespace, req.name);
    if (!w)
      throw new ManualUpdateError('E_NOT_FOUND', `${req.kind} ${req.namespace}/${req.name} does not exist`);
    const parsed = parseWatchSettings(w.annotations, {
      containerNames: w.containers.map((c) => c.name),
      overrides: this.deps.config.overrides,
    });
    if (!parsed.ok) throw new ManualUpdateError('E_BAD_ANNOTATIONS', formatProblems(parsed.problems));
    if (parsed.settings.mode === 'DISABLED') {
      throw new ManualUpdateError(
        'E_DISABLED',
        `${req.kind} ${req.namespace}/${req.name} has image-watcher/mode DISABLED; set it to NOTIFICATION or AUTO_UPDATE to allow updates`,
      );
    }
    const key = workloadKey(w);
    // The answer comes once the image is written, but the lock is held until the rollout watch
    // ends, so a cycle or a debounced check cannot update the workload again mid-rollout.
    let answer!: (r: ManualUpdateResult) => void;
    let fail!: (err: unknown) => void;
    const answered = new Promise<ManualUpdateResult>((resolve, reject) => {
      answer = resolve;
      fail = reject;
    });
    const locked = this.withLock(key, async () => {
      this.deps.registry.newCycle();
      const settings: WatchSettings =
        req.version === undefined
          ? parsed.settings
          : { ...parsed.settings, include: undefined, exclude: undefined };
      const [check] = await checkWorkloads([{ key, snapshot: w, settings }], this.checkerDeps());
      if (!check) throw new ManualUpdateError('E_NOT_FOUND', 'nothing to check');
      if (check.error && check.candidates.length === 0) {
        throw new ManualUpdateError('E_UPDATE_FAILED', `cannot ask the registry: ${check.error.message}`);
      }
      const candidates =
        req.version === undefined ? check.candidates : await this.explicitCandidates(check, req.version);
      if (candidates.length === 0)
        throw new ManualUpdateError('E_NO_UPDATE', 'already at the newest allowed version');
      const changes = candidates.map((c) => ({
        container: c.container,
        from: c.currentVersion,
        to: c.newVersion,
      }));
      const outcome = await this.update(check, candidates, () => answer({ status: 'updating', changes }));
      // Settles the answer only when the patch did not (a later call is a no-op).
      if (outcome.result === 'conflict')
        fail(new ManualUpdateError('E_CONFLICT', 'the workload changed while updating; retry'));
      else if (outcome.result === 'failed') fail(new ManualUpdateError('E_UPDATE_FAILED', outcome.reason));
      else answer({ status: outcome.result === 'interrupted' ? 'updating' : outcome.result, changes });
    });
    // Whatever throws (before or after the patch) settles the answer instead of leaving it hanging.
    this.track(
      locked.catch((err: unknown) => {
        fail(err);
        // A refused request (no update, bad version) is the caller's answer, not a task failure.
        if (!(err instanceof ManualUpdateError)) throw err;
      }),
    );
    return answered;
  }

  /** Candidates for an explicit `?version=`: containers whose repository has that tag. */
  private async explicitCandidates(check: WorkloadCheck, version: string): Promise<Candidate[]> {
    const wanted = parseTag(version);
    if (!wanted) throw new ManualUpdateError('E_BAD_VERSION', `'${version}' is not a version tag`);
    const out: Candidate[] = [];
    const otherShape: string[] = [];
    for (const { info, ref } of check.watched) {
      const tags = await this.deps.registry.listTags(ref).catch(() => [] as string[]);
      if (!tags.includes(version)) continue;
      const current = ref.tag === undefined ? undefined : parseTag(ref.tag);
      // 1.26.0-alpine for a container on 1.25.1 would switch its flavour, not its version.
      if (current && !sameShape(current, wanted)) {
        otherShape.push(`${info.name} (${ref.tag ?? ''})`);
        continue;
      }
      if (current && compareTags(wanted, current) < 0) {
        throw new ManualUpdateError(
          'E_BAD_VERSION',
          `${version} is lower than the running ${ref.tag ?? ''} of container ${info.name}; image-watcher never downgrades`,
        );
      }
      if (current && compareTags(wanted, current) === 0) continue;
      out.push({
        container: info.name,
        imagePath: info.imagePath,
        image: info.image,
        currentVersion: runningVersion(ref),
        newVersion: version,
        newImage: imageWithTag(ref, version),
        change: current ? changeBetween(ref.tag ?? '', version) : 'major',
      });
    }
    if (out.length === 0) {
      throw new ManualUpdateError(
        'E_BAD_VERSION',
        otherShape.length > 0
          ? `'${version}' does not have the form of the running tag of ${otherShape.join(', ')}: ` +
              'the same prefix, number of version parts and variant (e.g. -alpine) are required'
          : `no watched container's repository has a tag '${version}' newer than what runs`,
      );
    }
    return out;
  }
}

function safeRunning(image: string): string {
  try {
    return runningVersion(parseImageReference(image));
  } catch {
    return '';
  }
}

function changeBetween(from: string, to: string): UpdateNotice['change'] {
  const a = parseTag(from);
  const b = parseTag(to);
  return a && b ? classifyChange(a, b) : 'digest';
}

export type { WatchedContainer };
