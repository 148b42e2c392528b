// The controller's configuration, dependencies and per-workload entry (types and small helpers).
import type { Logger } from 'pino';
import type { Overrides, PolicyDefaults, WatchSettings } from '../../shared/annotations.ts';
import { ImageWatcherError } from '../../shared/errors.ts';
import type { Held } from '../../shared/policy.ts';
import type { StringPool } from '../../shared/string-pool.ts';
import type { ContainerView, ManualUpdateResult, PlanAction, ReleaseNotesFn } from '../api.ts';
import type { CheckerDeps } from '../check/checker.ts';
import type { Candidate } from '../check/decide.ts';
import type { CandidateGate } from '../check/gates.ts';
import type { GitDefaults } from '../gitops/state.ts';
import type { WriteBackRequest, WriteBackResult } from '../gitops/writeback.ts';
import type { KubeGateway, LeaderElector, WorkloadSnapshot, WorkloadWatch } from '../kube/types.ts';
import type { WatcherMetrics } from '../metrics.ts';
import type { UpdateNotice } from '../notify/types.ts';
import type { Timers } from '../reconcile/queue.ts';
import type { RegistryClient } from '../registry/types.ts';

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
  /** One copy of repeated values and workload keys, shared with the watch and the metrics; default: its own. */
  strings?: StringPool;
  /** The Git write-back (write-back: git) and its cluster-wide defaults; absent: live patches only. */
  gitops?: {
    /** probe: looks for git once (a WARN when missing); called when a Git workload is seen. */
    writeBack: { submit(req: WriteBackRequest): Promise<WriteBackResult>; probe?(): Promise<unknown> };
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

export interface Entry {
  snapshot: WorkloadSnapshot;
  settings: WatchSettings | undefined;
  settingsError: string | undefined;
  containers: ContainerView[] | undefined;
  /** Epoch ms of the last check (a number: a Date per workload costs ~100 B). */
  lastCheck: number | undefined;
  lastError: string | undefined;
  /** What the last reconcile did per container (the run --once plan); undefined while nothing. */
  actions?: Map<string, { action: PlanAction; from?: string; to?: string }> | undefined;
  /** The last reconcile threw (lastError says why): every container's plan row is an error. */
  failed?: boolean;
  git?: GitWriteView | undefined;
  /** Why updates of this workload are only announced (a GitOps owner without a Git target). */
  blocked?: string | undefined;
  /** The last Git write-back failure, shown until a write succeeds (checks do not clear it). */
  gitError?: string | undefined;
  /**
   * The hold last logged per container (a hold is logged when it starts or changes); undefined
   * while none (an empty Map per workload costs ~180 B).
   */
  held?: Map<string, Held> | undefined;
  /** A notice claim and when this watcher first saw it (a claim without a time ages from then). */
  claimSeen?: { value: string; at: number } | undefined;
}

/** A workload's settings, or why its annotations are invalid; shared by workloads with equal inputs. */
export interface ParsedSettings {
  readonly settings: WatchSettings | undefined;
  readonly error: string | undefined;
}

/** A manual update or approval waiting for its workload's next reconcile. */
export interface Intent {
  version: string | undefined;
  resolve(r: ManualUpdateResult): void;
  reject(err: unknown): void;
}

/** The watch's key of a workload (one rule, one flat string). */
export { workloadKey } from '../kube/workloads.ts';

export function toError(err: unknown): { code: string; message: string } {
  if (err instanceof ImageWatcherError) return { code: err.code, message: err.message };
  return { code: 'E_INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

/**
 * Versions whose Git write failed, by `key|container=version`: not written again in the pass
 * that failed, tried again in the next. Only the newest pass's failures are kept (older ones
 * have no effect), so versions that are never pushed again cannot pile up.
 */
export class GitFailures {
  private pass = Number.NEGATIVE_INFINITY;
  private readonly keys = new Set<string>();

  record(pass: number, failKey: string): void {
    // A write of an older pass that ends late: that version is tried again in this pass anyway.
    if (pass < this.pass) return;
    if (pass > this.pass) {
      this.keys.clear();
      this.pass = pass;
    }
    this.keys.add(failKey);
  }

  failedIn(pass: number, failKey: string): boolean {
    return pass === this.pass && this.keys.has(failKey);
  }

  delete(failKey: string): void {
    this.keys.delete(failKey);
  }

  /** A deleted workload's entries. */
  forget(key: string): void {
    for (const k of this.keys) if (k.startsWith(`${key}|`)) this.keys.delete(k);
  }

  get size(): number {
    return this.keys.size;
  }
}
