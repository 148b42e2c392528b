import { hostname } from 'node:os';
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { KubeConfigError, KubeNotFoundError, PullSecretError, httpStatusOf, toKubeError } from './errors.ts';
import { StringPool } from '../../shared/string-pool.ts';
import { withTimeout } from './timeout.ts';
import type { JsonPatchOp, KubeGateway, WorkloadKind, WorkloadSnapshot } from './types.ts';
import { toSnapshot } from './workloads.ts';

const COMPONENT = 'image-watcher';
/** Repeats of one event within this window update its count instead of creating another. */
const AGGREGATE_WINDOW_MS = 10 * 60 * 1000;
const AGGREGATE_MAX = 1000;
const MAX_MESSAGE = 1024;

/**
 * KUBECONFIG / ~/.kube/config, else the in-cluster service account. client-node silently falls
 * back to http://localhost:8080, which can never work: that is reported instead.
 */
export function loadKubeConfig(env: NodeJS.ProcessEnv = process.env): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  try {
    kc.loadFromDefault();
  } catch (err) {
    throw new KubeConfigError(
      `cannot load the kubeconfig${env.KUBECONFIG ? ` from KUBECONFIG=${env.KUBECONFIG}` : ''}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster || (cluster.server === 'http://localhost:8080' && !env.KUBECONFIG)) {
    throw new KubeConfigError(
      'no Kubernetes configuration found: run in a cluster with a service account, or set KUBECONFIG to a kubeconfig file',
    );
  }
  return kc;
}

interface WorkloadApis {
  read(kind: WorkloadKind, namespace: string, name: string): Promise<unknown>;
  patch(kind: WorkloadKind, namespace: string, name: string, body: JsonPatchOp[]): Promise<unknown>;
}

function workloadApis(kc: k8s.KubeConfig): WorkloadApis {
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const batch = kc.makeApiClient(k8s.BatchV1Api);
  const jsonPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);
  return {
    read(kind, namespace, name) {
      const p = { name, namespace };
      switch (kind) {
        case 'Deployment':
          return apps.readNamespacedDeployment(p);
        case 'StatefulSet':
          return apps.readNamespacedStatefulSet(p);
        case 'DaemonSet':
          return apps.readNamespacedDaemonSet(p);
        case 'CronJob':
          return batch.readNamespacedCronJob(p);
      }
    },
    patch(kind, namespace, name, body) {
      const p = { name, namespace, body };
      switch (kind) {
        case 'Deployment':
          return apps.patchNamespacedDeployment(p, jsonPatch);
        case 'StatefulSet':
          return apps.patchNamespacedStatefulSet(p, jsonPatch);
        case 'DaemonSet':
          return apps.patchNamespacedDaemonSet(p, jsonPatch);
        case 'CronJob':
          return batch.patchNamespacedCronJob(p, jsonPatch);
      }
    },
  };
}

export interface KubeGatewayOptions {
  kubeConfig: k8s.KubeConfig;
  logger: Logger;
  now?: () => Date;
  /** reportingInstance of events: POD_NAME or the host name. */
  instance?: string;
  /** A call without an answer after this long fails with E_KUBE_UNAVAILABLE. Default 30 s. */
  requestTimeoutMs?: number;
  /** Keeps the values snapshots repeat once (the watch's pool); default: its own. */
  strings?: StringPool;
}

interface AggregatedEvent {
  namespace: string;
  name: string;
  count: number;
  firstTimestamp: Date;
  lastAt: number;
}

/** Kubernetes access for the watcher over client-node 1.4: workloads, events, pull secrets. */
export class ClientNodeGateway implements KubeGateway {
  private readonly apis: WorkloadApis;
  private readonly core: k8s.CoreV1Api;
  private readonly log: Logger;
  private readonly now: () => Date;
  private readonly instance: string;
  private readonly recentEvents = new Map<string, AggregatedEvent>();
  private readonly timeoutMs: number;
  private readonly strings: StringPool;

  constructor(opts: KubeGatewayOptions) {
    this.apis = workloadApis(opts.kubeConfig);
    this.core = opts.kubeConfig.makeApiClient(k8s.CoreV1Api);
    this.log = opts.logger;
    this.now = opts.now ?? (() => new Date());
    this.instance = opts.instance ?? hostname();
    this.timeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.strings = opts.strings ?? new StringPool();
  }

  async getWorkload(
    kind: WorkloadKind,
    namespace: string,
    name: string,
  ): Promise<WorkloadSnapshot | undefined> {
    let raw: unknown;
    try {
      raw = await this.timed(this.apis.read(kind, namespace, name), `reading ${kind} ${namespace}/${name}`);
    } catch (err) {
      if (httpStatusOf(err) === 404) return undefined;
      throw toKubeError(err, `reading ${kind} ${namespace}/${name}`);
    }
    return toSnapshot(kind, raw, this.strings);
  }

  async patchWorkload(
    kind: WorkloadKind,
    namespace: string,
    name: string,
    ops: JsonPatchOp[],
  ): Promise<WorkloadSnapshot> {
    let raw: unknown;
    try {
      raw = await this.timed(
        this.apis.patch(kind, namespace, name, ops),
        `patching ${kind} ${namespace}/${name}`,
      );
    } catch (err) {
      throw toKubeError(err, `patching ${kind} ${namespace}/${name}`);
    }
    const snap = toSnapshot(kind, raw, this.strings);
    if (!snap)
      throw new KubeNotFoundError(
        `patching ${kind} ${namespace}/${name}: the API server returned no workload`,
      );
    return snap;
  }

  async createEvent(
    target: WorkloadSnapshot,
    e: { type: 'Normal' | 'Warning'; reason: string; message: string },
  ): Promise<void> {
    const now = this.now();
    const message = e.message.length > MAX_MESSAGE ? `${e.message.slice(0, MAX_MESSAGE - 3)}...` : e.message;
    const key = `${target.uid}\n${e.type}\n${e.reason}\n${message}`;
    this.forgetOldEvents(now.getTime());
    const seen = this.recentEvents.get(key);
    if (seen) {
      try {
        await this.timed(
          this.core.patchNamespacedEvent(
            {
              name: seen.name,
              namespace: seen.namespace,
              body: { count: seen.count + 1, lastTimestamp: now.toISOString() },
            },
            k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
          ),
          `updating event ${e.reason}`,
        );
        seen.count += 1;
        seen.lastAt = now.getTime();
        // Most recently seen last, so forgetOldEvents can stop at the first fresh one.
        this.recentEvents.delete(key);
        this.recentEvents.set(key, seen);
        return;
      } catch (err) {
        // Expired or deleted meanwhile: fall through and create a fresh one.
        this.recentEvents.delete(key);
        if (httpStatusOf(err) !== 404)
          this.log.debug({ err: String(err) }, 'could not aggregate event; creating a new one');
      }
    }
    const body: k8s.CoreV1Event = {
      metadata: { generateName: `${target.name}.`, namespace: target.namespace },
      involvedObject: {
        apiVersion: target.kind === 'CronJob' ? 'batch/v1' : 'apps/v1',
        kind: target.kind,
        namespace: target.namespace,
        name: target.name,
        uid: target.uid,
        resourceVersion: target.resourceVersion,
      },
      type: e.type,
      reason: e.reason,
      message,
      source: { component: COMPONENT },
      reportingComponent: COMPONENT,
      reportingInstance: this.instance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    let created: k8s.CoreV1Event;
    try {
      created = await this.timed(
        this.core.createNamespacedEvent({ namespace: target.namespace, body }),
        `creating event ${e.reason}`,
      );
    } catch (err) {
      throw toKubeError(
        err,
        `creating event ${e.reason} on ${target.kind} ${target.namespace}/${target.name}`,
      );
    }
    const name = created.metadata?.name;
    if (name) {
      if (this.recentEvents.size >= AGGREGATE_MAX) {
        const oldest = this.recentEvents.keys().next().value;
        if (oldest !== undefined) this.recentEvents.delete(oldest);
      }
      this.recentEvents.set(key, {
        namespace: target.namespace,
        name,
        count: 1,
        firstTimestamp: now,
        lastAt: now.getTime(),
      });
    }
  }

  async getDockerConfigSecret(namespace: string, name: string): Promise<unknown> {
    let secret: k8s.V1Secret;
    try {
      secret = await this.timed(
        this.core.readNamespacedSecret({ name, namespace }),
        `reading pull secret ${namespace}/${name}`,
      );
    } catch (err) {
      if (httpStatusOf(err) === 404) return undefined;
      throw toKubeError(err, `reading pull secret ${namespace}/${name}`);
    }
    return parseDockerConfigSecret(secret, `${namespace}/${name}`);
  }

  /** A Secret's data, decoded, or undefined when it does not exist (Git credentials). */
  async getSecretData(namespace: string, name: string): Promise<Record<string, string> | undefined> {
    let secret: k8s.V1Secret;
    try {
      secret = await this.timed(
        this.core.readNamespacedSecret({ name, namespace }),
        `reading secret ${namespace}/${name}`,
      );
    } catch (err) {
      if (httpStatusOf(err) === 404) return undefined;
      throw toKubeError(err, `reading secret ${namespace}/${name}`);
    }
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(secret.data ?? {}))
      out[k] = Buffer.from(v, 'base64').toString('utf8');
    for (const [k, v] of Object.entries(secret.stringData ?? {})) out[k] = v;
    return out;
  }

  async getServiceAccountPullSecrets(namespace: string, name: string): Promise<string[]> {
    let sa: k8s.V1ServiceAccount;
    try {
      sa = await this.timed(
        this.core.readNamespacedServiceAccount({ name, namespace }),
        `reading service account ${namespace}/${name}`,
      );
    } catch (err) {
      if (httpStatusOf(err) === 404) return [];
      throw toKubeError(err, `reading service account ${namespace}/${name}`);
    }
    return (sa.imagePullSecrets ?? []).map((r) => r.name ?? '').filter((n) => n !== '');
  }

  private timed<T>(p: Promise<T>, action: string): Promise<T> {
    return withTimeout(p, this.timeoutMs, action);
  }

  private forgetOldEvents(nowMs: number): void {
    // Ordered by last sighting: drop from the front until a fresh one (amortised O(1) per event).
    for (const [key, ev] of this.recentEvents) {
      if (nowMs - ev.lastAt <= AGGREGATE_WINDOW_MS) break;
      this.recentEvents.delete(key);
    }
  }
}

/**
 * The Docker config inside a pull secret: `.dockerconfigjson` as is, the legacy `.dockercfg`
 * (a bare auths map) wrapped as `{ auths }`. The content is never put in messages.
 */
export function parseDockerConfigSecret(secret: k8s.V1Secret, label: string): unknown {
  const data = secret.data ?? {};
  const modern = data['.dockerconfigjson'];
  const legacy = data['.dockercfg'];
  const encoded = modern ?? legacy;
  if (encoded === undefined) {
    throw new PullSecretError(
      `pull secret ${label} has neither .dockerconfigjson nor .dockercfg; create it with 'kubectl create secret docker-registry'`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'));
  } catch (err) {
    throw new PullSecretError(`pull secret ${label} does not hold valid JSON`, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null)
    throw new PullSecretError(`pull secret ${label} is not a JSON object`);
  return modern !== undefined ? parsed : { auths: parsed };
}
