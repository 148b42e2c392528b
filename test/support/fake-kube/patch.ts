import fjp from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';

/** Why a patch could not be applied; `code` is the HTTP status the real API server answers with. */
export class PatchError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RFC 6902. A failed `test` is 422 Unprocessable Entity, as the real API server answers. */
export function applyJsonPatch(doc: JsonObject, ops: unknown): JsonObject {
  if (!Array.isArray(ops)) throw new PatchError(400, 'json patch body must be an array of operations');
  try {
    const result = fjp.applyPatch(structuredClone(doc), ops as Operation[], true, false).newDocument;
    if (!isObject(result)) throw new PatchError(422, 'json patch replaced the whole object');
    return result;
  } catch (err) {
    if (err instanceof PatchError) throw err;
    const e = err as { name?: string; message?: string };
    if (e.name === 'TEST_OPERATION_FAILED') {
      throw new PatchError(
        422,
        `the server rejected our request due to an error in our request: ${e.message ?? ''}`,
      );
    }
    throw new PatchError(422, `json patch could not be applied: ${e.message ?? String(err)}`);
  }
}

/** RFC 7386: objects merge recursively, null deletes, everything else replaces. */
export function applyMergePatch(doc: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: JsonObject = isObject(doc) ? structuredClone(doc) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = applyMergePatch(out[key] ?? null, value);
  }
  return out;
}

/**
 * The merge keys of the lists the watcher and tests touch (the pod template's containers and
 * their env); other lists are replaced whole, like a merge patch.
 */
const MERGE_KEYS: Readonly<Record<string, string>> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  ports: 'containerPort',
  imagePullSecrets: 'name',
};

/** Strategic merge patch, enough of it for pod templates: keyed lists, `$patch: delete|replace`. */
export function applyStrategicMergePatch(doc: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  if (patch.$patch === 'replace') {
    const { $patch: _, ...rest } = patch;
    return structuredClone(rest);
  }
  const out: JsonObject = isObject(doc) ? structuredClone(doc) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) continue;
    if (value === null) {
      delete out[key];
      continue;
    }
    const mergeKey = MERGE_KEYS[key];
    const current = out[key];
    if (mergeKey !== undefined && Array.isArray(value) && (Array.isArray(current) || current === undefined)) {
      out[key] = mergeList(current ?? [], value, mergeKey);
    } else {
      out[key] = applyStrategicMergePatch(current ?? null, value);
    }
  }
  return out;
}

function mergeList(current: Json[], patch: Json[], mergeKey: string): Json[] {
  const out = structuredClone(current);
  for (const item of patch) {
    if (!isObject(item) || item[mergeKey] === undefined) {
      throw new PatchError(422, `strategic merge patch: list items need the merge key '${mergeKey}'`);
    }
    const index = out.findIndex((c) => isObject(c) && c[mergeKey] === item[mergeKey]);
    if (item.$patch === 'delete') {
      if (index >= 0) out.splice(index, 1);
    } else if (index >= 0) {
      out[index] = applyStrategicMergePatch(out[index] ?? null, item);
    } else {
      out.push(applyStrategicMergePatch(null, item));
    }
  }
  return out;
}

export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
} as const;

export function applyPatchByContentType(doc: JsonObject, contentType: string, body: unknown): JsonObject {
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  let result: Json;
  if (type === PATCH_TYPES.json) return applyJsonPatch(doc, body);
  if (type === PATCH_TYPES.merge) result = applyMergePatch(doc, body as Json);
  else if (type === PATCH_TYPES.strategic) result = applyStrategicMergePatch(doc, body as Json);
  else
    throw new PatchError(
      415,
      `the body of the request was in an unknown format - accepted media types include: ${Object.values(PATCH_TYPES).join(', ')}`,
    );
  if (!isObject(result)) throw new PatchError(422, 'patch must be an object');
  return result;
}
