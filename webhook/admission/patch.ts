import fjp from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import type { KubeObject } from './types.ts';

/**
 * JSONPatch turning the object's annotations into `annotations`. Only `metadata.annotations` is
 * ever touched. `compare` escapes `/` in keys as `~1`; when the object has no annotations map the
 * whole map is added, because a JSONPatch cannot add a key under a missing parent.
 */
export function annotationPatch(
  object: KubeObject,
  annotations: Readonly<Record<string, string>>,
): Operation[] {
  const metadata = object.metadata;
  const current = metadata?.annotations;
  if (current === undefined || current === null || typeof current !== 'object') {
    if (Object.keys(annotations).length === 0) return [];
    if (metadata === undefined || metadata === null || typeof metadata !== 'object') {
      return [{ op: 'add', path: '/metadata', value: { annotations: { ...annotations } } }];
    }
    return [{ op: 'add', path: '/metadata/annotations', value: { ...annotations } }];
  }
  const ops = fjp.compare({ a: current }, { a: annotations });
  // The ops are fresh: re-rooted in place (no `{ ...op }` copy, see review.ts on Node 20 spreads).
  for (const op of ops) op.path = `/metadata/annotations${op.path.slice('/a'.length)}`;
  return ops;
}

/** The `patch` field of an AdmissionResponse. */
export function encodePatch(ops: readonly Operation[]): string {
  return Buffer.from(JSON.stringify(ops)).toString('base64');
}
