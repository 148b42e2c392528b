// What a push event does: never trusted, only a hint to look now. An event for a watched
// repository schedules one fresh tag list of that repository (coalesced: the events of a burst
// share one request, and one starts at most every `minIntervalMs` per repository); the event's
// tag (and digest) must be in the registry's answer, then the workloads using that repository are
// reconciled with the fresh list. Replays, out-of-order and unknown repositories change nothing.
import type { Logger } from 'pino';
import type { ImageReference } from '../../shared/image-ref.ts';
import type { WorkloadSnapshot } from '../kube/types.ts';
import type { Timers } from '../reconcile/queue.ts';
import type { RegistryClient, RegistryCredentials } from '../registry/types.ts';
import type { PushEvent, Source } from './sources.ts';

/** Results counted in image_watcher_registry_events_total{result}. */
export type EventResult =
  | 'accepted' // verified against the registry; the workloads were reconciled
  | 'ignored' // not a tag push (pull, delete, push by digest)
  | 'duplicate' // seen already (same repository, tag and digest or time)
  | 'stale' // older than an event already taken for the tag, or the tag has moved on since
  | 'unknown' // no watched workload uses the repository
  | 'unverified' // the registry does not list the tag
  | 'failed' // the registry could not be asked; the next interval looks anyway
  | 'unauthorized'
  | 'invalid'
  | 'rate_limited'
  | 'not_leader';

/** What the trigger needs from the controller. */
export interface PushTargets {
  /** Workloads whose watched containers use the canonical repository. */
  workloadsUsing(repository: string): readonly WorkloadSnapshot[];
  /** Hands the fresh tag list to the reconciles and queues those workloads; how many were queued. */
  applyTags(repository: string, tags: readonly string[]): number;
}

export interface PushTriggerDeps {
  targets: PushTargets;
  registry: Pick<RegistryClient, 'listTags' | 'getDigest'>;
  /** Pull credentials of a workload for a registry (as its reconcile would use). */
  credentials: (w: WorkloadSnapshot, registry: string) => Promise<RegistryCredentials | undefined>;
  timers: Timers;
  observe: (source: Source, result: EventResult) => void;
  logger: Logger;
  /** At most one tag list per repository per this many ms. Default 1000. */
  minIntervalMs?: number;
  /** How long an event is remembered for duplicates. Default 1 h. */
  rememberMs?: number;
  /** Events remembered at most (the oldest go first). Default 10 000. */
  maxRemembered?: number;
}

interface Pending {
  source: Source;
  event: PushEvent;
  /** Refreshes this event has been through without being confirmed. */
  tries: number;
}

/**
 * The distribution registry sends its push event before it links the tag (the tag may be listed
 * but not readable yet): an unconfirmed event is looked at again with the next list, this often.
 */
const CONFIRM_TRIES = 3;

interface RepoState {
  ref: ImageReference;
  lastStart: number;
  running: Promise<void> | undefined;
  timer: unknown;
  /** Settles the idle() slot of a scheduled refresh. */
  release: (() => void) | undefined;
  next: Pending[];
}

export class PushTrigger {
  readonly #deps: PushTriggerDeps;
  readonly #minInterval: number;
  readonly #rememberMs: number;
  readonly #maxRemembered: number;
  /** Dedupe key -> when it was seen (insertion order is age order). */
  readonly #seen = new Map<string, number>();
  /** `repository:tag` -> the newest push time taken for it. */
  readonly #newest = new Map<string, number>();
  readonly #repos = new Map<string, RepoState>();
  readonly #work = new Set<Promise<void>>();
  /** Tag lists asked (tests and the bench read it). */
  tagLists = 0;

  constructor(deps: PushTriggerDeps) {
    this.#deps = deps;
    this.#minInterval = deps.minIntervalMs ?? 1000;
    this.#rememberMs = deps.rememberMs ?? 3_600_000;
    this.#maxRemembered = deps.maxRemembered ?? 10_000;
  }

  /**
   * Takes the events of one request: each is counted (now, or once verified). Returns how many
   * were taken for verification.
   */
  receive(source: Source, events: readonly PushEvent[], ignored = 0): number {
    for (let i = 0; i < ignored; i++) this.#deps.observe(source, 'ignored');
    let taken = 0;
    for (const e of events) {
      const result = this.#admit(e);
      if (result !== undefined) {
        this.#deps.logger.debug(
          { source, repository: e.repository, tag: e.tag, result },
          'push event not taken',
        );
        this.#deps.observe(source, result);
        continue;
      }
      taken++;
      this.#enqueue(source, e);
    }
    return taken;
  }

  /** Resolves when no refresh is scheduled or running (tests, the bench, a graceful stop). */
  async idle(): Promise<void> {
    while (this.#work.size > 0) await Promise.allSettled([...this.#work]);
  }

  stop(): void {
    for (const s of this.#repos.values()) {
      if (s.timer !== undefined) this.#deps.timers.clearTimeout(s.timer);
      s.timer = undefined;
      s.release?.();
      s.next = [];
    }
  }

  /** Undefined: take it; else why not. */
  #admit(e: PushEvent): EventResult | undefined {
    const now = this.#deps.timers.now();
    this.#forgetOld(now);
    if (this.#deps.targets.workloadsUsing(e.repository).length === 0) return 'unknown';
    // The same image reported again (a retry, a replay, a second webhook): without a digest or a
    // time, the same tag within the memory window.
    const key = `${e.repository}:${e.tag}@${e.digest ?? ''}#${e.digest === undefined ? (e.at ?? '') : ''}`;
    if (this.#seen.has(key)) return 'duplicate';
    const tagKey = `${e.repository}:${e.tag}`;
    const newest = this.#newest.get(tagKey);
    if (e.at !== undefined && newest !== undefined && e.at < newest) return 'stale';
    this.#seen.set(key, now);
    if (e.at !== undefined) this.#newest.set(tagKey, Math.max(e.at, newest ?? e.at));
    return undefined;
  }

  #forgetOld(now: number): void {
    for (const [k, at] of this.#seen) {
      if (now - at < this.#rememberMs && this.#seen.size <= this.#maxRemembered) break;
      this.#seen.delete(k);
    }
    if (this.#newest.size > this.#maxRemembered) {
      for (const k of this.#newest.keys()) {
        this.#newest.delete(k);
        if (this.#newest.size <= this.#maxRemembered) break;
      }
    }
  }

  #enqueue(source: Source, event: PushEvent): void {
    let s = this.#repos.get(event.repository);
    if (!s && this.#repos.size >= 1000) this.#sweep();
    if (!s) {
      s = {
        ref: event.ref,
        lastStart: -Infinity,
        running: undefined,
        timer: undefined,
        release: undefined,
        next: [],
      };
      this.#repos.set(event.repository, s);
    }
    s.next.push({ source, event, tries: 0 });
    this.#schedule(event.repository, s);
  }

  /** Forgets idle repositories whose interval has passed (they behave like new ones). */
  #sweep(): void {
    const now = this.#deps.timers.now();
    for (const [repo, s] of this.#repos) {
      if (!s.running && s.timer === undefined && now - s.lastStart >= this.#minInterval)
        this.#repos.delete(repo);
    }
  }

  /** Starts the next refresh once the running one is done and the interval has passed. */
  #schedule(repository: string, s: RepoState): void {
    if (s.running || s.timer !== undefined || s.next.length === 0) return;
    const t = this.#deps.timers;
    const wait = Math.max(0, s.lastStart + this.#minInterval - t.now());
    const slot = new Promise<void>((r) => {
      s.release = () => {
        s.release = undefined;
        this.#work.delete(slot);
        r();
      };
    });
    this.#work.add(slot);
    s.timer = t.setTimeout(() => {
      s.timer = undefined;
      const batch = s.next;
      s.next = [];
      s.lastStart = t.now();
      const run = this.#refresh(repository, s, batch).finally(() => {
        s.running = undefined;
        this.#work.delete(run);
        // Kept (with its lastStart) so the next event still waits out the interval.
        this.#schedule(repository, s);
      });
      s.running = run;
      this.#work.add(run);
      s.release?.();
    }, wait);
  }

  async #refresh(repository: string, s: RepoState, batch: Pending[]): Promise<void> {
    const ref = s.ref;
    const { observe, registry, logger } = this.#deps;
    const users = this.#deps.targets.workloadsUsing(repository);
    if (users.length === 0) {
      for (const p of batch) observe(p.source, 'unknown');
      return;
    }
    let tags: string[];
    let credentials: RegistryCredentials | undefined;
    try {
      credentials = await this.#deps.credentials(users[0]!, ref.registry);
      this.tagLists++;
      tags = await registry.listTags(ref, { credentials, fresh: true });
      // The interval counts from the answer: the client may hold a request back (its own rate
      // limit), so the next one starts a full interval after this one, whatever its start.
      s.lastStart = this.#deps.timers.now();
    } catch (err) {
      s.lastStart = this.#deps.timers.now();
      logger.warn({ err, repository }, 'push event: cannot list the tags; the next interval checks it');
      for (const p of batch) observe(p.source, 'failed');
      return;
    }
    const listed = new Set(tags);
    const digests = new Map<string, Promise<string | undefined>>();
    let accepted = 0;
    // Not confirmed yet: looked at again with the next list (not counted until the last try).
    const again = (p: Pending): boolean => {
      if (p.tries + 1 >= CONFIRM_TRIES) return false;
      s.next.push({ ...p, tries: p.tries + 1 });
      return true;
    };
    for (const p of batch) {
      const e = p.event;
      if (!listed.has(e.tag)) {
        if (again(p)) continue;
        logger.info(
          { repository, tag: e.tag, source: p.source },
          'push event for a tag the registry does not list',
        );
        observe(p.source, 'unverified');
        continue;
      }
      if (e.digest !== undefined) {
        // One HEAD per tag and burst; a tag that points elsewhere now was pushed again since.
        let d = digests.get(e.tag);
        if (!d) {
          d = registry.getDigest(ref, e.tag, { credentials, fresh: true }).catch((err: unknown) => {
            logger.warn({ err, repository, tag: e.tag }, 'push event: cannot read the digest of the tag');
            return undefined;
          });
          digests.set(e.tag, d);
        }
        const now = await d;
        if (now === undefined) {
          if (!again(p)) observe(p.source, 'failed');
          continue;
        }
        if (now !== e.digest) {
          observe(p.source, 'stale');
          continue;
        }
      }
      accepted++;
      observe(p.source, 'accepted');
    }
    if (accepted === 0) return;
    const queued = this.#deps.targets.applyTags(repository, tags);
    logger.info({ repository, events: accepted, workloads: queued }, 'push event: reconciling the workloads');
  }
}
