// What the watcher core offers the HTTP API, the approval page and release notes: types and the
// manual update error, apart from the controller so those modules never import the core.
import { ImageWatcherError } from '../shared/errors.ts';
import type { Mode } from '../shared/annotations.ts';
import type { HeldReason } from '../shared/policy.ts';
import type { WorkloadKind, WorkloadSnapshot } from './kube/types.ts';
import type { UpdateNotice } from './notify/types.ts';

export type ReleaseNotesFn = (req: {
  workload: WorkloadSnapshot;
  releaseUrl: string | undefined;
  image: string;
  newImage: string;
  newVersion: string;
}) => Promise<UpdateNotice['releaseNotes'] | undefined>;

export interface ContainerView {
  name: string;
  image: string;
  currentVersion: string;
  latestVersion: string | undefined;
  updateAvailable: boolean;
  /** A newer version waits for a policy rule: why, which, until when (RFC 3339) when known. */
  held?: { reason: HeldReason; version?: string; until?: string; message: string };
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
  /** Workloads written back to Git, or held back because a GitOps controller owns them. */
  writeBack?: {
    mode: 'live' | 'git';
    /** Why updates are only announced (e.g. synced by Argo CD without a Git target). */
    blocked?: string;
    /** The last Git write: repository, branch, commit and its web or pull-request URL. */
    git?: {
      repo: string;
      branch: string | undefined;
      commit: string | undefined;
      url: string | undefined;
      pending: boolean;
    };
  };
}

export type ManualErrorCode =
  | 'E_NOT_FOUND'
  | 'E_DISABLED'
  | 'E_BAD_VERSION'
  | 'E_NO_UPDATE'
  /** Held by a rule a person cannot override: constraint, platform or signature. */
  | 'E_HELD'
  | 'E_CONFLICT'
  | 'E_UPDATE_FAILED'
  | 'E_BAD_ANNOTATIONS'
  /** The watcher stopped before the update was written: nothing changed; ask again. */
  | 'E_STOPPING';

/** A manual update request that cannot be carried out; the message says why. */
export class ManualUpdateError extends ImageWatcherError {
  declare readonly code: ManualErrorCode;
  constructor(code: ManualErrorCode, message: string) {
    super(code, message);
  }
}

/** "Update this workload now", from the API or an approval; without `version` the newest allowed. */
export interface ManualUpdateRequest {
  kind: WorkloadKind;
  namespace: string;
  name: string;
  version?: string | undefined;
}

export interface ManualUpdateResult {
  status: 'updating' | 'success' | 'rolled_back';
  changes: { container: string; from: string; to: string }[];
}

/**
 * What the last reconcile did about a container (in a dry run: would have done), for the plan of
 * `image-watcher run --once`: `notify` announced, `notified` announced before and still pending,
 * `update` image written and rollout started (not waited for), `rollout` one recorded earlier
 * still in progress, `rolled-back`, `reverted` set back outside image-watcher, `none` nothing
 * to do, `disabled`, `error`.
 */
export type PlanAction =
  'none' | 'notify' | 'notified' | 'update' | 'rollout' | 'rolled-back' | 'reverted' | 'disabled' | 'error';

export interface PlanRow {
  namespace: string;
  kind: WorkloadKind;
  name: string;
  container: string;
  image: string;
  current: string;
  /** The version the action is about (newest allowed, announced, applied...). */
  candidate: string | undefined;
  action: PlanAction;
  error: string | undefined;
  /** A newer version that waits (schedule, min-age, constraint, platform...), as on the API. */
  held?: ContainerView['held'];
}
