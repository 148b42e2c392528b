// The watcher core: one reconcile per workload. `reconcileWorkload(key)` reads the workload from
// the watch cache and decides from what it sees (level-based, idempotent): a recorded rollout is
// judged (complete, rolled back or looked at again later), otherwise the registry is asked and the
// workload is announced, updated or left alone. A keyed work queue runs it: the interval enqueues
// every key, a watch event enqueues its key after the debounce, a manual update enqueues with its
// intent. Tag lists are shared by all workloads of a pass: one request per repository per interval.
import pLimit from 'p-limit';
import type { LimitFunction } from 'p-limit';
import type { Logger } from 'pino';
import type { Overrides, PolicyDefaults, WatchSettings } from '../shared/annotations.ts';
import { ANNOTATIONS, USER_KEYS, formatProblems, parseWatchSettings } from '../shared/annotations.ts';
import { ImageWatcherError } from '../shared/errors.ts';
import type { ImageReference } from '../shared/image-ref.ts';
import { imageWithTag, parseImageReference } from '../shared/image-ref.ts';
import { satisfiesConstraint } from '../shared/constraint.ts';
import { canonicalName } from '../shared/image-ref.ts';
import { parsePendingRollout } from '../shared/pending-rollout.ts';
import type { Held } from '../shared/policy.ts';
import { overriddenByApproval } from '../shared/policy.ts';
import type { UpdateWindow } from '../shared/schedule.ts';
import { describeWindow, windowState } from '../shared/schedule.ts';
import { classifyChange, compareTags, parseTag, sameShape } from '../shared/version.ts';
import type {
  CandidateChooser,
  CandidateChoice,
  CheckerDeps,
  DigestSighting,
  RepoResult,
  WatchedContainer,
  WorkloadCheck,
} from './check/checker.ts';
import { CredentialResolver, evaluate, prepare, repositoriesOf } from './check/checker.ts';
import type { Candidate } from './check/decide.ts';
import type { CandidateGate, GateResult, GateSubject } from './check/gates.ts';
import {
  decideAction,
  detectExternalReverts,
  noticeClaimPatch,
  noticeDonePatch,
  revertPatch,
  runningVersion,
  versionFor,
  watchedContainers,
} from './check/decide.ts';
import type {
  JsonPatchOp,
  KubeGateway,
  LeaderElector,
  WorkloadKind,
  WorkloadSnapshot,
  WorkloadWatch,
} from './kube/types.ts';
import type {
  ContainerView,
  PlanAction,
  PlanRow,
  ManualErrorCode,
  ManualUpdateRequest,
  ManualUpdateResult,
  ReleaseNotesFn,
  WorkloadView,
} from './api.ts';
import { ManualUpdateError } from './api.ts';
import type { WatcherMetrics } from './metrics.ts';
import type { UpdateNotice } from './notify/types.ts';
import type { RegistryClient, RegistryCredentials } from './registry/types.ts';
import type { ReconcileResult, Timers } from './reconcile/queue.ts';
import { WorkQueue, cappedBackoff, realTimers } from './reconcile/queue.ts';
import { isPatchConflict } from './update/conflict.ts';
import { safeUrl } from './gitops/git.ts';
import type { GitDefaults, GitPending, WritePlan } from './gitops/state.ts';
import {
  gitClaimPatch,
  gitDropPatch,
  gitPushedPatch,
  gitRevertedPatch,
  gitSyncedPatch,
  notYetPushed,
  parseGitPending,
  pendingFor,
  synced,
  writePlan,
} from './gitops/state.ts';
import type { GitTarget, WriteBackRequest, WriteBackResult } from './gitops/writeback.ts';
import { judgeRollout } from './update/rollout.ts';
import {
  clearRollout,
  describe,
  labelsOf,
  noticesFor,
  recordEvent,
  rollBack,
  writeUpdate,
} from './update/updater.ts';

export interface ControllerConfig {
  checkIntervalMs: number;
  runOnBoot: boolean;
  overrides: Overrides;
  rolloutTimeoutMs: number;
  /** How often a rollout in progress is looked at (besides every watch event of the workload). */
  rolloutPollMs?: number;
  /** Delay between a workload change and its reconcile, so a burst of edits costs one. */
  debounceMs?: number;
  /** Registry requests in flight per registry host (the client's own limit is the same setting). */
  registryConcurrency: number;
  /** Workloads reconciled at once. */
  actionConcurrency?: number;
  /** A notice claim (`notice-pending`) older than this was left by a crash and is taken over. */
  noticeClaimTtlMs?: number;
  /** Decide as always, then only record the plan: no write, no event, no notice (run --once --dry-run). */
  dryRun?: boolean;
  /** UPDATE_SCHEDULE, UPDATE_TIMEZONE, MIN_RELEASE_AGE for workloads that set none. */
  policyDefaults?: PolicyDefaults;
}

/** Per channel: how many notices it took and how many it failed (the dispatcher's report). */
export type NotifyReport = readonly { delivered: number; failed: number }[];

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
  /** Policy gates a candidate must pass (min-age, platform, signature); none by default. */
  gates?: readonly CandidateGate[];
  /** Timers for the queue, the debounce and the interval (tests pass a manual clock). */
  timers?: Timers;
  config: ControllerConfig;
  /** The Git write-back (write-back: git) and its cluster-wide defaults; absent: live patches only. */
  gitops?: {
    writeBack: { submit(req: WriteBackRequest): Promise<WriteBackResult> };
    defaults: GitDefaults;
  };
}

/** The last Git write of a workload, for the API and notices. */
export interface GitWriteView {
  repo: string;
  branch: string | undefined;
  commit: string | undefined;
  url: string | undefined;
  /** Versions written and not yet seen live. */
  pending: boolean;
}

interface Entry {
  snapshot: WorkloadSnapshot;
  settings: WatchSettings | undefined;
  settingsError: string | undefined;
  containers: ContainerView[] | undefined;
  lastCheck: Date | undefined;
  lastError: string | undefined;
  /** What the last reconcile did per container (the run --once plan). */
  actions: Map<string, { action: PlanAction; from?: string; to?: string }>;
  /** The last reconcile threw (lastError says why): every container's plan row is an error. */
  failed?: boolean;
  git?: GitWriteView | undefined;
  /** Why updates of this workload are only announced (a GitOps owner without a Git target). */
  blocked?: string | undefined;
  /** The last Git write-back failure, shown until a write succeeds (checks do not clear it). */
  gitError?: string | undefined;
  /** The hold last logged per container (a hold is logged when it starts or changes). */
  held: Map<string, Held>;
}

/** A manual update or approval waiting for its workload's next reconcile. */
interface Intent {
  version: string | undefined;
  resolve(r: ManualUpdateResult): void;
  reject(err: unknown): void;
}

export function workloadKey(w: { kind: string; namespace: string; name: string }): string {
  return `${w.kind}/${w.namespace}/${w.name}`;
}

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

function toError(err: unknown): { code: string; message: string } {
  if (err instanceof ImageWatcherError) return { code: err.code, message: err.message };
  return { code: 'E_INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

/** Numeric resourceVersions (what every API server sends) ordered; anything else counts as newer. */
function newer(a: WorkloadSnapshot, b: WorkloadSnapshot): boolean {
  const x = Number(a.resourceVersion);
  const y = Number(b.resourceVersion);
  return !(Number.isSafeInteger(x) && Number.isSafeInteger(y)) || x >= y;
}

type Lookup<T> = {
  promise: Promise<T>;
  value: T | undefined;
  done: boolean;
  ctrl: AbortController;
  /** Keys waiting for it; when all are deleted the request is aborted. */
  waiters: Set<string>;
};

/**
 * The registry answers of one pass, shared by every workload: one tag list per repository and one
 * digest per tag. A reconcile never waits for them holding a queue worker: it asks, returns, and
 * its key is queued again when the answer is in.
 */
class PassLookups {
  readonly tags = new Map<string, Lookup<RepoResult>>();
  readonly digests = new Map<string, Lookup<string | { code: string; message: string }>>();
  /** Gate answers being asked, by gate, digest and gate key. */
  readonly gates = new Map<string, Lookup<GateResult>>();
  readonly credentials: CredentialResolver;
  readonly signal: AbortSignal;
  /** Repositories a push event named in this pass: their digests are asked past the cycle memo. */
  readonly pushed = new Set<string>();
  constructor(
    private readonly registry: RegistryClient,
    resolver: CredentialResolver,
    signal: AbortSignal,
    /** Gets the keys that waited for an answer once it is in (they are queued again). */
    private readonly onSettled: (waiters: ReadonlySet<string>) => void,
    /** Requests in flight per registry host (more would only queue inside the client, on its clock). */
    private readonly perRegistry: number,
  ) {
    this.credentials = resolver;
    this.signal = signal;
    signal.addEventListener(
      'abort',
      () => {
        for (const map of [this.tags, this.digests, this.gates] as Map<string, Lookup<unknown>>[]) {
          for (const l of map.values()) l.ctrl.abort(signal.reason);
        }
      },
      { once: true },
    );
  }

  private readonly limits = new Map<string, LimitFunction>();

  private lookup<T>(
    map: Map<string, Lookup<T>>,
    key: string,
    waiter: string,
    registry: string,
    run: (signal: AbortSignal) => Promise<T>,
  ): Lookup<T> {
    let l = map.get(key);
    if (!l) {
      // Aborted alone (its last waiter deleted) or with the pass (see the constructor).
      const ctrl = new AbortController();
      const signal = ctrl.signal;
      const entry: Lookup<T> = {
        promise: Promise.resolve(),
        value: undefined,
        done: false,
        ctrl,
        waiters: new Set(),
      } as unknown as Lookup<T>;
      let limit = this.limits.get(registry);
      if (!limit) {
        // Per registry: a slow one holds only its own slots, never the others'.
        limit = pLimit(Math.max(1, this.perRegistry));
        this.limits.set(registry, limit);
      }
      entry.promise = limit(() => run(signal)).then((v) => {
        entry.value = v;
        entry.done = true;
        const waiters = entry.waiters;
        entry.waiters = new Set();
        this.onSettled(waiters);
        return v;
      });
      l = entry;
      map.set(key, l);
    }
    if (!l.done) l.waiters.add(waiter);
    return l;
  }

  tagList(repoKey: string, ref: ImageReference, creds: Creds, waiter: string) {
    return this.lookup(this.tags, repoKey, waiter, ref.registry, (signal) =>
      creds()
        .then((c) => this.registry.listTags(ref, withSignal(c, signal)))
        .then(
          (tags): RepoResult => ({ ok: true, tags, digests: new Map() }),
          (err: unknown): RepoResult => ({ ok: false, error: toError(err) }),
        ),
    );
  }

  digest(repoKey: string, ref: ImageReference, tag: string, creds: Creds, waiter: string) {
    return this.lookup(this.digests, `${repoKey}:${tag}`, waiter, ref.registry, (signal) =>
      creds()
        .then((c) =>
          this.registry.getDigest(ref, tag, {
            ...withSignal(c, signal),
            // A pushed repository: the tag may point elsewhere now (a re-pushed `latest`).
            ...(this.pushed.has(repoKey) ? { fresh: true } : {}),
          }),
        )
        .catch((err: unknown) => toError(err)),
    );
  }

  /** One gate's answer for one candidate digest; a failing check holds the candidate (fails closed). */
  gate(
    key: string,
    gate: CandidateGate,
    registry: string,
    waiter: string,
    run: (signal: AbortSignal) => Promise<GateResult>,
  ) {
    return this.lookup(this.gates, key, waiter, registry, (signal) =>
      run(signal).catch((err: unknown): GateResult => ({
        ok: false,
        held: { reason: gate.reason, message: `cannot check: ${toError(err).message}` },
      })),
    );
  }

  /** A deleted workload no longer waits; a request nobody waits for is aborted. */
  drop(key: string): void {
    for (const map of [this.tags, this.digests, this.gates] as Map<string, Lookup<unknown>>[]) {
      for (const l of map.values()) {
        if (l.waiters.delete(key) && l.waiters.size === 0 && !l.done) l.ctrl.abort();
      }
    }
  }
}

/** Credentials of the first workload that asks (asked only when a request is made). */
type Creds = () => Promise<RegistryCredentials | undefined>;

/** Registry options: credentials and the signal (ignored by clients that do not take one). */
function withSignal(
  creds: RegistryCredentials | undefined,
  signal: AbortSignal,
): { credentials?: RegistryCredentials } {
  const opts: { credentials?: RegistryCredentials; signal: AbortSignal } = { signal };
  if (creds) opts.credentials = creds;
  return opts;
}

interface Pass {
  id: number;
  started: number;
  lookups: PassLookups;
  ctrl: AbortController;
  /** Keys not yet checked in this pass. */
  remaining: Set<string>;
  total: number;
  done: Promise<void>;
  finish: () => void;
}

const DEFAULT_CLAIM_TTL_MS = 5 * 60_000;
/** Gate answers kept across passes (a few per candidate digest). */
const MAX_GATE_ANSWERS = 4096;

export class Controller {
  private readonly deps: ControllerDeps;
  private readonly timers: Timers;
  private readonly entries = new Map<string, Entry>();
  private readonly queue: WorkQueue;
  private readonly intents = new Map<string, Intent[]>();
  /** Queues again the keys that waited for a registry answer. */
  private readonly requeue = (waiters: ReadonlySet<string>): void => {
    if (this.stopped) return;
    for (const k of waiters) if (this.entries.has(k)) this.queue.add(k);
  };
  private readonly digestBaselines = new Map<string, string>();
  /** Canonical repository -> keys of the workloads watching it (push events, watcher/push/). */
  private readonly byRepository = new Map<string, Set<string>>();
  private readonly repositoriesOfKey = new Map<string, readonly string[]>();
  /** Gate answers by gate, digest and key; bounded (oldest dropped first). */
  private readonly gateAnswers = new Map<string, { result: GateResult; pass: number }>();
  private readonly digestSightings = new Map<string, DigestSighting>();
  /** Release notes per image and release-url, for one pass. */
  private notesMemo = new Map<string, Promise<UpdateNotice['releaseNotes'] | undefined>>();
  /** The last release notes announced per `key|container`, for the approval page. */
  private readonly lastNotes = new Map<
    string,
    { version: string; notes: NonNullable<UpdateNotice['releaseNotes']> }
  >();
  private pass: Pass | undefined;
  private passSeq = 0;
  private readonly debounces = new Map<string, { handle: unknown; due: number }>();
  private interval: unknown;
  private syncing = true;
  private stopped = true;
  private readonly abort = new AbortController();

  constructor(deps: ControllerDeps) {
    this.deps = deps;
    this.timers = deps.timers ?? realTimers;
    this.queue = new WorkQueue({
      concurrency: deps.config.actionConcurrency ?? 8,
      timers: this.timers,
      backoff: (n) => cappedBackoff(n, 1000, 5 * 60_000),
      onError: (key, err) => this.onReconcileError(key, err),
    });
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
        // A new leader looks at every workload at once: unfinished rollouts are ordinary state.
        if (!this.stopped) void this.runCycle();
      } else {
        // Only the leader reports outdated images; stale values here would duplicate its alerts.
        this.deps.metrics.clearImageStatus();
      }
    });
    this.deps.metrics.setLeader(this.isLeader());
    await this.deps.watch.start();
    for (const w of this.deps.watch.list()) this.upsertEntry(w);
    this.syncing = false;
    this.refreshCounts();
    this.queue.start((key) => this.reconcileWorkload(key));
    if (this.deps.config.runOnBoot) void this.runCycle();
    else this.enqueueRecorded();
    this.schedule();
  }

  /** Without RUN_ON_BOOT, workloads with a recorded rollout or notice claim are still looked at. */
  private enqueueRecorded(): void {
    for (const [key, e] of this.entries) {
      if (stateInputs(e.snapshot) !== '\n') this.queue.add(key);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.pass?.ctrl.abort();
    if (this.interval !== undefined) this.timers.clearTimeout(this.interval);
    for (const t of this.debounces.values()) this.timers.clearTimeout(t.handle);
    this.debounces.clear();
    await this.queue.stop();
    this.pass?.finish();
    for (const [key, list] of this.intents) {
      for (const i of list) i.reject(new ManualUpdateError('E_UPDATE_FAILED', 'the watcher is stopping'));
      this.intents.delete(key);
    }
    await this.deps.watch.stop();
  }

  /**
   * Resolves once nothing is queued, running or waiting for a registry answer, and no key is due
   * within `soonMs` (with real timers: a requeue right after a write). Tests and graceful stops.
   */
  async idle(soonMs = 100): Promise<void> {
    for (;;) {
      await this.queue.idle();
      const waiting = this.pass ? this.waitingLookups(this.pass) : [];
      if (waiting.length > 0) {
        await Promise.allSettled(waiting);
        continue;
      }
      // A debounced watch event counts like a requeue.
      let due = this.queue.nextDueIn();
      for (const d of this.debounces.values()) {
        const left = Math.max(0, d.due - this.timers.now());
        if (due === undefined || left < due) due = left;
      }
      if (this.queue.length === 0 && (due === undefined || due > soonMs)) return;
      const ms = (due ?? 0) + 1;
      // Real timers are unref'd; this wait must keep the process alive until the key has run.
      await new Promise<void>((r) =>
        this.timers === realTimers ? setTimeout(r, ms) : this.timers.setTimeout(r, ms),
      );
    }
  }

  /** Registry answers still coming (only those `waiter` waits for, when given). */
  private waitingLookups(p: Pass, waiter?: string): Promise<unknown>[] {
    const out: Promise<unknown>[] = [];
    for (const map of [p.lookups.tags, p.lookups.digests, p.lookups.gates] as Map<
      string,
      Lookup<unknown>
    >[]) {
      for (const l of map.values()) {
        if (!l.done && (waiter === undefined || l.waiters.has(waiter))) out.push(l.promise);
      }
    }
    return out;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.interval = this.timers.setTimeout(() => {
      void this.runCycle();
      this.schedule();
    }, this.deps.config.checkIntervalMs);
  }

  // ---- watch events ------------------------------------------------------------------------

  private upsertEntry(w: WorkloadSnapshot): Entry {
    const key = workloadKey(w);
    const prev = this.entries.get(key);
    // A snapshot from our own patch may be newer than a late watch event: keep the newer one.
    if (prev && prev.snapshot.uid === w.uid && !newer(w, prev.snapshot)) return prev;
    const parsed = parseWatchSettings(w.annotations, {
      containerNames: w.containers.map((c) => c.name),
      overrides: this.deps.config.overrides,
      ...(this.deps.config.policyDefaults ? { defaults: this.deps.config.policyDefaults } : {}),
    });
    const entry: Entry = {
      snapshot: w,
      settings: parsed.ok ? parsed.settings : undefined,
      settingsError: parsed.ok ? undefined : formatProblems(parsed.problems),
      containers: prev?.containers,
      lastCheck: prev?.lastCheck,
      lastError: prev?.lastError,
      actions: prev?.actions ?? new Map<string, { action: PlanAction; from?: string; to?: string }>(),
      git: gitViewOf(w) ?? (prev?.git ? { ...prev.git, pending: false } : undefined),
      blocked: prev?.blocked,
      gitError: prev?.gitError,
      held: prev?.held ?? new Map<string, Held>(),
    };
    this.entries.set(key, entry);
    this.indexRepositories(key, entry);
    return entry;
  }

  /** Keeps `byRepository` to the watched containers of the entry (none when DISABLED or invalid). */
  private indexRepositories(key: string, e: Entry | undefined): void {
    const repos = new Set<string>();
    if (e?.settings && e.settings.mode !== 'DISABLED') {
      for (const c of watchedContainers(e.snapshot.containers, e.settings)) {
        try {
          repos.add(canonicalName(parseImageReference(c.image)));
        } catch {
          // an image that does not parse is reported by its check
        }
      }
    }
    for (const r of this.repositoriesOfKey.get(key) ?? []) {
      if (repos.has(r)) continue;
      const keys = this.byRepository.get(r);
      keys?.delete(key);
      if (keys?.size === 0) this.byRepository.delete(r);
    }
    for (const r of repos) {
      let keys = this.byRepository.get(r);
      if (!keys) {
        keys = new Set();
        this.byRepository.set(r, keys);
      }
      keys.add(key);
    }
    if (repos.size === 0) this.repositoriesOfKey.delete(key);
    else this.repositoriesOfKey.set(key, [...repos]);
  }

  /** Workloads whose watched containers use the canonical repository (push events). */
  workloadsUsing(repository: string): WorkloadSnapshot[] {
    const out: WorkloadSnapshot[] = [];
    for (const k of this.byRepository.get(repository) ?? []) {
      const e = this.entries.get(k);
      if (e) out.push(e.snapshot);
    }
    return out;
  }

  /**
   * A push event's verified, fresh tag list: the pass's answer for that repository is replaced
   * (and its digests asked again), and only the workloads using it are queued. Returns how many.
   */
  applyTags(repository: string, tags: readonly string[]): number {
    if (this.stopped || !this.isLeader()) return 0;
    const pass = this.currentPass();
    const ctrl = new AbortController();
    const value: RepoResult = { ok: true, tags: [...tags], digests: new Map() };
    pass.lookups.tags.set(repository, {
      promise: Promise.resolve(value),
      value,
      done: true,
      ctrl,
      waiters: new Set(),
    });
    for (const k of pass.lookups.digests.keys()) {
      if (k.startsWith(`${repository}:`)) pass.lookups.digests.delete(k);
    }
    pass.lookups.pushed.add(repository);
    const keys = [...(this.byRepository.get(repository) ?? [])];
    for (const k of keys) this.queue.add(k);
    return keys.length;
  }

  /** Pull credentials a workload's reconcile would use for a registry. */
  credentialsFor(w: WorkloadSnapshot, registry: string): Promise<RegistryCredentials | undefined> {
    return this.currentPass().lookups.credentials.forWorkload(w, registry);
  }

  private onUpsert(w: WorkloadSnapshot, old: WorkloadSnapshot | undefined): void {
    const key = workloadKey(w);
    const prevMode = this.entries.get(key)?.settings?.mode;
    const entry = this.upsertEntry(w);
    if (entry.settings?.mode !== prevMode) this.refreshCounts();
    if (this.syncing || this.stopped) return;
    // Our own bookkeeping (a rollout record, a notice claim) is state the reconcile acts on now;
    // image and user annotation changes wait for the debounce, so a burst costs one reconcile.
    if (old && stateInputs(old) !== stateInputs(w)) {
      this.queue.add(key);
      return;
    }
    if (old && checkInputs(old) === checkInputs(w)) {
      // Status moved: a rollout in progress is judged on every status change.
      if (w.annotations[ANNOTATIONS.rollout] !== undefined) this.queue.add(key);
      return;
    }
    const prev = this.debounces.get(key);
    if (prev !== undefined) this.timers.clearTimeout(prev.handle);
    const ms = this.deps.config.debounceMs ?? 2000;
    const handle = this.timers.setTimeout(() => {
      this.debounces.delete(key);
      this.queue.add(key);
    }, ms);
    this.debounces.set(key, { handle, due: this.timers.now() + ms });
  }

  private onDelete(w: WorkloadSnapshot): void {
    const key = workloadKey(w);
    this.entries.delete(key);
    this.indexRepositories(key, undefined);
    const t = this.debounces.get(key);
    if (t !== undefined) this.timers.clearTimeout(t.handle);
    this.debounces.delete(key);
    this.queue.forget(key);
    this.pass?.lookups.drop(key);
    this.passDone(key);
    for (const k of this.digestBaselines.keys()) if (k.startsWith(`${key}|`)) this.digestBaselines.delete(k);
    for (const k of this.digestSightings.keys()) if (k.startsWith(`${key}|`)) this.digestSightings.delete(k);
    for (const k of this.lastNotes.keys()) if (k.startsWith(`${key}|`)) this.lastNotes.delete(k);
    for (const k of this.gitFailed.keys()) if (k.startsWith(`${key}|`)) this.gitFailed.delete(k);
    for (const i of this.intents.get(key) ?? []) {
      i.reject(new ManualUpdateError('E_NOT_FOUND', `${w.kind} ${w.namespace}/${w.name} was deleted`));
    }
    this.intents.delete(key);
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

  // ---- passes ------------------------------------------------------------------------------

  /**
   * One pass over every workload: fresh registry answers, every key queued. Resolves when each
   * was checked (or deleted). A new pass supersedes an unfinished one (a registry that never
   * answers cannot hold back the next interval).
   */
  runCycle(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (!this.isLeader()) {
      this.log.debug('not the leader: skipping the check cycle');
      return Promise.resolve();
    }
    const old = this.pass;
    if (old) {
      old.ctrl.abort();
      old.finish();
    }
    for (const w of this.deps.watch.list()) this.upsertEntry(w);
    this.refreshCounts();
    this.notesMemo = new Map();
    const keys = [...this.entries.keys()];
    const pass = this.openPass(keys);
    const { done } = pass;
    void done.then(() => {
      const seconds = (this.deps.now().getTime() - pass.started) / 1000;
      this.deps.metrics.observeCheck({ seconds, finishedAt: this.deps.now() });
      this.log.info({ workloads: pass.total, seconds, pass: pass.id }, 'check cycle done');
    });
    if (keys.length === 0) pass.finish();
    for (const k of keys) this.queue.add(k);
    return done;
  }

  private passDone(key: string): void {
    const p = this.pass;
    if (!p || !p.remaining.delete(key)) return;
    if (p.remaining.size === 0) p.finish();
  }

  /** What the checker needs. */
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

  /** The pass reconciles read registry answers from; an empty one until the first interval. */
  private currentPass(): Pass {
    if (this.pass) return this.pass;
    const pass = this.openPass([]);
    pass.finish();
    return pass;
  }

  /** A new pass over `keys`: fresh per-cycle registry answers and an abort signal of its own. */
  private openPass(keys: readonly string[]): Pass {
    this.deps.registry.newCycle();
    const ctrl = new AbortController();
    let finish!: () => void;
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const pass: Pass = {
      id: ++this.passSeq,
      started: this.deps.now().getTime(),
      lookups: new PassLookups(
        this.deps.registry,
        new CredentialResolver(this.checkerDeps()),
        AbortSignal.any([ctrl.signal, this.abort.signal]),
        this.requeue,
        this.deps.config.registryConcurrency,
      ),
      ctrl,
      remaining: new Set(keys),
      total: keys.length,
      done,
      finish,
    };
    this.pass = pass;
    return pass;
  }

  private onReconcileError(key: string, err: unknown): void {
    const e = this.entries.get(key);
    const { code, message } = toError(err);
    if (e) {
      e.lastError = `${code}: ${message}`;
      e.failed = true;
    }
    this.deps.metrics.observeCheckError(code);
    this.log.error({ workload: key, err }, 'reconcile failed; retrying with backoff');
    this.passDone(key);
    const intents = this.intents.get(key);
    if (intents) {
      this.intents.delete(key);
      for (const i of intents) i.reject(err);
    }
  }

  // ---- the reconcile -----------------------------------------------------------------------

  /**
   * Brings one workload closer to what its annotations ask for, from its current state alone.
   * Safe to run any number of times: every write is guarded by a JSON Patch `test`.
   */
  async reconcileWorkload(key: string): Promise<ReconcileResult> {
    const e = this.entries.get(key);
    const intents = this.intents.get(key);
    const fail = (code: ManualErrorCode, message: string) => {
      if (!intents) return;
      this.intents.delete(key);
      for (const i of intents) i.reject(new ManualUpdateError(code, message));
    };
    if (!e || this.stopped) {
      fail('E_NOT_FOUND', `${key} does not exist`);
      this.passDone(key);
      return {};
    }
    const w = e.snapshot;
    const leader = this.isLeader();
    const record = w.annotations[ANNOTATIONS.rollout];
    if (record !== undefined) {
      fail('E_CONFLICT', 'a rollout of this workload is in progress; retry when it has finished');
      if (this.deps.config.dryRun) {
        // Judging it could roll back or clear the record: writes a dry run never makes.
        const parsed = parsePendingRollout(record);
        for (const c of parsed.ok ? parsed.rollout.changes : [])
          e.actions.set(c.container, { action: 'rollout', to: c.newVersion });
        this.passDone(key);
        return {};
      }
      const r = leader ? await this.reconcileRollout(e, record) : {};
      this.passDone(key);
      return r;
    }
    if (!e.settings) {
      e.lastError = e.settingsError;
      e.lastCheck = this.deps.now();
      this.deps.metrics.observeCheckError('E_ANNOTATIONS');
      fail('E_BAD_ANNOTATIONS', e.settingsError ?? 'invalid annotations');
      this.passDone(key);
      return {};
    }
    if (e.settings.mode === 'DISABLED') {
      // No longer watched: an old `image_outdated` series would keep an alert firing forever.
      this.deps.metrics.retainContainers(labelsOf(w), new Set());
      e.containers = undefined;
      fail(
        'E_DISABLED',
        `${w.kind} ${w.namespace}/${w.name} has image-watcher/mode DISABLED; set it to NOTIFICATION or AUTO_UPDATE to allow updates`,
      );
      this.passDone(key);
      return {};
    }
    if (intents) {
      this.intents.delete(key);
      return this.reconcileIntent(e, e.settings, intents);
    }
    if (!leader) {
      this.passDone(key);
      return {};
    }
    const gitPending = w.annotations[ANNOTATIONS.gitPending];
    if (gitPending !== undefined) {
      const r = await this.reconcileGitPending(e, e.settings, gitPending);
      if (r !== undefined) {
        if (r.requeueAfter !== 0) this.passDone(key);
        return r;
      }
    }

    const pass = this.currentPass();
    const check = this.checkFromPass(key, e, e.settings, pass);
    if (check === undefined) return {}; // queued again when the registry has answered
    const closed = this.closedWindow(check);
    this.record(check);
    const r = withHeldRequeue(await this.act(check, closed), check, this.deps.now());
    // A conflict looks again at once: the pass counts the workload when that run is done.
    if (r.requeueAfter !== 0) this.passDone(key);
    return r;
  }

  /**
   * The check from the pass's registry answers, or undefined while some are still coming (the
   * key is queued again when they are in).
   */
  private checkFromPass(
    key: string,
    e: Entry,
    settings: WatchSettings,
    pass: Pass,
  ): WorkloadCheck | undefined {
    const p = prepare({ key, snapshot: e.snapshot, settings });
    const results = new Map<string, RepoResult>();
    let pending = false;
    for (const r of repositoriesOf(p)) {
      // Credentials come from the API (cached per pass), asked only for a request still to make.
      const creds: Creds = () => pass.lookups.credentials.forWorkload(e.snapshot, r.ref.registry);
      const list = pass.lookups.tagList(r.repoKey, r.ref, creds, key);
      if (!list.done) {
        pending = true;
        continue;
      }
      const value = list.value!;
      if (!value.ok) {
        results.set(r.repoKey, value);
        continue;
      }
      const digests = new Map<string, string | { code: string; message: string }>();
      for (const tag of r.digestTags) {
        const d = pass.lookups.digest(r.repoKey, r.ref, tag, creds, key);
        if (d.done) digests.set(tag, d.value!);
        else pending = true;
      }
      results.set(r.repoKey, { ok: true, tags: value.tags, digests });
    }
    if (pending) return undefined;
    const check = evaluate(p, results, {
      digestBaselines: this.digestBaselines,
      digestSightings: this.digestSightings,
      pass: pass.id,
      choose: this.chooser(pass, key),
    });
    return check.pending ? undefined : check;
  }

  /**
   * The policy gates' choice among a container's allowed candidates, from the pass's lookups: the
   * newest that passes every gate that applies. A workload no gate applies to costs no request.
   */
  private chooser(pass: Pass, waiter: string, manual = false): CandidateChooser {
    return ({ target, container, candidates }): CandidateChoice => {
      // A manual update or approval is an update (platform applies whatever the mode) and a
      // person's decision: it overrides the release age, never platform or signature.
      const settings: WatchSettings = manual ? { ...target.settings, mode: 'AUTO_UPDATE' } : target.settings;
      const gates = (this.deps.gates ?? []).filter(
        (g) => g.applies(settings) && !(manual && overriddenByApproval(g.reason)),
      );
      if (gates.length === 0) return { pending: false, candidate: candidates[0], held: undefined };
      const { ref } = container;
      const repoKey = canonicalName(ref);
      const creds: Creds = () => pass.lookups.credentials.forWorkload(target.snapshot, ref.registry);
      let held: Held | undefined;
      for (const cand of candidates) {
        const at = cand.newVersion.indexOf('@');
        const tag = at < 0 ? cand.newVersion : cand.newVersion.slice(0, at);
        let digest: string;
        if (at >= 0) digest = cand.newVersion.slice(at + 1);
        else {
          const d = pass.lookups.digest(repoKey, ref, tag, creds, waiter);
          if (!d.done) return { pending: true };
          if (typeof d.value !== 'string') {
            held ??= {
              reason: gates[0]!.reason,
              version: cand.newVersion,
              message: `cannot read the digest of ${tag}: ${d.value!.message}`,
            };
            continue;
          }
          digest = d.value;
        }
        const subject: GateSubject = {
          ref,
          tag,
          digest,
          current: { tag: ref.tag, digest: ref.digest },
          namespace: target.snapshot.namespace,
          settings,
        };
        let waiting = false;
        let stop: Held | undefined;
        for (const g of gates) {
          const r = this.gateAnswer(g, subject, repoKey, pass, waiter, creds);
          if (r === undefined) waiting = true;
          else if (!r.ok) {
            stop = { ...r.held, version: cand.newVersion };
            break;
          }
        }
        if (stop) {
          held ??= stop;
          continue;
        }
        if (waiting) return { pending: true };
        if (at < 0 && gates.some((g) => g.pinsDigest === true)) {
          return { pending: false, candidate: { ...cand, newImage: imageWithTag(ref, tag, digest) }, held };
        }
        return { pending: false, candidate: cand, held };
      }
      return { pending: false, candidate: undefined, held };
    };
  }

  /**
   * A gate's answer: cached by digest (a pass result forever, a hold with `until` until then,
   * other holds for this pass only), else asked; undefined while asking.
   */
  private gateAnswer(
    gate: CandidateGate,
    subject: GateSubject,
    repoKey: string,
    pass: Pass,
    waiter: string,
    creds: Creds,
  ): GateResult | undefined {
    const key = `${gate.reason}|${repoKey}@${subject.digest}|${gate.key(subject)}`;
    const now = this.deps.now().getTime();
    const cached = this.gateAnswers.get(key);
    if (cached) {
      const r = cached.result;
      const until = r.ok ? undefined : r.held.until;
      if (r.ok || (until !== undefined ? now < Date.parse(until) : cached.pass === pass.id)) return r;
      this.gateAnswers.delete(key);
      pass.lookups.gates.delete(key); // asked again, also within this pass
    }
    const l = pass.lookups.gate(key, gate, subject.ref.registry, waiter, async (signal) =>
      gate.check(subject, {
        registry: this.deps.registry,
        credentials: await creds(),
        signal,
        now: this.deps.now,
      }),
    );
    if (!l.done) return undefined;
    const result = l.value!;
    if (!this.gateAnswers.has(key)) {
      if (this.gateAnswers.size >= MAX_GATE_ANSWERS) {
        const oldest = this.gateAnswers.keys().next().value;
        if (oldest !== undefined) this.gateAnswers.delete(oldest);
      }
      this.gateAnswers.set(key, { result, pass: pass.id });
    }
    return result;
  }

  /**
   * AUTO_UPDATE outside its maintenance window: the candidates are held (reason `schedule`) until
   * the next window start. Undefined when the window is open or there is none.
   */
  private closedWindow(c: WorkloadCheck): { until: string | undefined; message: string } | undefined {
    const { schedule, timezone } = c.settings;
    if (c.settings.mode !== 'AUTO_UPDATE' || schedule === undefined || c.candidates.length === 0)
      return undefined;
    const win: UpdateWindow = { schedule, timezone: timezone ?? 'UTC' };
    const state = windowState(win, this.deps.now());
    if (state.open) return undefined;
    const until = state.nextStart?.toISOString();
    const message =
      `outside the maintenance window (${describeWindow(win)}); ` +
      (until === undefined
        ? 'no window start within a year'
        : `will be applied at the window start ${until}`);
    for (const s of c.containers) {
      if (s.candidate) s.held = { reason: 'schedule', version: s.candidate.newVersion, until, message };
    }
    return { until, message };
  }

  /** Acts on a checked workload: record a revert, announce, or update. */
  private async act(
    c: WorkloadCheck,
    closed?: { until: string | undefined; message: string },
  ): Promise<ReconcileResult> {
    const w = c.snapshot;
    const n = c.watched.length;
    const reverts = detectExternalReverts(c.watched, c.state, n);
    if (reverts.length > 0) {
      this.note(
        c.key,
        reverts.map((r) => ({
          container: r.container,
          currentVersion: r.runningVersion,
          newVersion: r.revertedVersion,
        })),
        'reverted',
      );
      if (!this.deps.config.dryRun) await this.recordRevert(c, reverts);
      return {};
    }
    const action = decideAction({
      // Outside the window AUTO_UPDATE only announces (once per version), as NOTIFICATION does.
      mode: closed ? 'NOTIFICATION' : c.settings.mode,
      candidates: c.candidates,
      state: c.state,
      watchedCount: n,
    });
    if (action.kind === 'none') {
      if (action.reason === 'already notified') this.note(c.key, c.candidates, 'notified', { keep: true });
      for (const cand of c.candidates) {
        this.log.info(
          {
            workload: labelsOf(w),
            container: cand.container,
            from: cand.currentVersion,
            to: cand.newVersion,
            decision: 'held_back',
          },
          `held back: ${action.reason}`,
        );
      }
      return {};
    }
    this.note(c.key, action.candidates, action.kind);
    if (this.deps.config.dryRun) {
      for (const cand of action.candidates) {
        this.log.info(
          {
            workload: labelsOf(w),
            container: cand.container,
            from: cand.currentVersion,
            to: cand.newVersion,
            decision: action.kind === 'notify' ? 'would_notify' : 'would_update',
          },
          'dry run: nothing written, nothing sent',
        );
      }
      return {};
    }
    if (action.kind === 'notify') return this.announce(c, action.candidates);
    const plan = this.planFor(w, c.settings);
    const entry = this.entries.get(c.key);
    if (entry) entry.blocked = plan.kind === 'blocked' ? plan.reason : undefined;
    if (plan.kind === 'git') return this.writeToGit(c, action.candidates, plan.target);
    if (plan.kind === 'blocked') return this.announceBlocked(c, action.candidates, plan.reason);
    return this.update(c, action.candidates);
  }

  /** Records what a reconcile did (or would do) per container, for the plan. */
  private note(
    key: string,
    candidates: readonly { container: string; currentVersion?: string; newVersion: string }[],
    action: PlanAction,
    opts: { keep?: boolean } = {},
  ): void {
    const e = this.entries.get(key);
    if (!e) return;
    for (const c of candidates) {
      if (opts.keep && e.actions.has(c.container)) continue;
      e.actions.set(c.container, {
        action,
        to: c.newVersion,
        ...(c.currentVersion !== undefined ? { from: c.currentVersion } : {}),
      });
    }
  }

  /** The hold a notice for this candidate carries (a maintenance window). */
  private heldFor(c: WorkloadCheck, cand: Candidate): Held | undefined {
    const h = c.containers.find((s) => s.name === cand.container)?.held;
    return h?.reason === 'schedule' && h.version === cand.newVersion ? h : undefined;
  }

  /**
   * Announces versions: claim (so one replica sends), send, then stamp. A crash after the claim
   * leaves `notice-pending`; once the claim is older than its time-out the notice is sent again,
   * so it is delivered at least once and, once stamped, never again.
   */
  private async announce(c: WorkloadCheck, wanted: Candidate[], detail?: string): Promise<ReconcileResult> {
    const log = this.log.child({ workload: labelsOf(c.snapshot) });
    const names = c.watched.map((x) => x.info.name);
    const ttl = this.deps.config.noticeClaimTtlMs ?? DEFAULT_CLAIM_TTL_MS;
    const now = this.deps.now();
    let w = c.snapshot;
    if (c.state.noticePending !== undefined) {
      const age = now.getTime() - Date.parse(c.state.lastNotified ?? '');
      if (age >= 0 && age < ttl) {
        log.info({ decision: 'held_back' }, 'held back: another run is sending this notice');
        return { requeueAfter: ttl - age };
      }
    }
    const claim = noticeClaimPatch(w, wanted, names, now);
    try {
      w = await this.deps.gateway.patchWorkload(w.kind, w.namespace, w.name, claim.ops);
    } catch (err) {
      if (!isPatchConflict(err)) throw err;
      // Another replica claimed first, or a status write moved resourceVersion: look again.
      log.debug('notice claimed elsewhere or the workload changed; looking again');
      return this.refresh(w);
    }
    this.adopt(w);
    const notices: UpdateNotice[] = [];
    for (const cand of wanted) {
      log.info(
        { container: cand.container, from: cand.currentVersion, to: cand.newVersion, decision: 'notified' },
        'newer version available; notifying',
      );
      const approvalUrl = this.deps.approvalUrl?.(w, cand);
      const held = this.heldFor(c, cand);
      notices.push(
        ...noticesFor('available', w, [cand], {
          ...(detail !== undefined ? { detail } : {}),
          ...(await this.notes(c, cand)),
          ...(approvalUrl ? { approvalUrl } : {}),
          ...(held ? { held } : {}),
        }),
      );
    }
    if (nobodyTookIt(await this.deps.notify(notices))) {
      // Nobody took it: keep the claim; it is taken over and sent again once it times out.
      log.warn('no channel took the notice; sending it again later');
      return { requeueAfter: ttl };
    }
    await recordEvent(
      { gateway: this.deps.gateway, logger: this.log },
      w,
      'Normal',
      'UpdateAvailable',
      `newer image available: ${describe(wanted)}`,
    );
    if (!(await this.patchAdopted(w, noticeDonePatch(w, claim.value, wanted, names)))) {
      log.warn('the notice claim changed while sending; not stamping');
    }
    return {};
  }

  /** Applies candidates; the rollout is judged by the reconciles that follow. */
  private async update(c: WorkloadCheck, candidates: Candidate[]): Promise<ReconcileResult> {
    const log = this.log.child({ workload: labelsOf(c.snapshot) });
    const outcome = await writeUpdate(this.updaterDeps(), {
      snapshot: c.snapshot,
      candidates,
      watched: c.watched,
    });
    if (outcome.result === 'conflict') {
      log.info('image changed since the check; will check again');
      return this.refresh(c.snapshot);
    }
    if (outcome.result === 'failed') {
      await this.deps.notify(noticesFor('failed', c.snapshot, candidates, { detail: outcome.reason }));
      return {};
    }
    for (const cand of candidates) {
      log.info(
        { container: cand.container, from: cand.currentVersion, to: cand.newVersion, decision: 'updated' },
        'image updated; watching the rollout',
      );
    }
    return this.judgeNow(outcome.snapshot);
  }

  /** The patched object carries the rollout record: judge it at once (a CronJob completes now). */
  private judgeNow(patched: WorkloadSnapshot): Promise<ReconcileResult> {
    this.adopt(patched);
    const e = this.entries.get(workloadKey(patched));
    const record = e?.snapshot.annotations[ANNOTATIONS.rollout];
    return e && record !== undefined ? this.reconcileRollout(e, record) : Promise.resolve({});
  }

  /** After a conflict: reads the object again and reconciles once more with it. */
  private async refresh(w: WorkloadSnapshot): Promise<ReconcileResult> {
    const fresh = await this.deps.gateway.getWorkload(w.kind, w.namespace, w.name);
    if (fresh) this.adopt(fresh);
    return { requeueAfter: 0 };
  }

  /** Keeps the snapshot our own write returned, unless the watch already has a newer one. */
  private adopt(w: WorkloadSnapshot): void {
    if (this.entries.has(workloadKey(w))) this.upsertEntry(w);
  }
  /**
   * Patches the workload and adopts the answer. False when a `test` failed or on 409: someone
   * else wrote first, and the watch brings the new state.
   */
  private async patchAdopted(w: WorkloadSnapshot, ops: JsonPatchOp[]): Promise<boolean> {
    try {
      this.adopt(await this.deps.gateway.patchWorkload(w.kind, w.namespace, w.name, ops));
      return true;
    } catch (err) {
      if (!isPatchConflict(err)) throw err;
      return false;
    }
  }

  private updaterDeps() {
    return {
      gateway: this.deps.gateway,
      metrics: this.deps.metrics,
      logger: this.log,
      now: this.deps.now,
      rolloutTimeoutMs: this.deps.config.rolloutTimeoutMs,
    };
  }

  /** A recorded rollout: complete -> clear and count; failed or late -> roll back; else look later. */
  private async reconcileRollout(e: Entry, value: string): Promise<ReconcileResult> {
    const w = e.snapshot;
    const labels = labelsOf(w);
    const log = this.log.child({ workload: labels });
    const parsed = parsePendingRollout(value);
    if (!parsed.ok) {
      log.warn({ reason: parsed.reason }, 'unreadable image-watcher/rollout annotation; dropping it');
      await this.clearRecord(w);
      return {};
    }
    const candidates: Candidate[] = parsed.rollout.changes.map((c) => ({ ...c }));
    const verdict = judgeRollout(
      w,
      parsed.rollout,
      this.deps.now().getTime(),
      this.deps.config.rolloutPollMs ?? 5000,
    );
    switch (verdict.kind) {
      case 'wait':
        // Right after our own update the plan says `update`; a rollout found running says `rollout`.
        this.note(workloadKey(w), candidates, 'rollout', { keep: true });
        log.debug({ reason: verdict.reason }, 'rollout in progress');
        return { requeueAfter: verdict.requeueAfterMs };
      case 'superseded':
        log.info(
          { decision: 'superseded' },
          'the images changed since the update; its rollout is no longer ours',
        );
        await this.clearRecord(w);
        return {};
      case 'complete': {
        await this.clearRecord(w);
        this.deps.metrics.observeUpdate(labels, 'success');
        for (const cand of candidates) {
          log.info(
            {
              container: cand.container,
              from: cand.currentVersion,
              to: cand.newVersion,
              decision: 'rollout_complete',
            },
            'rollout complete',
          );
        }
        const notices = await Promise.all(
          noticesFor('updated', w, candidates).map(async (x, i) => ({
            ...x,
            ...(e.git ? { detail: `written to Git: ${gitLink(e.git)}` } : {}),
            ...(e.settings
              ? await this.notes({ key: workloadKey(w), snapshot: w, settings: e.settings }, candidates[i]!)
              : {}),
          })),
        );
        await this.deps.notify(notices);
        return {};
      }
      case 'rollback': {
        const watched = (e.settings ? watchedContainers(w.containers, e.settings) : w.containers).map(
          (c) => c.name,
        );
        const plan = e.settings ? this.planFor(w, e.settings) : { kind: 'live' as const };
        // Synced from Git: a live rollback would be undone; the revert is a commit.
        if (plan.kind === 'git') return this.revertInGit(e, plan.target, candidates, watched, verdict.reason);
        try {
          this.adopt(await rollBack({ gateway: this.deps.gateway }, w, candidates, watched));
        } catch (err) {
          if (isPatchConflict(err)) return this.refresh(w); // a newer snapshot decides
          throw err;
        }
        for (const cand of candidates) {
          log.warn(
            {
              container: cand.container,
              from: cand.newVersion,
              to: cand.currentVersion,
              decision: 'rolled_back',
              reason: verdict.reason,
            },
            'rollout failed; rolled back',
          );
        }
        this.note(workloadKey(w), candidates, 'rolled-back');
        this.deps.metrics.observeUpdate(labels, 'rolled_back');
        await recordEvent(
          { gateway: this.deps.gateway, logger: this.log },
          w,
          'Warning',
          'UpdateRolledBack',
          `rollout of ${describe(candidates)} failed (${verdict.reason}); rolled back, the version will not be tried again`,
        );
        await this.deps.notify(noticesFor('rolled_back', w, candidates, { detail: verdict.reason }));
        return {};
      }
    }
  }

  private async clearRecord(w: WorkloadSnapshot): Promise<void> {
    try {
      const cleared = await clearRollout({ gateway: this.deps.gateway }, w);
      if (cleared) this.adopt(cleared);
    } catch (err) {
      if (!isPatchConflict(err)) throw err;
    }
  }

  private async recordRevert(
    c: WorkloadCheck,
    reverts: ReturnType<typeof detectExternalReverts>,
  ): Promise<void> {
    const w = c.snapshot;
    if (
      !(await this.patchAdopted(
        w,
        revertPatch(
          w,
          reverts,
          c.watched.map((x) => x.info.name),
        ),
      ))
    )
      return;
    const text = reverts.map((r) => `${r.container}: ${r.revertedVersion} -> ${r.runningVersion}`).join(', ');
    for (const r of reverts) {
      this.log.warn(
        {
          workload: labelsOf(w),
          container: r.container,
          from: r.revertedVersion,
          to: r.runningVersion,
          decision: 'reverted_externally',
        },
        'image reverted outside image-watcher; not updating again',
      );
    }
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

  /** Stores the check for the API and the metrics. */
  private record(c: WorkloadCheck): void {
    const e = this.entries.get(c.key);
    if (!e) return; // deleted while being checked
    e.lastCheck = this.deps.now();
    e.lastError = c.error ? `${c.error.code}: ${c.error.message}` : undefined;
    // What this run did stays in the plan while it still holds: the re-check that follows our own
    // write (notice stamped, image updated) must not turn `notify` into `notified` or `update` into `none`.
    const kept = new Map<string, { action: PlanAction; from?: string; to?: string }>();
    for (const s of c.containers) {
      const a = e.actions.get(s.name);
      if (a && (a.to === s.candidate?.newVersion || (a.action === 'update' && a.to === s.current)))
        kept.set(s.name, a);
    }
    e.actions = kept;
    e.failed = false;
    if (c.error) this.deps.metrics.observeCheckError(c.error.code);
    e.containers = c.containers.map((s) => ({
      name: s.name,
      image: s.image,
      currentVersion: s.current,
      latestVersion: s.latest,
      updateAvailable: s.candidate !== undefined,
      ...(s.held ? { held: publicHeld(s.held) } : {}),
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
    for (const s of c.containers) {
      if (s.latest === undefined && s.held === undefined) continue; // unknown: keep the last known
      this.deps.metrics.setHeld(labels, s.name, s.held?.reason);
      const was = e.held.get(s.name);
      if (
        s.held &&
        (was?.reason !== s.held.reason || was.version !== s.held.version || was.until !== s.held.until)
      ) {
        this.log.info(
          {
            workload: labels,
            container: s.name,
            version: s.held.version,
            reason: s.held.reason,
            until: s.held.until,
            decision: 'held',
          },
          `update held (${s.held.reason}): ${s.held.message}`,
        );
      }
      if (s.held) e.held.set(s.name, s.held);
      else e.held.delete(s.name);
    }
    this.deps.metrics.retainContainers(labels, new Set(c.containers.map((s) => s.name)));
  }

  /** Release notes are a bonus: any failure yields nothing rather than failing the check. */
  private async notes(
    c: Pick<WorkloadCheck, 'key' | 'snapshot' | 'settings'>,
    cand: Candidate,
  ): Promise<Pick<UpdateNotice, 'releaseNotes'>> {
    const fetchNotes = this.deps.releaseNotes;
    if (!fetchNotes || cand.change === 'digest') return {};
    // Workloads running the same image share its notes: fetched once per pass, not per workload.
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

  /** Release notes last announced for this workload and version (never fetched here), or undefined. */
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

  // ---- Git write-back --------------------------------------------------------------------------

  /** Where this workload's updates go (see gitops/state.ts writePlan). */
  private planFor(w: WorkloadSnapshot, settings: WatchSettings): WritePlan {
    const g = this.deps.gitops;
    const plan = writePlan(w, settings, g?.defaults ?? { repo: undefined, secret: undefined });
    if (plan.kind === 'git' && !g) {
      return {
        kind: 'blocked',
        reason: 'image-watcher/write-back is git but this watcher has no Git write-back',
      };
    }
    return plan;
  }

  /** Announced, once per version, with the reason it is not applied. */
  private async announceBlocked(
    c: WorkloadCheck,
    candidates: Candidate[],
    reason: string,
  ): Promise<ReconcileResult> {
    const n = c.watched.length;
    const fresh = candidates.filter(
      (x) => versionFor(c.state.lastNotifiedVersion, x.container, n) !== x.newVersion,
    );
    for (const cand of candidates) {
      this.log.warn(
        {
          workload: labelsOf(c.snapshot),
          container: cand.container,
          from: cand.currentVersion,
          to: cand.newVersion,
          decision: 'held_back',
          reason,
        },
        `not applied: ${reason}`,
      );
    }
    return fresh.length > 0 ? this.announce(c, fresh, `Not applied: ${reason}`) : {};
  }

  private readonly gitInFlight = new Set<string>();
  /** Versions whose Git write failed, by `key|container=version`: tried again in the next pass. */
  private readonly gitFailed = new Map<string, number>();

  /**
   * Writes candidates to Git: claim (git-pending, before the push, so a crash cannot lose or
   * repeat a push), push, record the commit. The live object is left to the GitOps controller;
   * git-pending is looked at until the live images show the new versions.
   */
  private async writeToGit(
    c: WorkloadCheck,
    candidates: Candidate[],
    target: GitTarget,
    manual = false,
  ): Promise<ReconcileResult> {
    const g = this.deps.gitops!;
    let w = c.snapshot;
    const key = workloadKey(w);
    const labels = labelsOf(w);
    const log = this.log.child({ workload: labels });
    const names = c.watched.map((x) => x.info.name);
    const passId = this.pass?.id ?? 0;
    const failKey = (cand: Candidate) => `${key}|${cand.container}=${cand.newVersion}`;
    const todo = manual
      ? candidates
      : notYetPushed(w, candidates, names.length).filter(
          (cand) => this.gitFailed.get(failKey(cand)) !== passId,
        );
    if (todo.length === 0) {
      log.info(
        { decision: 'held_back' },
        'held back: written to Git (waiting for the sync) or failed in this pass',
      );
      return {};
    }
    const now = this.deps.now();
    const pending = pendingFor(target, todo, now, this.deps.config.rolloutTimeoutMs);
    const claim = gitClaimPatch(w, pending);
    try {
      w = await this.deps.gateway.patchWorkload(w.kind, w.namespace, w.name, claim.ops);
    } catch (err) {
      if (!isPatchConflict(err)) throw err;
      return this.refresh(w);
    }
    this.adopt(w);
    const notes = await Promise.all(todo.map((cand) => this.notes(c, cand)));
    this.gitInFlight.add(key);
    let res: WriteBackResult;
    try {
      res = await g.writeBack.submit({
        kind: 'update',
        workload: { kind: w.kind, namespace: w.namespace, name: w.name },
        target,
        changes: todo.map((cand, i) => ({
          container: cand.container,
          image: cand.image,
          currentVersion: cand.currentVersion,
          newVersion: cand.newVersion,
          change: cand.change,
          releaseNotesUrl: notes[i]?.releaseNotes?.url,
        })),
      });
    } finally {
      this.gitInFlight.delete(key);
    }
    if (res.result === 'failed') {
      await this.patchAdopted(w, gitDropPatch(claim.value));
      const fresh = this.entries.get(key); // adopting the drop replaced the entry
      if (fresh) fresh.gitError = `${res.code}: ${res.reason}`;
      for (const cand of todo) this.gitFailed.set(failKey(cand), passId);
      this.deps.metrics.observeUpdate(labels, 'failed');
      log.warn({ code: res.code, reason: res.reason, decision: 'failed' }, 'cannot write the update to Git');
      await recordEvent(
        { gateway: this.deps.gateway, logger: this.log },
        w,
        'Warning',
        'GitWriteBackFailed',
        `cannot write ${describe(todo)} to ${safeUrl(target.repo)}: ${res.reason}`,
      );
      await this.deps.notify(
        noticesFor('failed', w, todo, { detail: `Git write-back failed: ${res.reason}` }),
      );
      return {};
    }
    for (const cand of todo) this.gitFailed.delete(failKey(cand));
    const done: GitPending = {
      ...pending,
      branch: res.branch,
      commit: res.commit,
      url: res.url,
      pushed: true,
    };
    const pushed = gitPushedPatch(w, claim.value, done, names);
    if (!(await this.patchAdopted(w, pushed.ops))) {
      // The record changed meanwhile (a newer claim): last-pushed-version is written by that one.
      log.warn('the Git record changed while pushing; not stamping');
    }
    const after = this.entries.get(key);
    if (after) {
      after.git = gitViewOf(after.snapshot) ?? after.git;
      after.gitError = undefined;
    }
    const link = gitLink({ repo: target.repo, branch: res.branch, commit: res.commit, url: res.url });
    for (const cand of todo) {
      log.info(
        {
          container: cand.container,
          from: cand.currentVersion,
          to: cand.newVersion,
          decision: 'pushed',
          commit: res.commit,
          branch: res.branch,
          url: res.url,
        },
        res.result === 'unchanged' ? 'Git already holds the version' : 'written to Git; waiting for the sync',
      );
    }
    await recordEvent(
      { gateway: this.deps.gateway, logger: this.log },
      w,
      'Normal',
      'GitPushed',
      `wrote ${describe(todo)} to Git: ${link}`,
    );
    if (target.push !== 'direct') {
      // Waits for a reviewer: say where.
      await this.deps.notify(
        noticesFor('available', w, todo, { detail: `Proposed in Git for review: ${link}` }).map((x, i) => ({
          ...x,
          ...notes[i],
        })),
      );
    }
    return target.push === 'direct' ? { requeueAfter: Date.parse(done.deadline) - now.getTime() } : {};
  }

  /**
   * A workload with versions in Git: once the live object shows them, the record becomes a
   * rollout record (judged like a live update's); late, it is dropped with a notice. Undefined:
   * a branch or pull request awaiting its merge, the usual check goes on (a newer version
   * updates the request).
   */
  private async reconcileGitPending(
    e: Entry,
    settings: WatchSettings,
    value: string,
  ): Promise<ReconcileResult | undefined> {
    const w = e.snapshot;
    const key = workloadKey(w);
    const log = this.log.child({ workload: labelsOf(w) });
    const drop = async () => {
      await this.patchAdopted(w, gitDropPatch(value));
    };
    const parsed = parseGitPending(value);
    if (!parsed.ok) {
      log.warn({ reason: parsed.reason }, 'unreadable image-watcher/git-pending annotation; dropping it');
      await drop();
      return { requeueAfter: 0 };
    }
    const p = parsed.pending;
    if (!p.pushed) {
      if (this.gitInFlight.has(key)) return {};
      // Claimed by a run that stopped before it finished: write again (Git keeps it idempotent).
      log.info('a Git write was left unfinished; writing it again');
      await drop();
      return { requeueAfter: 0 };
    }
    const now = this.deps.now();
    if (synced(w, p.changes)) {
      const watched = watchedContainers(w.containers, settings);
      let patched: WorkloadSnapshot;
      try {
        patched = await this.deps.gateway.patchWorkload(
          w.kind,
          w.namespace,
          w.name,
          gitSyncedPatch(
            w,
            value,
            p.changes,
            watched,
            now,
            new Date(now.getTime() + this.deps.config.rolloutTimeoutMs),
          ),
        );
      } catch (err) {
        if (isPatchConflict(err)) return this.refresh(w);
        throw err;
      }
      for (const cand of p.changes) {
        log.info(
          {
            container: cand.container,
            from: cand.currentVersion,
            to: cand.newVersion,
            decision: 'updated',
            commit: p.commit,
          },
          'the Git change is live; watching the rollout',
        );
      }
      await recordEvent(
        { gateway: this.deps.gateway, logger: this.log },
        patched,
        'Normal',
        'ImageUpdated',
        `image-watcher updated ${describe(p.changes)} through Git (${gitLink(p)})`,
      );
      return this.judgeNow(patched);
    }
    if (p.push !== 'direct') return undefined;
    const left = Date.parse(p.deadline) - now.getTime();
    if (left > 0) return { requeueAfter: left };
    await drop();
    const detail = `written to Git (${gitLink(p)}) but not live within ROLLOUT_TIMEOUT: is the GitOps controller syncing ${safeUrl(p.repo)}? The version will not be written again.`;
    log.warn({ decision: 'failed', commit: p.commit }, detail);
    this.deps.metrics.observeUpdate(labelsOf(w), 'failed');
    const entry = this.entries.get(key);
    if (entry) entry.gitError = `E_GIT_NOT_SYNCED: ${detail}`;
    await this.deps.notify(noticesFor('failed', w, p.changes, { detail }));
    return {};
  }

  /** A failed rollout of a Git update: a revert commit, the failed versions recorded, no live patch. */
  private async revertInGit(
    e: Entry,
    target: GitTarget,
    candidates: Candidate[],
    watched: string[],
    reason: string,
  ): Promise<ReconcileResult> {
    const w = e.snapshot;
    const labels = labelsOf(w);
    const res = await this.deps.gitops!.writeBack.submit({
      kind: 'revert',
      workload: { kind: w.kind, namespace: w.namespace, name: w.name },
      // Reverts land on the branch the GitOps controller syncs, never on a review branch.
      target: { ...target, push: 'direct' },
      reason,
      changes: candidates.map((c) => ({
        container: c.container,
        image: c.newImage,
        currentVersion: c.newVersion,
        newVersion: c.currentVersion,
        change: c.change,
      })),
    });
    if (res.result === 'failed') {
      // The record stays: the next reconcile (with backoff) tries the revert again.
      throw new ImageWatcherError(
        res.code,
        `rollout failed (${reason}); cannot write the revert to Git: ${res.reason}`,
      );
    }
    if (!(await this.patchAdopted(w, gitRevertedPatch(w, candidates, watched)))) return this.refresh(w);
    const link = gitLink({ repo: target.repo, branch: res.branch, commit: res.commit, url: res.url });
    e.git = { repo: target.repo, branch: res.branch, commit: res.commit, url: res.url, pending: false };
    for (const cand of candidates) {
      this.log.warn(
        {
          workload: labels,
          container: cand.container,
          from: cand.newVersion,
          to: cand.currentVersion,
          decision: 'rolled_back',
          reason,
          commit: res.commit,
        },
        'rollout failed; reverted in Git',
      );
    }
    this.deps.metrics.observeUpdate(labels, 'rolled_back');
    await recordEvent(
      { gateway: this.deps.gateway, logger: this.log },
      w,
      'Warning',
      'UpdateRolledBack',
      `rollout of ${describe(candidates)} failed (${reason}); reverted in Git (${link}), the version will not be written again`,
    );
    await this.deps.notify(
      noticesFor('rolled_back', w, candidates, { detail: `${reason}; reverted in Git: ${link}` }),
    );
    return {};
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
      lastError: e.lastError ?? e.gitError ?? e.settingsError,
      ...(e.settings?.writeBack === 'git' || e.git || e.blocked
        ? {
            writeBack: {
              mode: e.settings?.writeBack ?? 'live',
              ...(e.blocked ? { blocked: e.blocked } : {}),
              ...(e.git ? { git: e.git } : {}),
            },
          }
        : {}),
    }));
  }

  /**
   * One row per watched container of every workload: what the last reconcile did or, in a dry
   * run, would do (`image-watcher run --once`).
   */
  plan(): PlanRow[] {
    const rows: PlanRow[] = [];
    const keys = [...this.entries.keys()].sort();
    const views = new Map(this.workloads().map((v) => [workloadKey(v), v.containers]));
    for (const key of keys) {
      const e = this.entries.get(key)!;
      const w = e.snapshot;
      const base = { namespace: w.namespace, kind: w.kind, name: w.name };
      if (!e.settings || e.settings.mode === 'DISABLED') {
        const shown = e.settings ? watchedContainers(w.containers, e.settings) : w.containers;
        for (const c of shown) {
          rows.push({
            ...base,
            container: c.name,
            image: c.image,
            current: safeRunning(c.image),
            candidate: undefined,
            action: e.settings ? 'disabled' : 'error',
            error: e.settings ? undefined : e.settingsError,
          });
        }
        continue;
      }
      for (const c of views.get(key) ?? []) {
        const done = e.actions.get(c.name);
        const failed =
          e.lastError !== undefined &&
          (e.failed === true || (done === undefined && c.latestVersion === undefined));
        rows.push({
          ...base,
          container: c.name,
          image: c.image,
          // An update of this run: shown from the version it replaced.
          current: done?.from ?? c.currentVersion,
          candidate: done?.to ?? (c.updateAvailable ? c.latestVersion : undefined),
          action: failed ? 'error' : (done?.action ?? 'none'),
          error: failed ? e.lastError : undefined,
          ...(c.held ? { held: c.held } : {}),
        });
      }
    }
    return rows;
  }

  snapshot(kind: WorkloadKind, namespace: string, name: string): WorkloadSnapshot | undefined {
    return this.entries.get(workloadKey({ kind, namespace, name }))?.snapshot;
  }

  /**
   * Updates now, whatever the mode except DISABLED, to the newest allowed version or to
   * `version` (which must exist and not be lower than what runs; include/exclude and
   * last-failed-version do not apply to an explicit request). Queued as the workload's intent and
   * answered once the image is written; the rollout is judged by the reconciles that follow.
   */
  async manualUpdate(req: ManualUpdateRequest): Promise<ManualUpdateResult> {
    const key = workloadKey(req);
    if (!this.entries.has(key)) {
      // Not (yet) in the watch cache: ask the API, so a fresh workload can be updated at once.
      const w = await this.deps.gateway.getWorkload(req.kind, req.namespace, req.name);
      if (!w)
        throw new ManualUpdateError('E_NOT_FOUND', `${req.kind} ${req.namespace}/${req.name} does not exist`);
      // Another installation's workload (WATCHER_SCOPE...) is not ours to update, even on request.
      const admission = this.deps.watch.admits?.(w) ?? { ok: true };
      if (!admission.ok)
        throw new ManualUpdateError(
          'E_NOT_FOUND',
          `${req.kind} ${req.namespace}/${req.name} is not handled by this watcher: ${admission.reason ?? 'outside its selection'}`,
        );
      this.upsertEntry(w);
    }
    return new Promise<ManualUpdateResult>((resolve, reject) => {
      const list = this.intents.get(key) ?? [];
      list.push({ version: req.version, resolve, reject });
      this.intents.set(key, list);
      this.queue.add(key);
    });
  }

  private async reconcileIntent(
    e: Entry,
    parsedSettings: WatchSettings,
    intents: Intent[],
  ): Promise<ReconcileResult> {
    // One manual update per reconcile: the first; the others see its result (a rollout in progress).
    const [first, ...rest] = intents;
    if (rest.length > 0) this.intents.set(workloadKey(e.snapshot), rest);
    const intent = first!;
    try {
      return await this.applyIntent(e, parsedSettings, intent);
    } catch (err) {
      intent.reject(err);
      if (err instanceof ManualUpdateError) return rest.length > 0 ? { requeueAfter: 0 } : {};
      throw err;
    }
  }

  private async applyIntent(
    e: Entry,
    parsedSettings: WatchSettings,
    intent: Intent,
  ): Promise<ReconcileResult> {
    const w = e.snapshot;
    const key = workloadKey(w);
    // Fresh registry answers for a manual request, not those of the pass.
    this.deps.registry.newCycle();
    const settings: WatchSettings =
      intent.version === undefined
        ? parsedSettings
        : { ...parsedSettings, include: undefined, exclude: undefined };
    const p = prepare({ key, snapshot: w, settings });
    const resolver = new CredentialResolver(this.checkerDeps());
    const results = new Map<string, RepoResult>();
    for (const r of repositoriesOf(p)) {
      const creds = await resolver.forWorkload(w, r.ref.registry);
      const opts = withSignal(creds, this.abort.signal);
      try {
        const tags = await this.deps.registry.listTags(r.ref, opts);
        const digests = new Map<string, string | { code: string; message: string }>();
        for (const tag of r.digestTags) {
          digests.set(
            tag,
            await this.deps.registry.getDigest(r.ref, tag, opts).catch((x: unknown) => toError(x)),
          );
        }
        results.set(r.repoKey, { ok: true, tags, digests });
      } catch (err) {
        results.set(r.repoKey, { ok: false, error: toError(err) });
      }
    }
    const check = await this.manualCheck(p, results, key);
    if (check.error && check.candidates.length === 0 && intent.version === undefined) {
      throw new ManualUpdateError('E_UPDATE_FAILED', `cannot ask the registry: ${check.error.message}`);
    }
    const candidates =
      intent.version === undefined
        ? check.candidates
        : await this.gatedExplicit(check, await this.explicitCandidates(check, intent.version), key);
    if (candidates.length === 0) {
      const held = check.containers.find((s) => s.held && s.held.reason !== 'min-age')?.held;
      if (held)
        throw new ManualUpdateError(
          'E_HELD',
          `${held.version ?? 'the newer version'} is held (${held.reason}): ${held.message}`,
        );
      throw new ManualUpdateError('E_NO_UPDATE', 'already at the newest allowed version');
    }
    const changes = candidates.map((c) => ({
      container: c.container,
      from: c.currentVersion,
      to: c.newVersion,
    }));
    const plan = this.planFor(w, parsedSettings);
    if (plan.kind === 'blocked') throw new ManualUpdateError('E_CONFLICT', plan.reason);
    if (plan.kind === 'git') {
      const r = await this.writeToGit(check, candidates, plan.target, true);
      const failed = this.entries.get(key)?.lastError;
      if (r.requeueAfter === 0)
        throw new ManualUpdateError('E_CONFLICT', 'the workload changed while updating; retry');
      if (this.entries.get(key)?.git?.pending !== true) {
        throw new ManualUpdateError('E_UPDATE_FAILED', failed ?? 'the Git write-back failed');
      }
      intent.resolve({ status: 'updating', changes });
      return r;
    }
    const outcome = await writeUpdate(this.updaterDeps(), {
      snapshot: w,
      candidates,
      watched: check.watched,
    });
    if (outcome.result === 'conflict')
      throw new ManualUpdateError('E_CONFLICT', 'the workload changed while updating; retry');
    if (outcome.result === 'failed') {
      await this.deps.notify(noticesFor('failed', w, candidates, { detail: outcome.reason }));
      throw new ManualUpdateError('E_UPDATE_FAILED', outcome.reason);
    }
    for (const cand of candidates) {
      this.log.info(
        {
          workload: labelsOf(w),
          container: cand.container,
          from: cand.currentVersion,
          to: cand.newVersion,
          decision: 'updated',
          why: 'manual request',
        },
        'image updated on request; watching the rollout',
      );
    }
    intent.resolve({ status: 'updating', changes });
    return this.judgeNow(outcome.snapshot);
  }

  /** A manual request's check: the gates that a person cannot override, awaited here. */
  private async manualCheck(
    p: ReturnType<typeof prepare>,
    results: ReadonlyMap<string, RepoResult>,
    key: string,
  ): Promise<WorkloadCheck> {
    const pass = this.currentPass();
    for (;;) {
      const check = evaluate(p, results, {
        digestBaselines: this.digestBaselines,
        choose: this.chooser(pass, key, true),
      });
      if (!check.pending) return check;
      await Promise.allSettled(this.waitingLookups(pass, key));
    }
  }

  /** An explicit version passes the same gates; a hold is refused with its reason. */
  private async gatedExplicit(
    check: WorkloadCheck,
    candidates: Candidate[],
    key: string,
  ): Promise<Candidate[]> {
    const pass = this.currentPass();
    const choose = this.chooser(pass, key, true);
    const target = { key, snapshot: check.snapshot, settings: check.settings };
    const out: Candidate[] = [];
    for (const cand of candidates) {
      const container = check.watched.find((x) => x.info.name === cand.container)!;
      for (;;) {
        const choice = choose({ target, container, candidates: [cand] });
        if (choice.pending) {
          await Promise.allSettled(this.waitingLookups(pass, key));
          continue;
        }
        if (!choice.candidate) {
          const h = choice.held;
          throw new ManualUpdateError(
            'E_HELD',
            `${cand.newVersion} is held for container ${cand.container} (${h?.reason ?? 'policy'}): ${h?.message ?? ''}`,
          );
        }
        out.push(choice.candidate);
        break;
      }
    }
    return out;
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
      const constraint = check.settings.constraint;
      if (constraint && !satisfiesConstraint(wanted, constraint)) {
        throw new ManualUpdateError(
          'E_HELD',
          `${version} is outside the constraint ${constraint.source} of container ${info.name} (image-watcher/constraint)`,
        );
      }
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

/** The Git record of a snapshot, for the API. */
function gitViewOf(w: WorkloadSnapshot): GitWriteView | undefined {
  const v = w.annotations[ANNOTATIONS.gitPending];
  if (v === undefined) return undefined;
  const p = parseGitPending(v);
  if (!p.ok) return undefined;
  const { repo, branch, commit, url } = p.pending;
  return { repo: safeUrl(repo), branch, commit, url, pending: true };
}

/** The link a person follows: the commit or pull request page, else repository, branch and commit. */
function gitLink(g: {
  repo: string;
  branch?: string | undefined;
  commit?: string | undefined;
  url?: string | undefined;
}): string {
  if (g.url) return g.url;
  return `${safeUrl(g.repo)}${g.branch ? ` ${g.branch}` : ''}${g.commit ? ` ${g.commit.slice(0, 12)}` : ''}`;
}

/** What the API shows of a hold. */
function publicHeld(h: Held): NonNullable<ContainerView['held']> {
  return {
    reason: h.reason,
    ...(h.version !== undefined ? { version: h.version } : {}),
    ...(h.until !== undefined ? { until: h.until } : {}),
    message: h.message,
  };
}

/** A hold that ends at a known time (a window start, a release coming of age) is looked at again then. */
function withHeldRequeue(r: ReconcileResult, c: WorkloadCheck, now: Date): ReconcileResult {
  let at: number | undefined;
  for (const s of c.containers) {
    const until = s.held?.until === undefined ? NaN : Date.parse(s.held.until);
    if (Number.isFinite(until) && (at === undefined || until < at)) at = until;
  }
  if (at === undefined) return r;
  // At least a second: a clock a little behind the registry's must not spin the queue.
  const ms = Math.max(1000, at - now.getTime());
  return r.requeueAfter === undefined || ms < r.requeueAfter ? { ...r, requeueAfter: ms } : r;
}

/** A dispatcher report in which every channel failed and none delivered. */
function nobodyTookIt(report: unknown): boolean {
  if (!Array.isArray(report) || report.length === 0) return false;
  return (report as NotifyReport).every((r) => r.delivered === 0 && r.failed > 0);
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
