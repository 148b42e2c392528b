import { ImageWatcherError } from '../../shared/errors.ts';
import type { Held } from '../../shared/policy.ts';
import type { VersionChange } from '../../shared/version.ts';
import type { WorkloadKind } from '../kube/types.ts';

export type { VersionChange, WorkloadKind };

export type NoticeEvent = 'available' | 'updated' | 'failed' | 'rolled_back' | 'reverted_externally';
export const NOTICE_EVENTS: readonly NoticeEvent[] = [
  'available',
  'updated',
  'failed',
  'rolled_back',
  'reverted_externally',
];

export interface UpdateNotice {
  event: NoticeEvent;
  workload: { kind: WorkloadKind; namespace: string; name: string };
  container: string;
  image: string;
  currentVersion: string;
  newVersion: string;
  change: VersionChange;
  releaseNotes?: { url?: string; excerpt?: string; summary?: string };
  approvalUrl?: string;
  detail?: string;
  /** The version waits for a policy rule (a maintenance window): why and until when. */
  held?: Held;
}

export interface NotificationObserver {
  observeNotification(e: { channel: string; result: 'success' | 'failed' }): void;
}

export interface SendOptions {
  /** Aborted by the dispatcher when the channel's timeout elapses. */
  signal?: AbortSignal;
}

/**
 * One delivery channel. A batch of one is a single message; a longer batch is a digest.
 * `timeoutMs`/`retries` are optional per-channel overrides of the dispatcher defaults
 * (a compatible extension of the DESIGN.md interface, as is the `opts` argument).
 */
export interface Notifier {
  readonly channel: string;
  readonly timeoutMs?: number;
  readonly retries?: number;
  /** Events this channel wants; undefined means all. */
  readonly events?: readonly NoticeEvent[];
  send(batch: readonly UpdateNotice[], opts?: SendOptions): Promise<void>;
}

/**
 * A delivery attempt failed. `retryable` tells the dispatcher whether another attempt can help;
 * `retryAfterMs` carries a server's Retry-After.
 */
export class NotifyDeliveryError extends ImageWatcherError {
  readonly retryable: boolean;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  constructor(
    message: string,
    opts: { retryable: boolean; status?: number; retryAfterMs?: number; cause?: unknown; code?: string },
  ) {
    super(opts.code ?? 'E_NOTIFY_DELIVERY', message, { cause: opts.cause });
    this.retryable = opts.retryable;
    this.status = opts.status;
    this.retryAfterMs = opts.retryAfterMs;
  }
}
