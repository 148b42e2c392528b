import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { abortableSleep, exponentialBackoff, type Backoff, type Sleep } from './backoff.ts';
import { KubeApiError, httpStatusOf, toKubeError } from './errors.ts';
import { WORKLOAD_KINDS, type WorkloadKind, type WorkloadSnapshot, type WorkloadWatch } from './types.ts';
import { StringPool } from '../../shared/string-pool.ts';
import { withTimeout } from './timeout.ts';
import { snapshotChanged, toSnapshot, workloadKey } from './workloads.ts';

/**
 * Watches the four workload kinds with client-node's list + Watch, keeping only small
 * snapshots. client-node's informer (ListWatch) would keep every full object in its cache
 * and stops for good on errors other than 410, so the loop is ours: paged relists, resume
 * from the last resourceVersion, capped backoff on errors, a watchdog for watches that stay
 * open but silent, and a periodic full relist that catches anything a watch missed.
 */

export interface WorkloadWatchOptions {
  kubeConfig: k8s.KubeConfig;
  logger: Logger;
  /** Namespaces to watch; undefined or empty: all namespaces. */
  namespaces?: readonly string[] | undefined;
  kinds?: readonly WorkloadKind[];
  /** WATCH_SELECTOR: sent as `labelSelector` on every list and watch (the API server filters). */
  labelSelector?: string | undefined;
  /** One backoff per stream. Default 1 s doubling to 30 s. */
  backoff?: () => Backoff;
  sleep?: Sleep;
  now?: () => number;
  /** Restart a watch that delivered nothing (not even a bookmark) for this long. Default 5 min. */
  stallTimeoutMs?: number;
  /** Full relist this often, to repair anything missed. 0 disables. Default 30 min. */
  relistIntervalMs?: number;
  /** Asks the API server to end each watch after this long (it is then resumed). Default 300 s. */
  watchTimeoutSeconds?: number;
  /** Items per list page. Default 500. */
  pageSize?: number;
  /** Keeps repeated values and workload keys once (shared with the gateway, controller, metrics); default: its own. */
  strings?: StringPool;
}

export interface WorkloadWatchStats {
  relists: number;
  watches: number;
  errors: number;
  stalls: number;
  gone: number;
  /** BOOKMARK events received (they keep a quiet watch alive). */
  bookmarks: number;
}

interface ListPage {
  metadata?: { resourceVersion?: string; _continue?: string };
  items: unknown[];
}

type ListFn = (namespace: string | undefined, limit: number, cont: string | undefined) => Promise<ListPage>;

function listFunctions(kc: k8s.KubeConfig, labelSelector: string | undefined): Record<WorkloadKind, ListFn> {
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const batch = kc.makeApiClient(k8s.BatchV1Api);
  const sel = labelSelector === undefined ? {} : { labelSelector };
  return {
    Deployment: (namespace, limit, _continue) =>
      namespace === undefined
        ? apps.listDeploymentForAllNamespaces({ limit, _continue, ...sel })
        : apps.listNamespacedDeployment({ namespace, limit, _continue, ...sel }),
    StatefulSet: (namespace, limit, _continue) =>
      namespace === undefined
        ? apps.listStatefulSetForAllNamespaces({ limit, _continue, ...sel })
        : apps.listNamespacedStatefulSet({ namespace, limit, _continue, ...sel }),
    DaemonSet: (namespace, limit, _continue) =>
      namespace === undefined
        ? apps.listDaemonSetForAllNamespaces({ limit, _continue, ...sel })
        : apps.listNamespacedDaemonSet({ namespace, limit, _continue, ...sel }),
    CronJob: (namespace, limit, _continue) =>
      namespace === undefined
        ? batch.listCronJobForAllNamespaces({ limit, _continue, ...sel })
        : batch.listNamespacedCronJob({ namespace, limit, _continue, ...sel }),
  };
}

const PLURAL: Record<WorkloadKind, string> = {
  Deployment: '/apis/apps/v1/deployments',
  StatefulSet: '/apis/apps/v1/statefulsets',
  DaemonSet: '/apis/apps/v1/daemonsets',
  CronJob: '/apis/batch/v1/cronjobs',
};

/** The watch URL path of a kind, cluster-wide or in one namespace. */
export function watchPath(kind: WorkloadKind, namespace: string | undefined): string {
  const all = PLURAL[kind];
  if (namespace === undefined) return all;
  const i = all.lastIndexOf('/');
  return `${all.slice(0, i)}/namespaces/${encodeURIComponent(namespace)}${all.slice(i)}`;
}

type WatchOutcome = 'ended' | 'gone' | 'stalled' | 'relist' | 'aborted';

interface Sink {
  apply(snap: WorkloadSnapshot): void;
  remove(kind: WorkloadKind, namespace: string, name: string): void;
  removeMissing(kind: WorkloadKind, namespace: string | undefined, seen: ReadonlySet<string>): void;
}

/** One list + watch loop for a kind in one namespace (or all). */
class Stream {
  private rv = '';
  private lastRelistAt = 0;
  private resolveSynced!: () => void;
  readonly synced = new Promise<void>((resolve) => (this.resolveSynced = resolve));

  constructor(
    private readonly kind: WorkloadKind,
    private readonly namespace: string | undefined,
    private readonly deps: {
      list: ListFn;
      watch: k8s.Watch;
      sink: Sink;
      log: Logger;
      backoff: Backoff;
      sleep: Sleep;
      now: () => number;
      stats: WorkloadWatchStats;
      stallTimeoutMs: number;
      relistIntervalMs: number;
      watchTimeoutSeconds: number;
      pageSize: number;
      labelSelector: string | undefined;
      strings: StringPool;
    },
  ) {}

  private get label(): string {
    return `${this.kind} in ${this.namespace ?? 'all namespaces'}`;
  }

  async run(signal: AbortSignal): Promise<void> {
    const { backoff, log, sleep, stats } = this.deps;
    /** 410s in a row with no event between them: a server that keeps answering Gone. */
    let goneStreak = 0;
    while (!signal.aborted) {
      try {
        if (this.rv === '') {
          await this.relist(signal);
          if (goneStreak === 0) backoff.reset();
          this.resolveSynced();
          if (signal.aborted) break;
        }
        const started = this.deps.now();
        const { outcome, events } = await this.watchOnce(signal);
        goneStreak = outcome === 'gone' ? (events > 0 ? 1 : goneStreak + 1) : 0;
        if (outcome === 'gone') {
          stats.gone += 1;
          this.rv = '';
          // The first 410 relists at once (history was compacted); one that follows a fresh
          // relist means the server keeps answering Gone: back off like any other error.
          const delay = goneStreak > 1 ? backoff.next() : 0;
          log.info(
            { kind: this.kind, namespace: this.namespace, ...(delay > 0 ? { retryInMs: delay } : {}) },
            'watch resourceVersion expired (410); relisting',
          );
          if (delay > 0) await sleep(delay, signal);
        } else if (outcome === 'stalled') {
          stats.stalls += 1;
          log.warn(
            { kind: this.kind, namespace: this.namespace, silentMs: this.deps.stallTimeoutMs },
            `watch of ${this.label} went silent; restarting it`,
          );
        } else if (outcome === 'relist') {
          this.rv = '';
        } else if (outcome === 'ended') {
          if (events > 0) backoff.reset();
          // A watch the server keeps closing at once, without events, must not spin.
          else if (this.deps.now() - started < 1000) await sleep(backoff.next(), signal);
        }
      } catch (err) {
        if (signal.aborted) break;
        stats.errors += 1;
        const e = toKubeError(err, `watching ${this.label}`);
        const delay = backoff.next();
        log.warn({ kind: this.kind, namespace: this.namespace, code: e.code, retryInMs: delay }, e.message);
        await sleep(delay, signal);
      }
    }
  }

  private async relist(signal: AbortSignal): Promise<void> {
    const seen = new Set<string>();
    let cont: string | undefined;
    let listRv: string | undefined;
    do {
      const page = await withTimeout(
        this.deps.list(this.namespace, this.deps.pageSize, cont),
        // A list that never answers must not stall the loop: it counts as a failure.
        this.deps.stallTimeoutMs,
        `listing ${this.label}`,
      );
      if (signal.aborted) return;
      listRv ??= page.metadata?.resourceVersion ?? '';
      for (const item of page.items) {
        const snap = toSnapshot(this.kind, item, this.deps.strings);
        if (!snap) continue;
        seen.add(workloadKey(snap));
        this.deps.sink.apply(snap);
      }
      cont = page.metadata?._continue || undefined;
    } while (cont !== undefined);
    this.deps.sink.removeMissing(this.kind, this.namespace, seen);
    this.rv = listRv ?? '';
    this.lastRelistAt = this.deps.now();
    this.deps.stats.relists += 1;
  }

  private watchOnce(signal: AbortSignal): Promise<{ outcome: WatchOutcome; events: number }> {
    const { now, stallTimeoutMs, relistIntervalMs } = this.deps;
    this.deps.stats.watches += 1;
    return new Promise((resolve, reject) => {
      let settled = false;
      let controller: AbortController | undefined;
      let gone = false;
      let serverError: unknown;
      let events = 0;
      let lastActivity = now();
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearInterval(dog);
        signal.removeEventListener('abort', onAbort);
        controller?.abort();
        fn();
      };
      const onAbort = () => finish(() => resolve({ outcome: 'aborted', events }));
      signal.addEventListener('abort', onAbort, { once: true });
      const dog = setInterval(
        () => {
          const t = now();
          if (t - lastActivity > stallTimeoutMs) finish(() => resolve({ outcome: 'stalled', events }));
          else if (relistIntervalMs > 0 && t - this.lastRelistAt > relistIntervalMs) {
            finish(() => resolve({ outcome: 'relist', events }));
          }
        },
        Math.max(
          10,
          Math.min(1000, stallTimeoutMs / 4, relistIntervalMs > 0 ? relistIntervalMs / 4 : Infinity),
        ),
      );
      dog.unref();

      const onEvent = (type: string, obj: unknown) => {
        if (settled) return;
        lastActivity = now();
        if (type === 'ERROR') {
          const code = (obj as { code?: unknown } | undefined)?.code;
          if (code === 410) gone = true;
          else serverError = obj;
          return;
        }
        events += 1;
        if (type === 'ADDED' || type === 'MODIFIED') {
          const snap = toSnapshot(this.kind, obj, this.deps.strings);
          if (snap) this.deps.sink.apply(snap);
        } else if (type === 'BOOKMARK') {
          this.deps.stats.bookmarks += 1;
        } else if (type === 'DELETED') {
          const meta = (obj as { metadata?: { namespace?: string; name?: string } } | undefined)?.metadata;
          if (meta?.namespace && meta.name) this.deps.sink.remove(this.kind, meta.namespace, meta.name);
        }
        const rv = (obj as { metadata?: { resourceVersion?: unknown } } | undefined)?.metadata
          ?.resourceVersion;
        if (typeof rv === 'string' && rv !== '') this.rv = rv;
      };
      const onDone = (err: unknown) => {
        if (settled) return;
        if (httpStatusOf(err) === 410) gone = true;
        else if (err) {
          finish(() => reject(toKubeError(err, `watching ${this.label}`)));
          return;
        }
        if (gone) finish(() => resolve({ outcome: 'gone', events }));
        else if (serverError !== undefined) {
          const message = (serverError as { message?: unknown }).message;
          const status = (serverError as { code?: unknown }).code;
          finish(() =>
            reject(
              new KubeApiError(
                'E_KUBE_UNAVAILABLE',
                `watching ${this.label}: the API server sent an error: ${typeof message === 'string' ? message : 'unknown'}`,
                typeof status === 'number' ? status : undefined,
              ),
            ),
          );
        } else finish(() => resolve({ outcome: 'ended', events }));
      };
      this.deps.watch
        .watch(
          watchPath(this.kind, this.namespace),
          {
            resourceVersion: this.rv,
            allowWatchBookmarks: true,
            timeoutSeconds: this.deps.watchTimeoutSeconds,
            // A workload whose labels change out of (into) the selection arrives as DELETED (ADDED).
            ...(this.deps.labelSelector === undefined ? {} : { labelSelector: this.deps.labelSelector }),
          },
          onEvent,
          onDone,
        )
        .then(
          (c: AbortController) => {
            controller = c;
            if (settled) c.abort();
          },
          (err: unknown) => finish(() => reject(toKubeError(err, `watching ${this.label}`))),
        );
    });
  }
}

export class KubeWorkloadWatch implements WorkloadWatch {
  private readonly snapshots = new Map<string, WorkloadSnapshot>();
  private readonly upsertFns: ((w: WorkloadSnapshot, old: WorkloadSnapshot | undefined) => void)[] = [];
  private readonly deleteFns: ((w: WorkloadSnapshot) => void)[] = [];
  private readonly log: Logger;
  private readonly statsData: WorkloadWatchStats = {
    relists: 0,
    watches: 0,
    errors: 0,
    stalls: 0,
    gone: 0,
    bookmarks: 0,
  };
  private abort: AbortController | undefined;
  private running: Promise<void>[] = [];
  private synced = false;

  /** Snapshot values and workload keys, one copy each (the watcher's pool). */
  private readonly strings: StringPool;

  constructor(private readonly opts: WorkloadWatchOptions) {
    this.log = opts.logger;
    this.strings = opts.strings ?? new StringPool();
  }

  on(event: 'upsert', fn: (w: WorkloadSnapshot, old: WorkloadSnapshot | undefined) => void): void;
  on(event: 'delete', fn: (w: WorkloadSnapshot) => void): void;
  on(
    event: 'upsert' | 'delete',
    fn: ((w: WorkloadSnapshot, old: WorkloadSnapshot | undefined) => void) | ((w: WorkloadSnapshot) => void),
  ): void {
    if (event === 'upsert') this.upsertFns.push(fn);
    else this.deleteFns.push(fn as (w: WorkloadSnapshot) => void);
  }

  list(): WorkloadSnapshot[] {
    return [...this.snapshots.values()];
  }

  /** True once every kind has been listed at least once. */
  isSynced(): boolean {
    return this.synced;
  }

  /**
   * Whether a workload read from the API (a manual update of one the cache has not seen) is in
   * WATCH_NAMESPACES: the ClusterRole could patch it, the configuration says it is not ours.
   */
  admits(w: WorkloadSnapshot): { ok: boolean; reason?: string } {
    const ns = this.opts.namespaces;
    if (!ns || ns.length === 0 || ns.includes(w.namespace)) return { ok: true };
    return { ok: false, reason: `namespace ${w.namespace} is not in WATCH_NAMESPACES (${ns.join(',')})` };
  }

  stats(): Readonly<WorkloadWatchStats> {
    return { ...this.statsData };
  }

  /** Starts the loops; resolves once every kind has been listed (or on stop). */
  async start(): Promise<void> {
    if (this.abort) return;
    const abort = new AbortController();
    this.abort = abort;
    const o = this.opts;
    const lists = listFunctions(o.kubeConfig, o.labelSelector);
    const watch = new k8s.Watch(o.kubeConfig);
    const namespaces = o.namespaces && o.namespaces.length > 0 ? [...new Set(o.namespaces)] : [undefined];
    const sink: Sink = {
      apply: (s) => this.apply(s),
      remove: (kind, namespace, name) => this.remove(workloadKey({ kind, namespace, name })),
      removeMissing: (kind, namespace, seen) => {
        for (const [key, s] of this.snapshots) {
          if (s.kind === kind && (namespace === undefined || s.namespace === namespace) && !seen.has(key))
            this.remove(key);
        }
      },
    };
    const streams: Stream[] = [];
    for (const kind of o.kinds ?? WORKLOAD_KINDS) {
      for (const namespace of namespaces) {
        streams.push(
          new Stream(kind, namespace, {
            list: lists[kind],
            watch,
            sink,
            log: this.log,
            backoff: o.backoff?.() ?? exponentialBackoff({ initialMs: 1000, maxMs: 30_000, jitter: 0.2 }),
            sleep: o.sleep ?? abortableSleep,
            now: o.now ?? Date.now,
            stats: this.statsData,
            stallTimeoutMs: o.stallTimeoutMs ?? 5 * 60_000,
            relistIntervalMs: o.relistIntervalMs ?? 30 * 60_000,
            watchTimeoutSeconds: o.watchTimeoutSeconds ?? 300,
            pageSize: o.pageSize ?? 500,
            labelSelector: o.labelSelector,
            strings: this.strings,
          }),
        );
      }
    }
    this.running = streams.map((s) => s.run(abort.signal));
    const stopped = new Promise<void>((resolve) =>
      abort.signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    await Promise.race([Promise.all(streams.map((s) => s.synced)), stopped]);
    if (!abort.signal.aborted) {
      this.synced = true;
      this.log.info(
        { workloads: this.snapshots.size, streams: streams.length },
        'workloads listed; watching',
      );
    }
  }

  async stop(): Promise<void> {
    const abort = this.abort;
    if (!abort) return;
    abort.abort();
    await Promise.all(this.running);
    this.running = [];
    this.abort = undefined;
    this.synced = false;
  }

  private apply(snap: WorkloadSnapshot): void {
    const key = workloadKey(snap);
    const old = this.snapshots.get(key);
    // A new key from the pool: the controller and the metrics keep the same string.
    this.snapshots.set(old ? key : this.strings.get(key), snap);
    if (snapshotChanged(old, snap)) this.notify(this.upsertFns, 'upsert', (fn) => fn(snap, old));
  }

  private remove(key: string): void {
    const old = this.snapshots.get(key);
    if (!old) return;
    this.snapshots.delete(key);
    this.notify(this.deleteFns, 'delete', (fn) => fn(old));
  }

  /** A throwing listener must not break the watch loop. */
  private notify<F>(fns: readonly F[], event: string, call: (fn: F) => void): void {
    for (const fn of fns) {
      try {
        call(fn);
      } catch (err) {
        this.log.error({ err, event }, 'workload listener failed');
      }
    }
  }
}
