import { pino } from 'pino';
import t from 'tap';
import { parseImageReference } from '../../../shared/image-ref.ts';
import type { Candidate } from '../../../watcher/check/decide.ts';
import { KubeApiError, PatchConflictError } from '../../../watcher/kube/errors.ts';
import type { JsonPatchOp, KubeGateway, WorkloadSnapshot } from '../../../watcher/kube/types.ts';
import type { UpdateResult } from '../../../watcher/metrics.ts';
import { rollBack, writeUpdate } from '../../../watcher/update/updater.ts';
import { snapshotOf } from '../../support/snapshot.ts';

const cand: Candidate = {
  container: 'app',
  imagePath: '/spec/template/spec/containers/0/image',
  image: 'nginx:1.25.0',
  currentVersion: '1.25.0',
  newVersion: '1.25.1',
  newImage: 'nginx:1.25.1',
  change: 'patch',
};
const watched = [
  {
    info: { name: 'app', image: 'nginx:1.25.0', init: false, imagePath: cand.imagePath },
    ref: parseImageReference('nginx:1.25.0'),
  },
];

function snap(image: string, annotations: Record<string, string> = {}): WorkloadSnapshot {
  return snapshotOf({ uid: 'u', resourceVersion: '2', generation: 2, annotations, containers: [image] });
}

function setup(patchResult: Error | WorkloadSnapshot, afterwards: WorkloadSnapshot | Error) {
  const patches: JsonPatchOp[][] = [];
  const events: string[] = [];
  const results: UpdateResult[] = [];
  const gateway: Pick<KubeGateway, 'patchWorkload' | 'getWorkload' | 'createEvent'> = {
    patchWorkload: (_k, _n, _name, ops) => {
      patches.push(ops);
      return patchResult instanceof Error ? Promise.reject(patchResult) : Promise.resolve(patchResult);
    },
    getWorkload: () =>
      afterwards instanceof Error ? Promise.reject(afterwards) : Promise.resolve(afterwards),
    createEvent: (_w, e) => {
      events.push(`${e.type}/${e.reason}`);
      return Promise.resolve();
    },
  };
  const deps = {
    gateway,
    metrics: { observeUpdate: (_w: unknown, r: UpdateResult) => results.push(r) },
    logger: pino({ level: 'silent' }),
    now: () => new Date('2026-11-23T10:00:00Z'),
    rolloutTimeoutMs: 600_000,
  };
  return { deps, patches, events, results };
}

const input = { snapshot: snap('nginx:1.25.0'), candidates: [cand], watched };
const recorded = snap('nginx:1.25.1', { 'image-watcher/rollout': '{"deadline":"..."}' });

t.test('the update patch writes the image and the rollout record together', async (t) => {
  const s = setup(recorded, recorded);
  const out = await writeUpdate(s.deps, input);
  t.equal(out.result, 'patched');
  const ops = s.patches[0]!;
  t.ok(ops.some((o) => o.op === 'replace' && o.path === cand.imagePath && o.value === 'nginx:1.25.1'));
  const rec = ops.find((o) => o.path === '/metadata/annotations/image-watcher~1rollout');
  t.match(JSON.parse(rec?.value as string), {
    deadline: '2026-11-23T10:10:00Z',
    changes: [{ newVersion: '1.25.1' }],
  });
  t.same(s.events, ['Normal/ImageUpdated']);
});

t.test('a concurrent edit of the image is a conflict: nothing counted', async (t) => {
  const s = setup(new PatchConflictError('test failed'), input.snapshot);
  t.same(await writeUpdate(s.deps, input), { result: 'conflict' });
  t.same(s.results, []);
});

t.test('a lost answer to an applied patch counts as patched (its rollout is watched)', async (t) => {
  const s = setup(new KubeApiError('E_KUBE_UNAVAILABLE', 'no answer within 30000 ms', undefined), recorded);
  const out = await writeUpdate(s.deps, input);
  t.match(out, { result: 'patched', snapshot: { resourceVersion: '2' } });
  t.same(s.results, [], 'not counted as failed');
});

t.test('a patch that was not applied is a failure', async (t) => {
  const s = setup(new KubeApiError('E_KUBE_FORBIDDEN', 'forbidden', 403), input.snapshot);
  t.match(await writeUpdate(s.deps, input), { result: 'failed', reason: /forbidden/ });
  t.same(s.results, ['failed']);
});

t.test(
  'an unanswered patch not (yet) visible is retried through the queue, not reported failed',
  async (t) => {
    const s = setup(new KubeApiError('E_KUBE_UNAVAILABLE', 'timeout', undefined), input.snapshot);
    await t.rejects(writeUpdate(s.deps, input), { code: 'E_KUBE_UNAVAILABLE' });
    t.same(s.results, []);
  },
);

t.test('when the object cannot be read back either, the error goes to the queue (retried)', async (t) => {
  const s = setup(
    new KubeApiError('E_KUBE_UNAVAILABLE', 'timeout', undefined),
    new KubeApiError('E_KUBE_UNAVAILABLE', 'timeout', undefined),
  );
  await t.rejects(writeUpdate(s.deps, input), { code: 'E_KUBE_UNAVAILABLE' });
});

t.test('the rollback puts the old image back guarded by ours and records the failure', async (t) => {
  const s = setup(input.snapshot, input.snapshot);
  await rollBack(s.deps, recorded, [cand], ['app']);
  const ops = s.patches[0]!;
  t.match(ops, [
    { op: 'test', path: cand.imagePath, value: 'nginx:1.25.1' },
    { op: 'replace', path: cand.imagePath, value: 'nginx:1.25.0' },
  ]);
  t.ok(ops.some((o) => o.path.endsWith('last-failed-version') && o.value === '1.25.1'));
  t.ok(ops.some((o) => o.op === 'remove' && o.path.endsWith('rollout')));
});
