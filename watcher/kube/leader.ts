import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { abortableSleep, type Sleep } from './backoff.ts';
import { httpStatusOf, toKubeError } from './errors.ts';
import { withTimeout } from './timeout.ts';
import type { LeaderElector } from './types.ts';

/** The part of CoordinationV1Api the elector uses (a fake in unit tests). */
export type LeaseApi = Pick<
  k8s.CoordinationV1Api,
  'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'
>;

export interface LeaderElectorOptions {
  kubeConfig?: k8s.KubeConfig;
  /** Instead of kubeConfig. */
  leaseApi?: LeaseApi;
  logger: Logger;
  namespace: string;
  name: string;
  /** Holder identity: POD_NAME; default host name plus a random suffix. */
  identity?: string | undefined;
  leaseDurationSeconds?: number;
  /** How often the leader renews. Default 5 s. */
  renewIntervalMs?: number;
  /** How often a follower tries to acquire. Default 2 s. */
  retryIntervalMs?: number;
  /** A leader that could not renew for this long steps down, before others may take over. Default 10 s. */
  renewDeadlineMs?: number;
  /** A lease request without an answer after this long counts as failed. Default 5 s. */
  requestTimeoutMs?: number;
  now?: () => number;
  sleep?: Sleep;
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: the holder renews
 * every few seconds; others take over only after seeing the same lease record unchanged for
 * leaseDurationSeconds on their own clock (no trust in other nodes' clocks), or at once when
 * it is released. Writes carry the resourceVersion read, so of two racing replicas one gets
 * 409 and stays a follower.
 */
export class LeaseLeaderElector implements LeaderElector {
  readonly identity: string;
  private readonly api: LeaseApi;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly sleep: Sleep;
  private readonly durationS: number;
  private readonly renewMs: number;
  private readonly retryMs: number;
  private readonly deadlineMs: number;
  private readonly requestTimeoutMs: number;
  private readonly listeners: ((leader: boolean) => void)[] = [];
  private leader = false;
  private lease: k8s.V1Lease | undefined;
  private observedRv: string | undefined;
  private observedAt = 0;
  private lastRenewAt = 0;
  private abort: AbortController | undefined;
  private loop: Promise<void> | undefined;

  constructor(private readonly opts: LeaderElectorOptions) {
    if (opts.leaseApi) this.api = opts.leaseApi;
    else if (opts.kubeConfig) this.api = opts.kubeConfig.makeApiClient(k8s.CoordinationV1Api);
    else throw new TypeError('LeaseLeaderElector needs kubeConfig or leaseApi');
    this.identity = opts.identity || `${hostname()}-${randomBytes(3).toString('hex')}`;
    this.log = opts.logger;
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? abortableSleep;
    this.durationS = opts.leaseDurationSeconds ?? 15;
    this.renewMs = opts.renewIntervalMs ?? 5000;
    this.retryMs = opts.retryIntervalMs ?? 2000;
    this.deadlineMs = opts.renewDeadlineMs ?? Math.min(10_000, (this.durationS * 1000 * 2) / 3);
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 5000;
  }

  isLeader(): boolean {
    return this.leader;
  }

  on(_event: 'change', fn: (leader: boolean) => void): void {
    this.listeners.push(fn);
  }

  /** Tries once, then keeps acquiring/renewing in the background. */
  async start(): Promise<void> {
    if (this.abort) return;
    const abort = new AbortController();
    this.abort = abort;
    await this.tryAcquireOrRenew();
    this.loop = (async () => {
      while (!abort.signal.aborted) {
        await this.sleep(this.leader ? this.renewMs : this.retryMs, abort.signal);
        if (abort.signal.aborted) break;
        await this.tryAcquireOrRenew();
      }
    })();
  }

  /** Stops the loop and, when leading, releases the lease so another replica takes over at once. */
  async stop(): Promise<void> {
    const abort = this.abort;
    if (!abort) return;
    abort.abort();
    await this.loop;
    this.abort = undefined;
    this.loop = undefined;
    if (this.leader) {
      await this.release();
      this.setLeader(false);
    }
  }

  /** One round: read the lease, then create, renew or take it over if allowed. Never throws. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.now();
    const ns = this.opts.namespace;
    const name = this.opts.name;
    let lease: k8s.V1Lease | undefined;
    try {
      lease = await this.timed(this.api.readNamespacedLease({ name, namespace: ns }));
    } catch (err) {
      if (httpStatusOf(err) !== 404) return this.failed(err, 'reading');
    }
    if (!lease) {
      try {
        this.lease = await this.timed(
          this.api.createNamespacedLease({
            namespace: ns,
            body: { metadata: { name, namespace: ns }, spec: this.spec(now, now, 0) },
          }),
        );
        this.renewed(now);
        return true;
      } catch (err) {
        if (httpStatusOf(err) === 409) return this.follow(); // another replica created it first
        return this.failed(err, 'creating');
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const rv = lease.metadata?.resourceVersion;
    if (rv !== this.observedRv) {
      this.observedRv = rv;
      this.observedAt = now;
    }
    const durationMs = (spec.leaseDurationSeconds ?? this.durationS) * 1000;
    if (holder !== '' && holder !== this.identity && now - this.observedAt < durationMs) return this.follow();

    const mine = holder === this.identity;
    const transitions = spec.leaseTransitions ?? 0;
    const acquireTime = mine && spec.acquireTime ? new Date(spec.acquireTime).getTime() : now;
    try {
      this.lease = await this.timed(
        this.api.replaceNamespacedLease({
          name,
          namespace: ns,
          body: {
            metadata: { ...lease.metadata, name, namespace: ns },
            spec: this.spec(now, acquireTime, mine ? transitions : transitions + 1),
          },
        }),
      );
      if (!mine)
        this.log.info({ lease: `${ns}/${name}`, previous: holder || undefined }, 'acquired the leader lease');
      this.renewed(now);
      return true;
    } catch (err) {
      if (httpStatusOf(err) === 409) return this.follow(); // someone wrote it since we read it
      return this.failed(err, mine ? 'renewing' : 'acquiring');
    }
  }

  /** A hanging request must not block the loop: a leader has to be able to step down in time. */
  private timed<T>(p: Promise<T>): Promise<T> {
    return withTimeout(p, this.requestTimeoutMs, `lease ${this.opts.namespace}/${this.opts.name}`);
  }

  private spec(now: number, acquireTime: number, transitions: number): k8s.V1LeaseSpec {
    return {
      holderIdentity: this.identity,
      leaseDurationSeconds: this.durationS,
      acquireTime: new k8s.V1MicroTime(acquireTime),
      renewTime: new k8s.V1MicroTime(now),
      leaseTransitions: transitions,
    };
  }

  private renewed(now: number): void {
    this.lastRenewAt = now;
    this.observedRv = this.lease?.metadata?.resourceVersion;
    this.observedAt = now;
    this.setLeader(true);
  }

  private follow(): false {
    this.setLeader(false);
    return false;
  }

  /** An API failure: a leader keeps leading until its renew deadline, then steps down. */
  private failed(err: unknown, what: string): boolean {
    const e = toKubeError(err, `${what} lease ${this.opts.namespace}/${this.opts.name}`);
    this.log.warn({ code: e.code }, e.message);
    if (this.leader && this.now() - this.lastRenewAt > this.deadlineMs) {
      this.log.warn('could not renew the leader lease in time; stepping down');
      this.setLeader(false);
    }
    return this.leader;
  }

  private async release(): Promise<void> {
    const lease = this.lease;
    if (!lease?.metadata?.name) return;
    const now = this.now();
    try {
      await this.api.replaceNamespacedLease({
        name: this.opts.name,
        namespace: this.opts.namespace,
        body: {
          metadata: lease.metadata,
          spec: {
            ...lease.spec,
            holderIdentity: '',
            leaseDurationSeconds: 1,
            renewTime: new k8s.V1MicroTime(now),
            acquireTime: new k8s.V1MicroTime(now),
          },
        },
      });
      this.log.info({ lease: `${this.opts.namespace}/${this.opts.name}` }, 'released the leader lease');
    } catch (err) {
      // Lost it meanwhile (409) or API down: others take over when it expires.
      const e = toKubeError(err, `releasing lease ${this.opts.namespace}/${this.opts.name}`);
      this.log.warn({ code: e.code }, e.message);
    }
  }

  private setLeader(leader: boolean): void {
    if (this.leader === leader) return;
    this.leader = leader;
    for (const fn of this.listeners) {
      try {
        fn(leader);
      } catch (err) {
        this.log.error({ err }, 'leader change listener failed');
      }
    }
  }
}
