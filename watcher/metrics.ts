import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { GaugeConfiguration } from 'prom-client';
import { StringPool } from '../shared/string-pool.ts';
import { registerRegistryMetrics } from './registry/metrics.ts';
import type { RegistryRequestObserver } from './registry/types.ts';
import { FAILURE_CODES } from './verify/types.ts';

/** Identifies one workload in metric labels and in the watcher's state. */
export interface WorkloadLabels {
  namespace: string;
  kind: string;
  workload: string;
}

export interface ImageStatus {
  container: string;
  image: string;
  currentVersion: string;
  latestVersion: string;
  outdated: boolean;
}

export type UpdateResult = 'success' | 'failed' | 'rolled_back';

export type GitPushResult = 'pushed' | 'unchanged' | 'rejected' | 'refused' | 'failed';
export const GIT_PUSH_RESULTS: readonly GitPushResult[] = [
  'pushed',
  'unchanged',
  'rejected',
  'refused',
  'failed',
];

/** Requests of a conflicting branch closed when a fresh branch replaced it, or not. */
export type SupersededResult = 'closed' | 'failed';

type OutdatedLabels = WorkloadLabels & {
  container: string;
  image: string;
  current_version: string;
  latest_version: string;
};

/** One `image_outdated` series: its label values and its value (0 or 1), one flat object. */
type OutdatedRow = Readonly<OutdatedLabels> & { readonly value: number };
/** A workload's series: the row itself for the usual single container, else a list of its exact length. */
type Rows = OutdatedRow | readonly OutdatedRow[];
const isList = (r: Rows): r is readonly OutdatedRow[] => Array.isArray(r);
const rowsOf = (r: Rows | undefined): readonly OutdatedRow[] => (r === undefined ? [] : isList(r) ? r : [r]);
const packed = (rows: readonly OutdatedRow[]): Rows => (rows.length === 1 ? rows[0]! : rows);

/**
 * A gauge whose series are built at each scrape from state the caller holds: prom-client keeps
 * nothing per series (a hash key string and an entry, ~200 B each), the scrape makes the values
 * as garbage. Same name, help, type and labels as a stored gauge; the registry formats them.
 */
type MetricValue<T extends string> = { value: number; labels: Partial<Record<T, string | number>> };
type MetricObjectWithValues<V> = Awaited<ReturnType<Gauge['get']>> & { values: V[] };
class ScrapedGauge<T extends string> extends Gauge<T> {
  readonly #values: () => MetricValue<T>[];

  constructor(config: GaugeConfiguration<T>, values: () => MetricValue<T>[]) {
    super(config);
    this.#values = values;
  }

  override async get(): Promise<MetricObjectWithValues<MetricValue<T>>> {
    return { ...(await super.get()), values: this.#values() };
  }
}

// join: one flat string per workload (a template literal keeps its parts too).
const workloadKey = (w: WorkloadLabels): string => [w.kind, w.namespace, w.workload].join('/');

/**
 * Every watcher metric of the contract behind domain methods. Series of a container are
 * remembered so that a changed version or a deleted workload removes the old label set
 * instead of leaving a stale `image_outdated` behind.
 */
export class WatcherMetrics {
  readonly registry: Registry;
  private readonly outdated: Gauge<keyof OutdatedLabels>;
  private readonly workloads: Gauge<'mode'>;
  private readonly updates: Counter<'namespace' | 'kind' | 'workload' | 'result'>;
  private readonly notifications: Counter<'channel' | 'result'>;
  /** Registry request metrics, defined once in the registry client's module (the CLI uses them too). */
  private readonly registryObserver: RegistryRequestObserver;
  private readonly checkDuration: Histogram;
  private readonly lastCheck: Gauge;
  private readonly checkErrors: Counter<'code'>;
  private readonly gitPushes: Counter<'result'>;
  private readonly supersededRequests: Counter<'result'>;
  private readonly signatureChecks: Counter<'result'>;
  private readonly leader: Gauge;
  private readonly registryEvents: Counter<'source' | 'result'>;
  private readonly held: Gauge<'namespace' | 'kind' | 'workload' | 'container' | 'reason'>;
  /** workload key -> container -> the reason its newer version is held (the series exported). */
  private readonly heldSeries = new Map<string, Map<string, string>>();
  /** workload key -> the `image_outdated` series exported, one per container; rendered at scrape time. */
  private readonly series = new Map<string, Rows>();
  /** workload key -> update results seen, so their counters can be removed with the workload. */
  private readonly updateResults = new Map<string, Set<UpdateResult>>();

  /** Workload keys, one copy shared with the watch and the controller (the watcher's pool). */
  private readonly strings: StringPool;

  constructor(opts: { registry?: Registry; defaultMetrics?: boolean; strings?: StringPool } = {}) {
    this.strings = opts.strings ?? new StringPool();
    this.registry = opts.registry ?? new Registry();
    const registers = [this.registry];
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.outdated = new ScrapedGauge(
      {
        name: 'image_watcher_image_outdated',
        help: '1 when a newer allowed version of the container image exists, else 0.',
        labelNames: [
          'namespace',
          'kind',
          'workload',
          'container',
          'image',
          'current_version',
          'latest_version',
        ],
        registers,
      },
      () => [...this.series.values()].flatMap(rowsOf).map(outdatedValue),
    );
    this.workloads = new Gauge({
      name: 'image_watcher_workloads',
      help: 'Watched workloads by effective mode.',
      labelNames: ['mode'],
      registers,
    });
    this.updates = new Counter({
      name: 'image_watcher_updates_total',
      help: 'Image updates applied by the watcher, by result.',
      labelNames: ['namespace', 'kind', 'workload', 'result'],
      registers,
    });
    this.notifications = new Counter({
      name: 'image_watcher_notifications_total',
      help: 'Notifications sent, by channel and result.',
      labelNames: ['channel', 'result'],
      registers,
    });
    this.registryObserver = registerRegistryMetrics(this.registry);
    this.checkDuration = new Histogram({
      name: 'image_watcher_check_duration_seconds',
      help: 'Duration of one check cycle over all watched workloads.',
      buckets: [0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600],
      registers,
    });
    this.lastCheck = new Gauge({
      name: 'image_watcher_last_check_timestamp_seconds',
      help: 'Unix time at which the last check cycle finished.',
      registers,
    });
    this.checkErrors = new Counter({
      name: 'image_watcher_check_errors_total',
      help: 'Workload checks that failed, by error code.',
      labelNames: ['code'],
      registers,
    });
    this.gitPushes = new Counter({
      name: 'image_watcher_git_pushes_total',
      help: 'Git write-backs, by result: pushed, unchanged (Git already held it), rejected (non-fast-forward, retried), refused (file not editable), failed.',
      labelNames: ['result'],
      registers,
    });
    // Every result from the start, so rate() and alerts see a 0 before the first push.
    for (const r of GIT_PUSH_RESULTS) this.gitPushes.inc({ result: r }, 0);
    this.supersededRequests = new Counter({
      name: 'image_watcher_git_superseded_requests_total',
      help: 'Pull or merge requests a newer one replaced (a fresh branch after a conflict, or an old-style branch name after an upgrade), by result: closed (with a comment naming the new one) or failed (left open).',
      labelNames: ['result'],
      registers,
    });
    for (const r of ['closed', 'failed'] as const) this.supersededRequests.inc({ result: r }, 0);
    this.held = new Gauge({
      name: 'image_watcher_update_held',
      help: '1 while a newer version of the container waits for a policy rule (schedule, min-age, constraint, platform, signature).',
      labelNames: ['namespace', 'kind', 'workload', 'container', 'reason'],
      registers,
    });
    this.signatureChecks = new Counter({
      name: 'image_watcher_signature_checks_total',
      help: 'Signature verifications of candidate digests (cached answers not counted), by result: verified or the failure code.',
      labelNames: ['result'],
      registers,
    });
    // As for Git pushes: a 0 before the first error, so increase() in the alert sees it.
    for (const r of ['verified', 'key-error', ...FAILURE_CODES]) this.signatureChecks.inc({ result: r }, 0);
    this.leader = new Gauge({
      name: 'image_watcher_leader',
      help: '1 when this replica holds the leader lease and acts, else 0.',
      registers,
    });
    this.registryEvents = new Counter({
      name: 'image_watcher_registry_events_total',
      help: 'Registry push events received, by source and result (accepted, duplicate, stale, unverified...).',
      labelNames: ['source', 'result'],
      registers,
    });
  }

  observeRegistryEvent(source: string, result: string): void {
    this.registryEvents.inc({ source, result });
  }

  /** Receivers on: a 0 per source for the results the dashboard and alerts look at first. */
  expectRegistryEvents(sources: readonly string[]): void {
    for (const source of sources) {
      for (const result of ['accepted', 'unauthorized', 'invalid'])
        this.registryEvents.inc({ source, result }, 0);
    }
  }

  setImageStatus(w: WorkloadLabels, s: ImageStatus): void {
    const key = workloadKey(w);
    const have = this.series.get(key);
    const containers = rowsOf(have);
    const row: OutdatedRow = {
      namespace: w.namespace,
      kind: w.kind,
      workload: w.workload,
      container: s.container,
      image: s.image,
      current_version: s.currentVersion,
      latest_version: s.latestVersion,
      value: s.outdated ? 1 : 0,
    };
    const i = containers.findIndex((r) => r.container === s.container);
    // Unchanged (most checks): the old row stays; the new one dies young.
    if (i >= 0 && sameRow(containers[i]!, row)) return;
    // A new list each time, of its exact length (a pushed-to list keeps room for 16).
    const next = i < 0 ? [...containers, row] : containers.map((r, j) => (j === i ? row : r));
    this.series.set(have === undefined ? this.strings.get(key) : key, packed(next));
  }

  /** The container's hold: one series with its reason, or none when nothing waits. */
  setHeld(w: WorkloadLabels, container: string, reason: string | undefined): void {
    const key = workloadKey(w);
    let containers = this.heldSeries.get(key);
    const old = containers?.get(container);
    if (old === reason) return;
    if (old !== undefined) {
      this.held.remove({ ...w, container, reason: old });
      containers?.delete(container);
    }
    if (reason === undefined) return;
    if (!containers) {
      containers = new Map();
      this.heldSeries.set(key, containers);
    }
    containers.set(container, reason);
    this.held.set({ ...w, container, reason }, 1);
  }

  private retainHeld(w: WorkloadLabels, names: ReadonlySet<string>): void {
    for (const name of [...(this.heldSeries.get(workloadKey(w))?.keys() ?? [])]) {
      if (!names.has(name)) this.setHeld(w, name, undefined);
    }
  }

  /** Drops the series of containers no longer watched in a workload that still exists. */
  retainContainers(w: WorkloadLabels, names: ReadonlySet<string>): void {
    this.retainHeld(w, names);
    const key = workloadKey(w);
    const containers = rowsOf(this.series.get(key));
    const kept = containers.filter((r) => names.has(r.container));
    if (kept.length === containers.length) return;
    if (kept.length === 0) this.series.delete(key);
    else this.series.set(key, packed(kept));
  }

  /**
   * Drops every image_outdated series: a replica that loses the lease stops checking, and its
   * old values would otherwise double every alert and dashboard sum alongside the new leader's.
   */
  clearImageStatus(): void {
    this.series.clear();
    this.held.reset();
    this.heldSeries.clear();
  }

  removeWorkload(w: WorkloadLabels): void {
    const key = workloadKey(w);
    this.series.delete(key);
    this.retainHeld(w, new Set());
    this.heldSeries.delete(key);
    for (const result of this.updateResults.get(key) ?? []) this.updates.remove({ ...w, result });
    this.updateResults.delete(key);
  }

  observeSupersededRequest(result: SupersededResult): void {
    this.supersededRequests.inc({ result });
  }

  observeGitPush(result: GitPushResult): void {
    this.gitPushes.inc({ result });
  }

  observeUpdate(w: WorkloadLabels, result: UpdateResult): void {
    const key = workloadKey(w);
    let results = this.updateResults.get(key);
    if (!results) {
      results = new Set();
      this.updateResults.set(key, results);
    }
    results.add(result);
    this.updates.inc({ ...w, result });
  }

  observeCheck(e: { seconds: number; finishedAt: Date }): void {
    this.checkDuration.observe(e.seconds);
    this.lastCheck.set(e.finishedAt.getTime() / 1000);
  }

  observeSignatureCheck(result: string): void {
    this.signatureChecks.inc({ result });
  }

  observeCheckError(code: string): void {
    this.checkErrors.inc({ code });
  }

  observeRegistryRequest(e: { registry: string; method: string; code: string; seconds: number }): void {
    this.registryObserver.observeRegistryRequest(e);
  }

  observeNotification(e: { channel: string; result: 'success' | 'failed' }): void {
    this.notifications.inc({ channel: e.channel, result: e.result });
  }

  setWorkloadCounts(counts: Readonly<Record<string, number>>): void {
    // reset() first: a mode nobody uses any more must report 0 rather than its old count.
    this.workloads.reset();
    for (const mode of ['AUTO_UPDATE', 'NOTIFICATION', 'DISABLED']) this.workloads.set({ mode }, 0);
    for (const [mode, n] of Object.entries(counts)) this.workloads.set({ mode }, n);
  }

  setLeader(leader: boolean): void {
    this.leader.set(leader ? 1 : 0);
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

function sameRow(a: OutdatedRow, b: OutdatedRow): boolean {
  return (
    a.value === b.value &&
    a.image === b.image &&
    a.current_version === b.current_version &&
    a.latest_version === b.latest_version &&
    a.namespace === b.namespace &&
    a.kind === b.kind &&
    a.workload === b.workload
  );
}

/** The series as prom-client formats it: labels in the order of the contract, built at scrape time. */
function outdatedValue(r: OutdatedRow): MetricValue<keyof OutdatedLabels> {
  return {
    value: r.value,
    labels: {
      namespace: r.namespace,
      kind: r.kind,
      workload: r.workload,
      container: r.container,
      image: r.image,
      current_version: r.current_version,
      latest_version: r.latest_version,
    },
  };
}
