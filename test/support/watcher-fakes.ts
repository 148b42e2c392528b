// In-memory fakes of the watcher's collaborators for reconciler tests: a cluster that applies
// JSON patches like the API server and plays informer and rollout controller, a registry, a lease.
// Snapshots come from the production conversion (watcher/kube/workloads.ts toSnapshot).
import fjp from 'fast-json-patch';
import { ImageWatcherError } from '../../shared/errors.ts';
import type { ImageReference } from '../../shared/image-ref.ts';
import { canonicalName } from '../../shared/image-ref.ts';
import type {
  JsonPatchOp,
  KubeGateway,
  LeaderElector,
  WorkloadKind,
  WorkloadSnapshot,
  WorkloadWatch,
} from '../../watcher/kube/types.ts';
import { PatchConflictError } from '../../watcher/kube/errors.ts';
import { toSnapshot } from '../../watcher/kube/workloads.ts';
import { RegistryError } from '../../watcher/registry/errors.ts';
import type { ImageManifestFacts, RegistryClient } from '../../watcher/registry/types.ts';

export interface Obj {
  kind: WorkloadKind;
  metadata: {
    namespace: string;
    name: string;
    uid: string;
    resourceVersion: string;
    generation: number;
    annotations?: Record<string, string>;
  };
  /** The pod template (for a CronJob, the same object also sits under jobTemplate, where it counts). */
  spec: {
    template: PodTemplate;
    jobTemplate?: { spec: { template: PodTemplate } };
    replicas?: number;
    updateStrategy?: { type: string; rollingUpdate?: { partition?: number } };
  };
  status: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
    currentRevision?: string;
    updateRevision?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

interface PodTemplate {
  spec: { containers: { name: string; image: string }[] };
}

type Listener = (w: WorkloadSnapshot, old: WorkloadSnapshot | undefined) => void;

/** Holds objects, applies JSON patches like the API server, and plays informer and rollout controller. */
export class FakeCluster implements KubeGateway, WorkloadWatch {
  objects = new Map<string, Obj>();
  patches: { key: string; ops: JsonPatchOp[] }[] = [];
  events: { reason: string; type: string; message: string }[] = [];
  upserts: Listener[] = [];
  deletes: ((w: WorkloadSnapshot) => void)[] = [];
  rv = 100;
  /** How the simulated controller answers a new generation. */
  rollout: 'complete' | 'deadline' | 'pending' = 'complete';
  /** How many getWorkload calls fail with a transient API error before it answers again. */
  failGets = 0;
  statusWriteBeforeNextPatch = false;

  add(
    name: string,
    image: string | string[],
    annotations: Record<string, string> = {},
    kind: WorkloadKind = 'Deployment',
  ): Obj {
    const images = Array.isArray(image) ? image : [image];
    const template: PodTemplate = {
      spec: { containers: images.map((img, i) => ({ name: i === 0 ? 'app' : `side${i}`, image: img })) },
    };
    const obj: Obj = {
      kind,
      metadata: {
        namespace: 'shop',
        name,
        uid: `uid-${name}`,
        resourceVersion: String(++this.rv),
        generation: 1,
        annotations: { ...annotations },
      },
      // A CronJob's pod template is its job template's; both names point at one object.
      spec: kind === 'CronJob' ? { template, jobTemplate: { spec: { template } } } : { template },
      status: {
        observedGeneration: 1,
        replicas: 1,
        updatedReplicas: 1,
        availableReplicas: 1,
        conditions: [],
      },
    };
    this.objects.set(`${kind}/shop/${name}`, obj);
    return obj;
  }

  /** The production conversion, as the informers do it. */
  snap(o: Obj): WorkloadSnapshot {
    const raw = structuredClone(o) as Partial<Obj>;
    if (o.kind === 'CronJob') delete (raw.spec as Partial<Obj['spec']>).template;
    return toSnapshot(o.kind, raw)!;
  }

  private find(name: string): [string, Obj] {
    for (const [k, o] of this.objects) if (o.metadata.name === name) return [k, o];
    throw new Error(`no object ${name}`);
  }

  /** Someone outside (GitOps, kubectl) edits the object. */
  edit(name: string, fn: (o: Obj) => void): void {
    const [, o] = this.find(name);
    const old = this.snap(o);
    fn(o);
    o.metadata.resourceVersion = String(++this.rv);
    for (const l of this.upserts) l(this.snap(o), old);
  }

  remove(name: string): void {
    const [key, o] = this.find(name);
    this.objects.delete(key);
    for (const l of this.deletes) l(this.snap(o));
  }

  imagePatches(name: string): number {
    return this.patches.filter(
      (p) => p.key.endsWith(`/${name}`) && p.ops.some((o) => o.op === 'replace' && o.path.endsWith('/image')),
    ).length;
  }

  // KubeGateway
  getWorkload(kind: WorkloadKind, namespace: string, name: string): Promise<WorkloadSnapshot | undefined> {
    if (this.failGets > 0) {
      this.failGets--;
      return Promise.reject(new ImageWatcherError('E_KUBE_UNAVAILABLE', 'etcdserver: request timed out'));
    }
    const o = this.objects.get(`${kind}/${namespace}/${name}`);
    return Promise.resolve(o ? this.snap(o) : undefined);
  }
  patchWorkload(
    kind: WorkloadKind,
    namespace: string,
    name: string,
    ops: JsonPatchOp[],
  ): Promise<WorkloadSnapshot> {
    const key = `${kind}/${namespace}/${name}`;
    const o = this.objects.get(key);
    if (!o) return Promise.reject(new ImageWatcherError('E_KUBE_NOT_FOUND', 'gone'));
    // A status write by a controller between our read and our patch moves resourceVersion.
    if (this.statusWriteBeforeNextPatch) {
      this.statusWriteBeforeNextPatch = false;
      o.metadata.resourceVersion = String(++this.rv);
    }
    const old = this.snap(o);
    const copy = structuredClone(o);
    try {
      fjp.applyPatch(copy, ops as fjp.Operation[], true, true);
    } catch {
      return Promise.reject(new PatchConflictError('test failed'));
    }
    this.patches.push({ key, ops });
    const imageChanged = JSON.stringify(copy.spec) !== JSON.stringify(o.spec);
    copy.metadata.resourceVersion = String(++this.rv);
    if (imageChanged) {
      copy.metadata.generation++;
      copy.status =
        this.rollout === 'complete'
          ? {
              observedGeneration: copy.metadata.generation,
              replicas: 1,
              updatedReplicas: 1,
              availableReplicas: 1,
              conditions: [],
            }
          : {
              observedGeneration: copy.metadata.generation,
              replicas: 1,
              updatedReplicas: 0,
              availableReplicas: 1,
              conditions:
                this.rollout === 'deadline'
                  ? [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }]
                  : [],
            };
    }
    this.objects.set(key, copy);
    for (const l of this.upserts) l(this.snap(copy), old);
    return Promise.resolve(this.snap(copy));
  }
  createEvent(
    _w: WorkloadSnapshot,
    e: { type: 'Normal' | 'Warning'; reason: string; message: string },
  ): Promise<void> {
    this.events.push(e);
    return Promise.resolve();
  }
  getDockerConfigSecret(): Promise<unknown> {
    return Promise.resolve(undefined);
  }
  getServiceAccountPullSecrets(): Promise<string[]> {
    return Promise.resolve([]);
  }

  // WorkloadWatch
  start(): Promise<void> {
    return Promise.resolve();
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
  list(): WorkloadSnapshot[] {
    return [...this.objects.values()].map((o) => this.snap(o));
  }
  on(event: 'upsert' | 'delete', fn: Listener): void {
    if (event === 'upsert') this.upserts.push(fn);
    else this.deletes.push(fn as (w: WorkloadSnapshot) => void);
  }
}

export class FakeRegistry implements RegistryClient {
  tags = new Map<string, string[]>();
  digests = new Map<string, string>();
  down = new Set<string>();
  listCalls = new Map<string, number>();
  /** Repositories that never answer; their requests end only when their signal aborts. */
  hang = new Set<string>();
  aborted: string[] = [];
  listTags(ref: ImageReference, opts?: object): Promise<string[]> {
    // The signal the reconciler passes (a RegistryCallOptions field once the client takes one).
    const signal = (opts as { signal?: AbortSignal } | undefined)?.signal;
    const name = canonicalName(ref);
    this.listCalls.set(name, (this.listCalls.get(name) ?? 0) + 1);
    if (this.hang.has(name)) {
      return new Promise((_, reject) => {
        signal?.addEventListener('abort', () => {
          this.aborted.push(name);
          reject(new RegistryError('E_REGISTRY_TIMEOUT', `${name}: aborted`));
        });
      });
    }
    if (this.down.has(name))
      return Promise.reject(
        new RegistryError('E_REGISTRY_UNAVAILABLE', `${name}: registry unavailable (503)`),
      );
    return Promise.resolve(this.tags.get(name) ?? []);
  }
  getDigest(ref: ImageReference, reference: string): Promise<string> {
    const d = this.digests.get(`${canonicalName(ref)}:${reference}`);
    return d ? Promise.resolve(d) : Promise.reject(new RegistryError('E_REGISTRY_NOT_FOUND', 'no such tag'));
  }
  getImageLabels(): Promise<Record<string, string>> {
    return Promise.resolve({});
  }
  /** `repo:reference` -> what the manifest is; absent: a plain image. */
  manifests = new Map<string, ImageManifestFacts>();
  /** `repo:reference` -> config `created`. */
  created = new Map<string, string>();
  /** Manifest and config requests made, as `GET repo:reference`. */
  factCalls: string[] = [];
  getManifestFacts(ref: ImageReference, reference: string): Promise<ImageManifestFacts> {
    const key = `${canonicalName(ref)}:${reference}`;
    this.factCalls.push(`manifest ${key}`);
    return Promise.resolve(this.manifests.get(key) ?? { kind: 'image' });
  }
  getImageCreated(ref: ImageReference, reference: string): Promise<string | undefined> {
    const key = `${canonicalName(ref)}:${reference}`;
    this.factCalls.push(`config ${key}`);
    return Promise.resolve(this.created.get(key));
  }
  newCycle(): void {}
}

export class FakeLeader implements LeaderElector {
  leader: boolean;
  fns: ((l: boolean) => void)[] = [];
  constructor(leader: boolean) {
    this.leader = leader;
  }
  start(): Promise<void> {
    return Promise.resolve();
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
  isLeader(): boolean {
    return this.leader;
  }
  on(_e: 'change', fn: (l: boolean) => void): void {
    this.fns.push(fn);
  }
  set(l: boolean): void {
    this.leader = l;
    for (const f of this.fns) f(l);
  }
}
