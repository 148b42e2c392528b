// Trusted keys named by `image-watcher/verify-key`: a Secret or ConfigMap in the workload's
// namespace whose values are PEM public keys (any key name; values without a PEM public key are
// skipped). Read by name only ("get" on secrets and configmaps), kept a minute.
import * as k8s from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import type { VerifyKeySource } from '../../shared/annotations.ts';
import { httpStatusOf, toKubeError } from '../kube/errors.ts';
import { withTimeout } from '../kube/timeout.ts';
import { keyFingerprint, parsePublicKeys, VerifyKeyError } from './keys.ts';
import type { TrustedKey } from './types.ts';

export interface KeySource {
  /** The keys of the object; VerifyKeyError when it is missing or holds none. */
  read(namespace: string, source: VerifyKeySource): Promise<TrustedKey[]>;
  /** Fingerprints of the keys last read for the object (sync: part of cache keys), or undefined. */
  lastId(namespace: string, source: VerifyKeySource): string | undefined;
}

/** Raw object data: Secret data is base64, ConfigMap data plain text. */
export type ReadObject = (
  namespace: string,
  source: VerifyKeySource,
) => Promise<Record<string, string> | undefined>;

const PEM_PUBLIC = /-----BEGIN (?:RSA )?PUBLIC KEY-----/;
const MAX_OBJECTS = 1024;

export function objectName(namespace: string, s: VerifyKeySource): string {
  return `${s.kind} ${namespace}/${s.name}`;
}

/** The keys in an object's values, named `Secret ns/name (key)`. */
export function keysFromData(data: Record<string, string>, where: string): TrustedKey[] {
  const keys: TrustedKey[] = [];
  for (const [k, v] of Object.entries(data).sort(([a], [b]) => a.localeCompare(b))) {
    if (PEM_PUBLIC.test(v)) keys.push(...parsePublicKeys(v, `${where} (${k})`));
  }
  if (keys.length === 0) throw new VerifyKeyError(`${where} holds no PEM public key`);
  return keys;
}

export function createKeySource(opts: { read: ReadObject; now: () => number; ttlMs?: number }): KeySource {
  const ttl = opts.ttlMs ?? 60_000;
  const cache = new Map<string, { at: number; keys: Promise<TrustedKey[]>; id?: string }>();
  return {
    read(namespace, source) {
      const name = objectName(namespace, source);
      const hit = cache.get(name);
      if (hit && opts.now() - hit.at < ttl) return hit.keys;
      if (cache.size >= MAX_OBJECTS) cache.delete(cache.keys().next().value!);
      const entry: { at: number; keys: Promise<TrustedKey[]>; id?: string } = {
        at: opts.now(),
        keys: opts.read(namespace, source).then((data) => {
          if (data === undefined)
            throw new VerifyKeyError(`${name} (image-watcher/verify-key) does not exist`);
          return keysFromData(data, name);
        }),
      };
      entry.keys.then(
        (keys) => (entry.id = keys.map((k) => keyFingerprint(k.key)).join(',')),
        () => cache.delete(name), // asked again next time, not kept as an error
      );
      cache.set(name, entry);
      return entry.keys;
    },
    lastId(namespace, source) {
      return cache.get(objectName(namespace, source))?.id;
    },
  };
}

/** Reads Secrets and ConfigMaps through the API server. */
export function kubeObjectReader(kubeConfig: KubeConfig, timeoutMs = 10_000): ReadObject {
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  return async (namespace, source) => {
    const action = `reading ${objectName(namespace, source)} (verify-key)`;
    try {
      if (source.kind === 'Secret') {
        const s = await withTimeout(
          core.readNamespacedSecret({ name: source.name, namespace }),
          timeoutMs,
          action,
        );
        const out: Record<string, string> = {};
        for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
        return out;
      }
      const c = await withTimeout(
        core.readNamespacedConfigMap({ name: source.name, namespace }),
        timeoutMs,
        action,
      );
      return { ...(c.data ?? {}) };
    } catch (err) {
      if (httpStatusOf(err) === 404) return undefined;
      throw toKubeError(err, action);
    }
  };
}
