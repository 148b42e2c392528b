// The registry answers of one pass (tag lists, digests, gate answers), shared by every workload.
import pLimit from 'p-limit';
import type { LimitFunction } from 'p-limit';
import type { ImageReference } from '../../shared/image-ref.ts';
import type { CredentialResolver } from '../check/checker.ts';
import type { RepoResult } from '../check/checker.ts';
import type { CandidateGate, GateResult } from '../check/gates.ts';
import type { RegistryClient, RegistryCredentials } from '../registry/types.ts';
import { toError } from './state.ts';

/**
 * A repository's tag list as the pass keeps it until the next interval: no digest map (each
 * check gathers its own digests; an empty Map per repository cost ~190 B for nothing).
 */
export type TagsAnswer = { ok: true; tags: string[] } | Extract<RepoResult, { ok: false }>;

type Lookup<T> = {
  promise: Promise<T>;
  value: T | undefined;
  done: boolean;
  /**
   * Keys waiting for it and the request's abort: when all are deleted the request is aborted.
   * Both go once the answer is in (the pass keeps its answers until the next interval, and
   * an AbortController and a Set per repository outlive the cycle for nothing).
   */
  ctrl: AbortController | undefined;
  waiters: Set<string> | undefined;
};

/**
 * The registry answers of one pass, shared by every workload: one tag list per repository and one
 * digest per tag. A reconcile never waits for them holding a queue worker: it asks, returns, and
 * its key is queued again when the answer is in.
 */
export class PassLookups {
  readonly tags = new Map<string, Lookup<TagsAnswer>>();
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
          for (const l of map.values()) l.ctrl?.abort(signal.reason);
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
        const waiters = entry.waiters ?? new Set<string>();
        entry.waiters = undefined;
        entry.ctrl = undefined;
        this.onSettled(waiters);
        return v;
      });
      l = entry;
      map.set(key, l);
    }
    if (!l.done) l.waiters?.add(waiter);
    return l;
  }

  tagList(repoKey: string, ref: ImageReference, creds: Creds, waiter: string) {
    return this.lookup(this.tags, repoKey, waiter, ref.registry, (signal) =>
      creds()
        .then((c) => this.registry.listTags(ref, withSignal(c, signal)))
        .then(
          (tags): TagsAnswer => ({ ok: true, tags }),
          (err: unknown): TagsAnswer => ({ ok: false, error: toError(err) }),
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
        if (l.waiters?.delete(key) && l.waiters.size === 0 && !l.done) l.ctrl?.abort();
      }
    }
  }
}

/** Credentials of the first workload that asks (asked only when a request is made). */
export type Creds = () => Promise<RegistryCredentials | undefined>;

/** Registry options: credentials and the signal (ignored by clients that do not take one). */
export function withSignal(
  creds: RegistryCredentials | undefined,
  signal: AbortSignal,
): { credentials?: RegistryCredentials } {
  const opts: { credentials?: RegistryCredentials; signal: AbortSignal } = { signal };
  if (creds) opts.credentials = creds;
  return opts;
}

export interface Pass {
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

/** Registry answers still coming (only those `waiter` waits for, when given). */
export function waitingLookups(p: Pass, waiter?: string): Promise<unknown>[] {
  const out: Promise<unknown>[] = [];
  for (const map of [p.lookups.tags, p.lookups.digests, p.lookups.gates] as Map<string, Lookup<unknown>>[]) {
    for (const l of map.values()) {
      if (!l.done && (waiter === undefined || l.waiters?.has(waiter) === true)) out.push(l.promise);
    }
  }
  return out;
}
