// The state the controller's actions share, passed to each as one object (no module state).
import type { Logger } from 'pino';
import type { StringPool } from '../../shared/string-pool.ts';
import type { DigestSighting } from '../check/checker.ts';
import type { GateResult } from '../check/gates.ts';
import type { UpdateNotice } from '../notify/types.ts';
import type { Timers, WorkQueue } from '../reconcile/queue.ts';
import type { Pass } from './lookups.ts';
import type { ControllerDeps, Entry, GitFailures, Intent, ParsedSettings } from './state.ts';
import type { SettingsMemo } from '../../shared/settings-memo.ts';

export interface Ctx {
  readonly deps: ControllerDeps;
  readonly log: Logger;
  readonly timers: Timers;
  readonly entries: Map<string, Entry>;
  readonly queue: WorkQueue;
  readonly intents: Map<string, Intent[]>;
  readonly digestBaselines: Map<string, string>;
  /** Canonical repository -> keys of the workloads watching it (push events, watcher/push/). */
  readonly byRepository: Map<string, Set<string>>;
  readonly repositoriesOfKey: Map<string, readonly string[]>;
  /** Gate answers by gate, digest and key; bounded (oldest dropped first). */
  readonly gateAnswers: Map<string, { result: GateResult; pass: number }>;
  readonly digestSightings: Map<string, DigestSighting>;
  /** One copy of the values many workloads repeat (repository names, versions). */
  readonly strings: StringPool;
  /** Parsed settings by their inputs (user annotations, container names); bounded. */
  readonly settingsMemo: SettingsMemo<ParsedSettings>;
  /** Release notes per image and release-url, for one pass. */
  notesMemo: Map<string, Promise<UpdateNotice['releaseNotes'] | undefined>>;
  /** The last release notes announced per `key|container`, for the approval page. */
  readonly lastNotes: Map<string, { version: string; notes: NonNullable<UpdateNotice['releaseNotes']> }>;
  pass: Pass | undefined;
  passSeq: number;
  stopped: boolean;
  readonly abort: AbortController;
  readonly gitInFlight: Set<string>;
  /** Versions whose Git write failed in the newest pass: tried again in the next pass. */
  readonly gitFailed: GitFailures;
  /** Queues again the keys that waited for a registry answer. */
  readonly requeue: (waiters: ReadonlySet<string>) => void;
  isLeader(): boolean;
}
