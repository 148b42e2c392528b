import t from 'tap';
import type { PendingRollout } from '../../../shared/pending-rollout.ts';
import type { RolloutFields, WorkloadKind } from '../../../watcher/kube/types.ts';
import { evaluateRollout, judgeRollout } from '../../../watcher/update/rollout.ts';

type RolloutStatus = RolloutFields;

function status(over: Partial<RolloutStatus> = {}): RolloutStatus {
  return {
    generation: 2,
    observedGeneration: 2,
    replicas: 3,
    updatedReplicas: 3,
    availableReplicas: 3,
    readyReplicas: 3,
    conditions: [],
    ...over,
  };
}

const deadline = {
  type: 'Progressing',
  status: 'False',
  reason: 'ProgressDeadlineExceeded',
  message: 'ReplicaSet "web-2" has timed out progressing.',
};

t.test('evaluateRollout follows kubectl rollout status', (t) => {
  const cases: { name: string; kind: WorkloadKind; s: RolloutStatus; want: string }[] = [
    {
      name: 'a Deployment fully updated and available is complete',
      kind: 'Deployment',
      s: status(),
      want: 'complete',
    },
    {
      name: 'an old observedGeneration is still progressing',
      kind: 'Deployment',
      s: status({ observedGeneration: 1 }),
      want: 'progressing',
    },
    {
      name: 'a missing observedGeneration is still progressing',
      kind: 'Deployment',
      s: status({ observedGeneration: undefined }),
      want: 'progressing',
    },
    {
      name: 'replicas not all updated is progressing',
      kind: 'Deployment',
      s: status({ updatedReplicas: 2 }),
      want: 'progressing',
    },
    {
      name: 'replicas updated but not available is progressing',
      kind: 'Deployment',
      s: status({ availableReplicas: 1 }),
      want: 'progressing',
    },
    {
      name: 'ProgressDeadlineExceeded has failed',
      kind: 'Deployment',
      s: status({ updatedReplicas: 1, conditions: [deadline] }),
      want: 'failed',
    },
    {
      name: 'Progressing=True is not a failure',
      kind: 'Deployment',
      s: status({
        updatedReplicas: 1,
        conditions: [{ type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated' }],
      }),
      want: 'progressing',
    },
    {
      name: 'a StatefulSet with revisions still differing is progressing',
      kind: 'StatefulSet',
      s: status({ currentRevision: 'a', updateRevision: 'b' }),
      want: 'progressing',
    },
    {
      name: 'a StatefulSet on its update revision is complete',
      kind: 'StatefulSet',
      s: status({ currentRevision: 'b', updateRevision: 'b' }),
      want: 'complete',
    },
    {
      name: 'a StatefulSet with a partition is complete once the pods above it are updated',
      kind: 'StatefulSet',
      s: status({
        replicas: 5,
        availableReplicas: 5,
        partition: 3,
        updatedReplicas: 2,
        currentRevision: 'a',
        updateRevision: 'b',
      }),
      want: 'complete',
    },
    {
      name: 'a StatefulSet with a partition is progressing while those pods are not updated',
      kind: 'StatefulSet',
      s: status({
        replicas: 5,
        availableReplicas: 5,
        partition: 3,
        updatedReplicas: 1,
        currentRevision: 'a',
        updateRevision: 'b',
      }),
      want: 'progressing',
    },
    {
      name: 'a StatefulSet whose counts are reached but pods run the old revision is progressing',
      kind: 'StatefulSet',
      s: status({
        replicas: 2,
        updatedReplicas: 2,
        availableReplicas: 2,
        currentRevision: 'web-1',
        updateRevision: 'web-2',
      }),
      want: 'progressing',
    },
    {
      name: 'a DaemonSet with every scheduled pod updated and available is complete',
      kind: 'DaemonSet',
      s: status({ replicas: 5, updatedReplicas: 5, availableReplicas: 5 }),
      want: 'complete',
    },
    {
      name: 'a DaemonSet with a pod left is progressing',
      kind: 'DaemonSet',
      s: status({ replicas: 5, updatedReplicas: 4, availableReplicas: 5 }),
      want: 'progressing',
    },
    {
      name: 'a CronJob has nothing to wait for',
      kind: 'CronJob',
      s: status({ observedGeneration: undefined }),
      want: 'complete',
    },
    {
      name: 'zero replicas is complete at once',
      kind: 'Deployment',
      s: status({ replicas: 0, updatedReplicas: undefined, availableReplicas: undefined }),
      want: 'complete',
    },
  ];
  for (const c of cases) t.equal(evaluateRollout(c.kind, 2, c.s).status, c.want, c.name);
  t.end();
});

const record: PendingRollout = {
  deadline: '2026-11-23T10:10:00Z',
  changes: [
    {
      container: 'app',
      imagePath: '/spec/template/spec/containers/0/image',
      image: 'nginx:1.25.0',
      newImage: 'nginx:1.25.1',
      currentVersion: '1.25.0',
      newVersion: '1.25.1',
      change: 'patch',
    },
  ],
};
const NOW = Date.parse('2026-11-23T10:00:00Z');
const containers = (image: string) => [
  { name: 'app', image, init: false, imagePath: '/spec/template/spec/containers/0/image' },
];

t.test('judgeRollout decides from the record and the status alone', (t) => {
  const cases: {
    name: string;
    kind?: WorkloadKind;
    image?: string;
    s: RolloutStatus;
    now?: number;
    want: ReturnType<typeof judgeRollout>;
  }[] = [
    { name: 'complete clears the record', s: status(), want: { kind: 'complete' } },
    {
      name: 'in progress looks again after the poll interval',
      s: status({ updatedReplicas: 1 }),
      want: { kind: 'wait', reason: '1 of 3 replicas updated', requeueAfterMs: 5000 },
    },
    {
      name: 'in progress close to the deadline looks again at the deadline',
      s: status({ updatedReplicas: 1 }),
      now: Date.parse('2026-11-23T10:09:58Z'),
      want: { kind: 'wait', reason: '1 of 3 replicas updated', requeueAfterMs: 2000 },
    },
    {
      name: 'past the deadline rolls back',
      s: status({ updatedReplicas: 1 }),
      now: Date.parse('2026-11-23T10:10:00Z'),
      want: { kind: 'rollback', reason: 'rollout did not finish in time: 1 of 3 replicas updated' },
    },
    {
      name: 'a progress deadline rolls back at once',
      s: status({ updatedReplicas: 1, conditions: [deadline] }),
      want: { kind: 'rollback', reason: deadline.message },
    },
    {
      name: 'images changed by someone else: the record is no longer ours',
      image: 'nginx:1.27.0',
      s: status({ updatedReplicas: 1 }),
      want: { kind: 'superseded' },
    },
    {
      name: 'a CronJob is complete as soon as the update is written (its next Job runs it)',
      kind: 'CronJob',
      s: status({ observedGeneration: undefined }),
      want: { kind: 'complete' },
    },
  ];
  for (const c of cases) {
    const w = {
      kind: c.kind ?? 'Deployment',
      containers: containers(c.image ?? 'nginx:1.25.1'),
      rollout: c.s,
    };
    t.same(judgeRollout(w, record, c.now ?? NOW, 5000), c.want, c.name);
  }
  t.end();
});
