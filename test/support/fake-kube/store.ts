import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { apiVersionOf, type ResourceType } from './resources.ts';

/** A stored object: plain JSON with Kubernetes metadata. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid: string;
    resourceVersion: string;
    generation?: number;
    creationTimestamp: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    [key: string]: unknown;
  };
  spec?: unknown;
  status?: unknown;
  [key: string]: unknown;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoredEvent {
  rv: number;
  type: WatchEventType;
  resource: ResourceType;
  object: KubeObject;
  /** MODIFIED: the object before the change (a watch with a selector needs both, as etcd's has). */
  previous?: KubeObject;
}

/** Why a write was refused; mapped to a Kubernetes `Status` by the server. */
export class StoreError extends Error {
  constructor(
    readonly code: 404 | 409 | 422,
    readonly reason: 'NotFound' | 'AlreadyExists' | 'Conflict' | 'Invalid',
    message: string,
  ) {
    super(message);
  }
}

function keyOf(r: ResourceType, namespace: string | undefined, name: string): string {
  return `${r.plural}/${r.namespaced ? (namespace ?? '') : ''}/${name}`;
}

function nowRfc3339(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * In-memory objects with one global, monotonically increasing resourceVersion and a bounded
 * history of changes that watches replay from.
 */
export class ObjectStore {
  private readonly objects = new Map<string, KubeObject>();
  private readonly history: StoredEvent[] = [];
  private rv = 1;
  /** Watches from a resourceVersion below this are answered 410 Gone. */
  private oldestWatchableRv = 1;
  private readonly listeners = new Set<(e: StoredEvent) => void>();

  constructor(private readonly historyLimit: number) {}

  get resourceVersion(): number {
    return this.rv;
  }

  get compactedBelow(): number {
    return this.oldestWatchableRv;
  }

  subscribe(fn: (e: StoredEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  get(r: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    const o = this.objects.get(keyOf(r, namespace, name));
    return o === undefined ? undefined : structuredClone(o);
  }

  /** Objects of a type, sorted by namespace then name (stable for paging); copies. */
  list(r: ResourceType, namespace: string | undefined): KubeObject[] {
    return this.listShared(r, namespace).map((o) => structuredClone(o));
  }

  /** As list, but the stored objects themselves: callers must copy what they hand out. */
  listShared(r: ResourceType, namespace: string | undefined): readonly KubeObject[] {
    const out: KubeObject[] = [];
    for (const o of this.objects.values()) {
      if (o.kind !== r.kind || o.apiVersion !== apiVersionOf(r)) continue;
      if (namespace !== undefined && r.namespaced && o.metadata.namespace !== namespace) continue;
      out.push(o);
    }
    // Code-unit order of "namespace/name", the same order continue tokens compare in.
    const key = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    out.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    return out;
  }

  /** Events after `rv`, or undefined when they are no longer retained (410 Gone). */
  eventsSince(rv: number): StoredEvent[] | undefined {
    if (rv < this.oldestWatchableRv - 1) return undefined;
    return this.history.filter((e) => e.rv > rv);
  }

  /** Drops the whole history: every watch from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.history.length = 0;
    this.oldestWatchableRv = this.rv + 1;
  }

  create(r: ResourceType, input: Record<string, unknown>, namespace: string | undefined): KubeObject {
    const meta = { ...((input.metadata ?? {}) as Record<string, unknown>) };
    let name = typeof meta.name === 'string' ? meta.name : '';
    if (name === '' && typeof meta.generateName === 'string' && meta.generateName !== '') {
      name = meta.generateName + randomUUID().slice(0, 5);
    }
    if (name === '') throw new StoreError(422, 'Invalid', `${r.kind} "": metadata.name: Required value`);
    const ns = r.namespaced ? (namespace ?? (meta.namespace as string | undefined) ?? 'default') : undefined;
    if (r.namespaced && meta.namespace !== undefined && meta.namespace !== ns) {
      throw new StoreError(
        422,
        'Invalid',
        `${r.kind} "${name}": the namespace of the object (${JSON.stringify(meta.namespace)}) does not match the namespace on the request (${ns})`,
      );
    }
    const key = keyOf(r, ns, name);
    if (this.objects.has(key)) {
      throw new StoreError(409, 'AlreadyExists', `${r.plural} "${name}" already exists`);
    }
    const obj = structuredClone({ ...input, apiVersion: apiVersionOf(r), kind: r.kind }) as KubeObject;
    obj.metadata = {
      ...(structuredClone(meta) as KubeObject['metadata']),
      name,
      uid: randomUUID(),
      resourceVersion: '',
      creationTimestamp: nowRfc3339(),
    };
    if (ns !== undefined) obj.metadata.namespace = ns;
    else delete obj.metadata.namespace;
    delete obj.metadata.generateName;
    if (r.generation) obj.metadata.generation = 1;
    return this.commit(r, key, 'ADDED', obj);
  }

  /**
   * Replaces an object. With `expectedRv` set (the body's resourceVersion) a stale write is
   * 409 Conflict. `statusOnly` writes the status subresource, otherwise status is preserved.
   */
  update(
    r: ResourceType,
    namespace: string | undefined,
    name: string,
    input: Record<string, unknown>,
    opts: { expectedRv?: string | undefined; statusOnly?: boolean } = {},
  ): KubeObject {
    const key = keyOf(r, namespace, name);
    const current = this.objects.get(key);
    if (!current) throw new StoreError(404, 'NotFound', `${r.plural} "${name}" not found`);
    if (
      opts.expectedRv !== undefined &&
      opts.expectedRv !== '' &&
      opts.expectedRv !== current.metadata.resourceVersion
    ) {
      throw new StoreError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${r.plural}${r.group ? '.' + r.group : ''} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    }
    const inputMeta = (input.metadata ?? {}) as Record<string, unknown>;
    if (inputMeta.name !== undefined && inputMeta.name !== name) {
      throw new StoreError(
        422,
        'Invalid',
        `${r.kind} "${name}": metadata.name: the name of the object does not match`,
      );
    }
    let next: KubeObject;
    if (opts.statusOnly) {
      next = structuredClone(current);
      next.status = structuredClone(input.status);
    } else {
      next = structuredClone({ ...input, apiVersion: apiVersionOf(r), kind: r.kind }) as KubeObject;
      next.metadata = {
        ...(structuredClone(inputMeta) as KubeObject['metadata']),
        name,
        uid: current.metadata.uid,
        resourceVersion: current.metadata.resourceVersion,
        creationTimestamp: current.metadata.creationTimestamp,
      };
      if (current.metadata.namespace !== undefined) next.metadata.namespace = current.metadata.namespace;
      if (r.statusSubresource) {
        if (current.status === undefined) delete next.status;
        else next.status = structuredClone(current.status);
      }
      if (r.generation) {
        const gen = current.metadata.generation ?? 1;
        next.metadata.generation = isDeepStrictEqual(current.spec, next.spec) ? gen : gen + 1;
      }
    }
    if (isDeepStrictEqual(stripRv(next), stripRv(current))) return structuredClone(current); // no-op write: no new version
    return this.commit(r, key, 'MODIFIED', next, current);
  }

  delete(r: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const key = keyOf(r, namespace, name);
    const current = this.objects.get(key);
    if (!current) throw new StoreError(404, 'NotFound', `${r.plural} "${name}" not found`);
    this.objects.delete(key);
    this.rv += 1;
    current.metadata.resourceVersion = String(this.rv);
    this.record({ rv: this.rv, type: 'DELETED', resource: r, object: current });
    return structuredClone(current);
  }

  private commit(
    r: ResourceType,
    key: string,
    type: WatchEventType,
    obj: KubeObject,
    previous?: KubeObject,
  ): KubeObject {
    this.rv += 1;
    obj.metadata.resourceVersion = String(this.rv);
    this.objects.set(key, obj);
    this.record({
      rv: this.rv,
      type,
      resource: r,
      object: structuredClone(obj),
      ...(previous ? { previous: structuredClone(previous) } : {}),
    });
    return structuredClone(obj);
  }

  private record(e: StoredEvent): void {
    this.history.push(e);
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      const last = dropped[dropped.length - 1];
      if (last) this.oldestWatchableRv = last.rv + 1;
    }
    for (const fn of this.listeners) fn(e);
  }
}

function stripRv(o: KubeObject): unknown {
  return { ...o, metadata: { ...o.metadata, resourceVersion: '' } };
}
