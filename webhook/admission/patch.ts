import { MANAGED_KEYS } from '../../shared/annotations.ts';
import type { KubeObject } from './types.ts';

/** One RFC 6902 operation of an annotation patch. */
export type PatchOperation =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: string }
  | { op: 'remove'; path: string };

const ANNOTATION_PATH = '/metadata/annotations/';

/** An RFC 6901 reference token: `~` as `~0`, then `/` as `~1`. */
function escapeToken(key: string): string {
  return key.includes('~') || key.includes('/') ? key.replaceAll('~', '~0').replaceAll('/', '~1') : key;
}

/** The paths of the keys nearly every patch touches (the managed ones), escaped once. */
const MANAGED_PATHS: ReadonlyMap<string, string> = new Map(
  MANAGED_KEYS.map((key) => [key, ANNOTATION_PATH + escapeToken(key)]),
);

function pathOf(key: string): string {
  return MANAGED_PATHS.get(key) ?? ANNOTATION_PATH + escapeToken(key);
}

/**
 * JSONPatch turning the object's annotations into `annotations`. Only `metadata.annotations` is
 * ever touched; when the object has no annotations map the whole map is added, because a JSONPatch
 * cannot add a key under a missing parent. The object's annotations must be strings only (the
 * review checks that first, see annotationsOf).
 *
 * A flat map needs no generic diff: these are fast-json-patch's `compare` operations, in its order
 * (replacements and removals from the last key back, then additions; a property test holds the two
 * equal), at a fraction of its cost on every review (bench/webhook.ts).
 */
export function annotationPatch(
  object: KubeObject,
  annotations: Readonly<Record<string, string>>,
): PatchOperation[] {
  const metadata = object.metadata;
  const current = metadata?.annotations;
  if (current === undefined || current === null || typeof current !== 'object') {
    if (Object.keys(annotations).length === 0) return [];
    if (metadata === undefined || metadata === null || typeof metadata !== 'object') {
      return [{ op: 'add', path: '/metadata', value: { annotations: { ...annotations } } }];
    }
    return [{ op: 'add', path: '/metadata/annotations', value: { ...annotations } }];
  }
  const ops: PatchOperation[] = [];
  const oldKeys = Object.keys(current);
  let removed = false;
  for (let i = oldKeys.length - 1; i >= 0; i--) {
    const key = oldKeys[i]!;
    if (Object.hasOwn(annotations, key)) {
      const value = annotations[key]!;
      if (value !== current[key]) ops.push({ op: 'replace', path: pathOf(key), value });
    } else {
      ops.push({ op: 'remove', path: pathOf(key) });
      removed = true;
    }
  }
  const newKeys = Object.keys(annotations);
  // Without a removal, as many keys as before means no new one.
  if (removed || newKeys.length !== oldKeys.length) {
    for (const key of newKeys) {
      if (!Object.hasOwn(current, key)) {
        ops.push({ op: 'add', path: pathOf(key), value: annotations[key]! });
      }
    }
  }
  return ops;
}

/** The `patch` field of an AdmissionResponse. */
export function encodePatch(ops: readonly PatchOperation[]): string {
  return Buffer.from(JSON.stringify(ops)).toString('base64');
}
