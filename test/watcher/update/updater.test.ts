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
import { applyUpdate } from '../../../watcher/update/updater.ts';

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
