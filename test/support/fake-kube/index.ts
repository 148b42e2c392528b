/**
 * A fake Kubernetes API server for tests: the real @kubernetes/client-node talks to it over
 * HTTP. See docs/kube.md for what it serves and its test hooks.
 */
import { FakeKube, type FakeKubeOptions } from './server.ts';

export { FakeKube } from './server.ts';
export type {
  FakeAccessRule,
  FakeKubeOptions,
  FakeUser,
  FaultHandle,
  FaultSpec,
  KubeObject,
  RecordedRequest,
  RequestFilter,
  RolloutMode,
  RolloutPolicy,
} from './server.ts';
export { PATCH_TYPES } from './patch.ts';

/** Starts a fake API server on 127.0.0.1 and a free port. Close it in t.teardown. */
export async function startFakeKube(opts: FakeKubeOptions = {}): Promise<FakeKube> {
  const kube = new FakeKube(opts);
  await kube.listen();
  return kube;
}
