import { PatchConflictError } from '../kube/errors.ts';

/** A JSON Patch `test` failed (422) or the write conflicted (409): the object changed since we read it. */
export function isPatchConflict(err: unknown): err is PatchConflictError {
  return err instanceof PatchConflictError;
}
