import { pino } from 'pino';
import t from 'tap';
import { parseImageReference } from '../../../shared/image-ref.ts';
import type { Candidate } from '../../../watcher/check/decide.ts';
import { PatchConflictError } from '../../../watcher/kube/errors.ts';
import type {
  JsonPatchOp,
  KubeGateway,
  RolloutFields,
  WorkloadSnapshot,
} from '../../../watcher/kube/types.ts';
import type { UpdateResult } from '../../../watcher/metrics.ts';
import type { UpdateNotice } from '../../../watcher/notify/types.ts';
import type { UpdaterDeps } from '../../../watcher/update/updater.ts';
import { applyUpdate, resumeRollout } from '../../../watcher/update/updater.ts';

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

function snap(rollout: Partial<RolloutFields> = {}): WorkloadSnapshot {
  return {
    kind: 'Deployment',
    namespace: 'shop',
    name: 'web',
    uid: 'u',
    resourceVersion: '2',
    annotations: {},
    hasAnnotations: true,
    containers: [{ name: 'app', image: 'nginx:1.25.1', init: false, imagePath: cand.imagePath }],
    imagePullSecrets: [],
    serviceAccountName: 'default',
    rollout: {
      generation: 2,
      observedGeneration: 2,
      replicas: 1,
      updatedReplicas: 0,
      availableReplicas: 1,
      readyReplicas: 1,
      conditions: [],
      ...rollout,
    },
  };
}

function setup(
  patchResults: (Error | WorkloadSnapshot)[],
  rollout: Partial<RolloutFields>,
  signal?: AbortSignal,
) {
  const patches: JsonPatchOp[][] = [];
  const events: string[] = [];
  const results: UpdateResult[] = [];
  const notices: UpdateNotice[] = [];
  const gateway: Pick<KubeGateway, 'patchWorkload' | 'getWorkload' | 'createEvent'> = {
    patchWorkload: (_k, _n, _name, ops) => {
      patches.push(ops);
      const r = patchResults.shift();
      return r instanceof Error ? Promise.reject(r) : Promise.resolve(r ?? snap());
    },
    getWorkload: () => Promise.resolve(snap(rollout)),
    createEvent: (_w, e) => {
      events.push(`${e.type}/${e.reason}`);
      return Promise.resolve();
    },
  };
  let now = 0;
  const deps: UpdaterDeps = {
    gateway,
    metrics: { observeUpdate: (_w, r) => results.push(r) },
    notify: (n) => {
      notices.push(...n);
      return Promise.resolve();
    },
    logger: pino({ level: 'silent' }),
    now: () => new Date(now),
    sleep: (ms) => {
      now += ms;
      return Promise.resolve();
    },
    rolloutTimeoutMs: 10_000,
    rolloutPollMs: 1000,
    ...(signal ? { signal } : {}),
  };
  return { deps, patches, events, results, notices };
}

const input = {
  snapshot: { ...snap(), containers: watched.map((w) => w.info) },
  candidates: [cand],
  watched,
};

t.test('a concurrent edit of the image is a conflict: nothing counted, nothing sent', async (t) => {
  const s = setup([new PatchConflictError('test failed')], {});
  t.same(await applyUpdate(s.deps, input), { result: 'conflict' });
  t.same(s.results, []);
  t.same(s.notices, []);
});

t.test('a rollback that fails too is counted as failed with a Warning event', async (t) => {
  const s = setup([snap(), new PatchConflictError('image changed')], {
    conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }],
  });
  const out = await applyUpdate(s.deps, input);
  t.match(out, { result: 'failed', reason: /rollback failed: the image was changed by someone else/ });
  t.same(s.results, ['failed']);
  t.same(s.events, ['Normal/ImageUpdated', 'Warning/UpdateFailed']);
  t.match(s.notices, [{ event: 'failed', newVersion: '1.25.1' }]);
  t.equal(s.patches.length, 2);
});

t.test('a rollout that never finishes is rolled back at the timeout', async (t) => {
  const s = setup([snap(), snap()], {});
  const out = await applyUpdate(s.deps, input);
  t.match(out, { result: 'rolled_back', reason: /did not finish within 10s/ });
  t.same(s.results, ['rolled_back']);
  t.match(s.patches[1], [
    { op: 'test', value: 'nginx:1.25.1' },
    { op: 'replace', value: 'nginx:1.25.0' },
  ]);
});

t.test('stopping during a rollout leaves it alone instead of rolling back', async (t) => {
  const ac = new AbortController();
  ac.abort();
  const s = setup([snap()], {}, ac.signal);
  t.same(await applyUpdate(s.deps, input), { result: 'interrupted' });
  t.equal(s.patches.length, 1, 'no rollback patch');
  t.same(s.results, []);
});

t.test('a patch that fails for another reason is counted as failed', async (t) => {
  const s = setup([new Error('API server unavailable')], {});
  t.match(await applyUpdate(s.deps, input), { result: 'failed', reason: /unavailable/ });
  t.same(s.results, ['failed']);
  t.match(s.notices, [{ event: 'failed' }]);
});

t.test('the update patch records the pending rollout; success clears it', async (t) => {
  const pendingValue = JSON.stringify({ deadline: '1970-01-01T00:00:10Z', changes: [cand] });
  const done = { ...snap({ updatedReplicas: 1 }), annotations: { 'image-watcher/rollout': pendingValue } };
  const s = setup([done, done], { updatedReplicas: 1 });
  s.deps.gateway.getWorkload = () => Promise.resolve(done);
  t.match(await applyUpdate(s.deps, input), { result: 'success' });
  const record = s.patches[0]?.find((o) => o.path === '/metadata/annotations/image-watcher~1rollout');
  t.match(JSON.parse(String(record?.value)), { deadline: '1970-01-01T00:00:10Z', changes: [cand] });
  t.same(s.patches[1], [
    { op: 'test', path: '/metadata/annotations/image-watcher~1rollout', value: pendingValue },
    { op: 'remove', path: '/metadata/annotations/image-watcher~1rollout' },
  ]);
  t.same(s.results, ['success']);
});

t.test('resumeRollout finishes what another replica started', async (t) => {
  const pending = (deadlineSeconds: number, image = 'nginx:1.25.1') => ({
    ...snap(),
    containers: [{ name: 'app', image, init: false, imagePath: cand.imagePath }],
    annotations: {
      'image-watcher/rollout': JSON.stringify({
        deadline: new Date(deadlineSeconds * 1000).toISOString(),
        changes: [cand],
      }),
    },
  });
  const failing = {
    conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }],
  };

  await t.test('a rollout that completes: record cleared, success counted and announced', async (t) => {
    const s = setup([snap()], { updatedReplicas: 1 });
    const w = pending(10);
    s.deps.gateway.getWorkload = () =>
      Promise.resolve({ ...w, rollout: { ...w.rollout, updatedReplicas: 1 } });
    t.match(await resumeRollout(s.deps, w, ['app']), { result: 'success' });
    t.equal(s.patches.length, 1);
    t.match(s.patches[0], [{ op: 'test' }, { op: 'remove', path: /rollout$/ }]);
    t.same(s.results, ['success']);
    t.match(s.notices, [{ event: 'updated', currentVersion: '1.25.0', newVersion: '1.25.1' }]);
  });

  await t.test('a rollout that fails: rolled back with the recorded images', async (t) => {
    const s = setup([snap()], failing);
    const w = pending(10);
    s.deps.gateway.getWorkload = () => Promise.resolve({ ...w, rollout: { ...w.rollout, ...failing } });
    t.match(await resumeRollout(s.deps, w, ['app']), { result: 'rolled_back' });
    t.match(s.patches[0], [
      { op: 'test', path: cand.imagePath, value: 'nginx:1.25.1' },
      { op: 'replace', path: cand.imagePath, value: 'nginx:1.25.0' },
    ]);
    t.ok(
      s.patches[0]?.some((o) => o.op === 'remove' && o.path.endsWith('rollout')),
      'the rollback clears the record',
    );
    t.same(s.results, ['rolled_back']);
    t.same(s.events, ['Warning/UpdateRolledBack']);
  });

  await t.test('past its deadline and still progressing: rolled back at once', async (t) => {
    const s = setup([snap()], {});
    const w = pending(0);
    s.deps.gateway.getWorkload = () => Promise.resolve(w);
    t.match(await resumeRollout(s.deps, w, ['app']), { result: 'rolled_back', reason: /within 0s/ });
  });

  await t.test('images changed since the update: record dropped, nothing rolled back', async (t) => {
    const s = setup([snap()], {});
    t.equal(await resumeRollout(s.deps, pending(10, 'nginx:1.24.0'), ['app']), undefined);
    t.equal(s.patches.length, 1);
    t.match(s.patches[0], [{ op: 'test' }, { op: 'remove', path: /rollout$/ }]);
    t.same(s.results, []);
    t.same(s.notices, []);
  });

  await t.test('an unreadable record is dropped; no record, nothing to do', async (t) => {
    const s = setup([snap()], {});
    const w = { ...snap(), annotations: { 'image-watcher/rollout': '{oops' } };
    t.equal(await resumeRollout(s.deps, w, ['app']), undefined);
    t.match(s.patches, [[{ op: 'test', value: '{oops' }, { op: 'remove' }]]);
    t.equal(await resumeRollout(s.deps, snap(), ['app']), undefined);
    t.equal(s.patches.length, 1);
  });

  await t.test('stopping while resuming leaves the record for the next leader', async (t) => {
    const ac = new AbortController();
    ac.abort();
    const s = setup([snap()], {}, ac.signal);
    t.same(await resumeRollout(s.deps, pending(10), ['app']), { result: 'interrupted' });
    t.same(s.patches, []);
  });
});
